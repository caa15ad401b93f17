import pytest

from monitor.urls import InvalidURL, hoster_of, hoster_or_host, normalise


@pytest.mark.parametrize(
    "spellings",
    [
        ["http://example.com/a", "HTTP://EXAMPLE.COM/a", "http://example.com:80/a", "http://example.com/a#top",
         "  http://Example.com./a  "],
        ["https://example.com/", "https://example.com", "https://example.com:443", "HTTPS://example.com#x"],
        ["https://xn--bcher-kva.de/x", "https://Bücher.de/x", "https://BÜCHER.DE/x"],
        ["http://[2001:db8::1]/", "http://[2001:DB8:0::1]:80/"],
        ["http://example.com/?q=1", "http://example.com?q=1"],
    ],
)
def test_spellings_of_one_url_normalise_alike(spellings):
    assert len({normalise(s).url for s in spellings}) == 1


def test_normalised_form():
    assert normalise("HTTPS://Bücher.de:8443/Pfad/Bild.JPG?Q=A#frag").url == "https://xn--bcher-kva.de:8443/Pfad/Bild.JPG?Q=A"
    assert normalise("http://[2001:DB8::1]:8080/x").url == "http://[2001:db8::1]:8080/x"
    assert normalise("http://192.0.2.1:80/").host == "192.0.2.1"
    assert normalise("http://user@Example.com/").url == "http://user@example.com/"


@pytest.mark.parametrize(
    "host, hoster",
    [
        ("x.delta.blogspot.com", "delta.blogspot.com"),  # PSL private section
        ("i.gamma.co.uk", "gamma.co.uk"),
        ("gamma.co.uk", "gamma.co.uk"),
        ("a.b.c.example.com", "example.com"),
        ("img.user.github.io", "user.github.io"),
        ("cdn.host.unknowntld", "host.unknowntld"),  # PSL default rule: unlisted TLD is a suffix
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_hoster_identity(host, hoster):
    assert hoster_of(host) == hoster


def test_hoster_or_host_accepts_what_a_user_types():
    assert hoster_or_host("http://x.Delta.blogspot.com/p") == "delta.blogspot.com"
    assert hoster_or_host("I.Gamma.co.uk") == "gamma.co.uk"
    assert hoster_or_host("[2001:DB8::1]") == "2001:db8::1"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "empty"),
        ("example.com/x", "not a URL"),
        ("just words", "white space"),
        ("ftp://example.com/x", "scheme 'ftp' is not http or https"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("http:///path", "no host"),
        ("http://:80/", "no host"),
        ("http://exa_mple..com/", "not a valid DNS name"),
        ("http://-bad.com/", "not a valid DNS name"),
        ("http://" + "a" * 64 + ".com/", "not a valid DNS name"),
        ("http://1.2.3/", "neither a valid IP address nor a DNS name"),
        ("http://256.1.1.1/", "neither a valid IP address nor a DNS name"),
        ("http://[2001:db8::zz]/", "not an IPv6 address"),
        ("http://example.com:99999/", "port"),
        ("http://example.com:8o/", "port"),
        ("http://localhost/", "no dot"),
        ("http://exa%41mple.com/", "not a valid DNS name"),
        ("http://example.com/" + "a" * 8200, "longer than 8192 bytes"),
    ],
)
def test_rejection_reasons(raw, reason):
    with pytest.raises(InvalidURL, match=reason):
        normalise(raw)


def test_url_of_exactly_the_limit_is_accepted():
    prefix = "http://example.com/"
    assert normalise(prefix + "a" * (8192 - len(prefix))).host == "example.com"


def test_a_port_in_other_digits_is_rejected_not_a_crash():
    with pytest.raises(InvalidURL, match="port"):
        normalise("http://example.com:\u00b2/")
