import re

import pytest

from monitor.urls import InvalidURL, canonical_host, hoster_of, hoster_or_host, normalise


@pytest.mark.parametrize(
    "spellings",
    [
        ["http://example.com/a", "HTTP://EXAMPLE.COM/a", "http://example.com:80/a", "http://example.com/a#top",
         "  http://Example.com./a  "],
        ["https://example.com/", "https://example.com", "https://example.com:443", "HTTPS://example.com#x"],
        ["https://xn--bcher-kva.de/x", "https://Bücher.de/x", "https://BÜCHER.DE/x"],
        ["http://[2001:db8::1]/", "http://[2001:DB8:0::1]:80/"],
        ["http://example.com/?q=1", "http://example.com?q=1"],
        # As browsers read them (the WHATWG URL standard):
        ["http://example.com/b", "http://example.com/a/../b", "http://example.com/./b", "http:\\\\example.com\\b",
         "http:example.com/b", "http://example.com:0080/b", "http://EXA%4dPLE.com/b"],
        ["http://example.com/%C3%A4", "http://example.com/ä"],
        ["http://127.0.0.1/", "http://0x7f.0.0.0x1/", "http://0177.0.0.1/", "http://127.1/", "http://2130706433/",
         "http://0x7f000001/", "http://127.0.0.1./"],
        ["http://example.com/", "http://@example.com/", "http://:@example.com/"],
    ],
)
def test_spellings_of_one_url_normalise_alike(spellings):
    assert len({normalise(s).url for s in spellings}) == 1


def test_normalised_form():
    assert normalise("HTTPS://Bücher.de:8443/Pfad/Bild.JPG?Q=A#frag").url == "https://xn--bcher-kva.de:8443/Pfad/Bild.JPG?Q=A"
    assert normalise("http://[2001:DB8::1]:8080/x").url == "http://[2001:db8::1]:8080/x"
    assert normalise("http://192.0.2.1:80/").host == "192.0.2.1"
    assert normalise("http://user@Example.com/").url == "http://user@example.com/"
    assert normalise("https://Example.com:8443/a").port == 8443
    assert normalise("https://Example.com:443/a?q").port is None
    assert normalise("https://Example.com/a/./b/../c?q").path == "/a/c"


@pytest.mark.parametrize(
    "raw, url, host, hoster",
    [
        # The example: the backslash ends the authority, so a browser contacts evil.example.
        ("http://evil.example\\@good.example/x", "http://evil.example/@good.example/x", "evil.example", "evil.example"),
        ("http://good.example@evil.example/x", "http://good.example@evil.example/x", "evil.example", "evil.example"),
        ("http://a@b@img.evil.example/", "http://a%40b@img.evil.example/", "img.evil.example", "evil.example"),
        ("http://u:p:w@evil.example/", "http://u:p%3Aw@evil.example/", "evil.example", "evil.example"),
        ("http://0x7f.0.0.0x1/", "http://127.0.0.1/", "127.0.0.1", "127.0.0.1"),
        ("http://0300.0250.0.1:8080/", "http://192.168.0.1:8080/", "192.168.0.1", "192.168.0.1"),
        ("http://1.2.3/", "http://1.2.0.3/", "1.2.0.3", "1.2.0.3"),
        ("http://[0:0::FFFF:1.2.3.4]/", "http://[::ffff:102:304]/", "::ffff:102:304", "::ffff:102:304"),
        ("http://%65vil.example/", "http://evil.example/", "evil.example", "evil.example"),
        ("http://ex\u00adample.com/", "http://example.com/", "example.com", "example.com"),  # soft hyphen: ignored
        ("http://-bad.example.com/", "http://-bad.example.com/", "-bad.example.com", "example.com"),
        ("http://i.gamma.co.uk./", "http://i.gamma.co.uk/", "i.gamma.co.uk", "gamma.co.uk"),
    ],
)
def test_the_host_a_browser_would_contact(raw, url, host, hoster):
    reported = normalise(raw)
    assert (reported.url, reported.host, reported.hoster) == (url, host, hoster)


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
    assert hoster_or_host("0x7f.0.0.1") == "127.0.0.1"
    assert canonical_host("Bücher.DE.") == "xn--bcher-kva.de"
    assert canonical_host("2001:DB8::1") == "2001:db8::1"


@pytest.mark.parametrize("text, reason", [
    ("localhost", "no dot"),
    ("example.com:80", "not an IPv6 address"),
    ("[::1]:80", "a host and a port"),
    ("user@example.com", "not a host name"),
    ("example.com/x", "not a host name"),
    ("xn--a.example", "not the punycode"),
])
def test_canonical_host_refuses_what_is_no_host(text, reason):
    with pytest.raises(InvalidURL, match=re.escape(reason)):
        canonical_host(text)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "empty"),
        ("example.com/x", "not a URL"),
        ("just words", "white space"),
        ("ftp://example.com/x", "scheme 'ftp' is not http or https"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("http:///path", "host 'path' has no dot"),  # a browser skips the third slash
        ("http://:80/", "no host"),
        ("http://user@/", "no host"),
        ("http://exa_mple..com/", "has an empty label"),
        ("http://.example.com/", "has an empty label"),
        ("http://" + "a" * 64 + ".com/", "longer than DNS allows"),
        ("http://" + "a." * 127 + "com/", "longer than DNS allows"),
        ("http://256.1.1.1/", "neither a valid IPv4 address nor a domain name"),
        ("http://1.2.3.4.5/", "neither a valid IPv4 address nor a domain name"),
        ("http://example.0x10/", "neither a valid IPv4 address nor a domain name"),
        ("http://[2001:db8::zz]/", "not an IPv6 address"),
        ("http://[fe80::1%25eth0]/", "zone identifier"),
        ("http://[fe80::1%eth0]/", "zone identifier"),
        ("http://example.com:99999/", "port"),
        ("http://example.com:8o/", "port"),
        ("http://localhost/", "no dot"),
        ("http://com./", "no dot"),
        ("http://%zz.example.com/", "percent-encoding"),
        ("http://%00.example.com/", "percent-encoding"),
        ("http://a<b.example.com/", "not a valid host name"),
        ("http://xn--a.com/", "'xn--a' is not the punycode of a valid international name"),
        ("http://xn--.com/", "not the punycode"),
        ("http://xn--zz-.com/", "not the punycode"),  # decodes to ASCII
        ("http://a.b.c.xn--pokxncvks/", "not the punycode"),  # decodes to mapped (not valid) characters
        ("http://ex\u3000ample.com/", "white space"),
        ("http://example.com/a\u00a0b", "white space"),
        ("http://example.com/a\tb", "white space"),
        ("http://example.com/\ud800", "not a valid host name|not a URL"),
        ("http://example.com/" + "a" * 8200, "longer than 8192 bytes"),
        ("http://example.com/" + "ä" * 3000, "longer than 8192 bytes once normalised"),
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
