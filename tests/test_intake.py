import os
import signal
import subprocess
import sys

import pytest

from monitor.errors import InputError
from monitor.intake import add_urls, import_file
from monitor.store import open_store


def do_import(db, path):
    rejected = []
    return import_file(db, path, rejected.append), rejected


def urls(db):
    return [row[0] for row in db.execute("SELECT url FROM urls ORDER BY url")]


def test_text_file_with_comments_blank_lines_crlf_and_bom(db, tmp_path):
    path = tmp_path / "reports.txt"
    path.write_bytes(
        b"\xef\xbb\xbf# reports of 2026-11-27\r\n\r\nhttp://Example.com/a\r\n  https://x.delta.blogspot.com/p?id=1  \r\n"
        b"http://example.com:80/a#same\r\n# http://commented.example/\r\nhttp://[2001:DB8::1]/v6\n"
    )
    result, rejected = do_import(db, path)
    assert (result.added, result.known, result.rejected) == (3, 1, 0)
    assert rejected == []
    assert urls(db) == ["http://[2001:db8::1]/v6", "http://example.com/a", "https://x.delta.blogspot.com/p?id=1"]
    hosters = dict(db.execute("SELECT u.url, h.name FROM urls u JOIN hosters h ON h.id = u.hoster_id"))
    assert hosters["https://x.delta.blogspot.com/p?id=1"] == "delta.blogspot.com"
    assert hosters["http://[2001:db8::1]/v6"] == "2001:db8::1"
    assert db.execute("SELECT DISTINCT source FROM urls").fetchall() == [("reports.txt",)]


def test_every_bad_line_is_named_with_its_number_and_reason(db, tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_text(
        "http://good.example.com/1\n"
        "ftp://files.example.com/x\n"
        "not a url\n"
        "http:///nohost\n"
        "http://bad..name.com/\n"
        "http://good.example.com/2\n"
        "http://toolong.example.com/" + "x" * 9000 + "\n"
        "https://[fe80::zz]/\n"
        "www.example.com/noscheme\n"
    )
    result, rejected = do_import(db, path)
    assert (result.added, result.known, result.rejected) == (2, 0, 7)
    assert [r.line for r in rejected] == [2, 3, 4, 5, 7, 8, 9]
    assert all(r.where == str(path) for r in rejected)
    reasons = [r.reason for r in rejected]
    assert "scheme 'ftp' is not http or https" in reasons[0]
    assert "white space" in reasons[1]
    assert reasons[2] == "host 'nohost' has no dot: not a public DNS name"  # a browser skips the third slash
    assert "has an empty label" in reasons[3]
    assert "longer than 8192 bytes" in reasons[4]
    assert "not an IPv6 address" in reasons[5]
    assert "not a URL" in reasons[6]
    assert str(rejected[0]) == f"{path}:2: scheme 'ftp' is not http or https: ftp://files.example.com/x"


def test_reimporting_a_file_adds_nothing(db, tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("http://a.example.com/\nhttp://b.example.com/\n")
    do_import(db, path)
    result, _ = do_import(db, path)
    assert (result.added, result.known) == (0, 2)
    assert db.execute("SELECT COUNT(*) FROM urls").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM hosters").fetchone()[0] == 1


@pytest.mark.parametrize(
    "content",
    [
        "url,reported_at,reference,source\nhttp://A.example.com/1,2024-03-01,R-1,partner\n",
        # any column order and case; other columns ignored; a time zone converted to UTC
        'Reference,URL,extra,Reported_At\r\nR-1,http://a.example.com/1,ignored,"2024-03-01T10:00:00+02:00"\r\n',
    ],
)
def test_csv_columns(db, tmp_path, content):
    path = tmp_path / "reports.csv"
    path.write_bytes(content.encode())
    result, rejected = do_import(db, path)
    assert result.added == 1, rejected
    row = db.execute("SELECT url, reference, reported_at, source FROM urls").fetchone()
    assert row[0] == "http://a.example.com/1"
    assert row[1] == "R-1"
    assert row[2] in ("2024-03-01T00:00:00Z", "2024-03-01T08:00:00Z")
    assert row[3] in ("partner", "reports.csv")


def test_csv_quoted_fields_bad_dates_and_empty_cells(db, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        'url,reported_at,reference\n'
        '"http://a.example.com/x,y",2024-01-01,"multi\nline"\n'
        "http://b.example.com/,yesterday,R2\n"
        ",2024-01-01,R3\n"
        "\n"
        "http://c.example.com/\n"  # short row: missing cells are empty
    )
    result, rejected = do_import(db, path)
    assert (result.added, result.rejected) == (2, 2)
    assert [(r.line, r.reason) for r in rejected] == [
        (4, "reported_at 'yesterday' is not a date (use YYYY-MM-DD or ISO 8601)"),
        (5, "no URL (empty)"),
    ]
    assert db.execute("SELECT reference FROM urls WHERE url LIKE '%x,y'").fetchone()[0] == "multi\nline"


def rows(db):
    return [tuple(r) for r in db.execute("SELECT url, reported_at, reference, source FROM urls ORDER BY url")]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_csv_separated_by_semicolons_or_tabs(db, tmp_path, delimiter):
    """What spreadsheets write where the comma is the decimal mark, or when exporting text:
    quoted cells may hold the delimiter, a doubled quote and a line break."""
    d = delimiter
    path = tmp_path / "export.csv"
    path.write_text(
        f'Reference{d}"URL"{d}reported_at{d}note\n'
        f'"R-1{d} part 2"{d}"http://a.example.com/x?q=1,2"{d}2024-03-01{d}"said ""hi""{d}\nthen left"\n'
        f'R-2{d}http://b.example.com/{d}"2024-03-02T10:00:00+01:00"{d}\n'
    )
    result, rejected = do_import(db, path)
    assert (result.added, result.rejected) == (2, 0), rejected
    assert rows(db) == [
        ("http://a.example.com/x?q=1,2", "2024-03-01T00:00:00Z", f"R-1{d} part 2", "export.csv"),
        ("http://b.example.com/", "2024-03-02T09:00:00Z", "R-2", "export.csv"),
    ]


def test_semicolon_csv_keeps_commas_inside_urls(db, tmp_path):
    path = tmp_path / "partner.csv"
    path.write_text("url;reference\nhttp://a.example.com/view?ids=1,2,3&sort=a,b;R-1\n"
                    'http://b.example.com/p,q;R-2\n"http://c.example.com/?a=1;b=2";R-3\n')
    result, rejected = do_import(db, path)
    assert (result.added, result.rejected) == (3, 0), rejected
    assert [(url, ref) for url, _, ref, _ in rows(db)] == [
        ("http://a.example.com/view?ids=1,2,3&sort=a,b", "R-1"), ("http://b.example.com/p,q", "R-2"),
        ("http://c.example.com/?a=1;b=2", "R-3")]


@pytest.mark.parametrize("content", [
    "reference;url\nR9;http://a.example.com/\n",
    "reference\turl\nR9\thttp://a.example.com/\n",
    '"URL";"reference"\n"http://a.example.com/";"R9"\n',
])
def test_a_text_file_whose_first_line_is_a_semicolon_or_tab_header_is_csv(db, tmp_path, content):
    path = tmp_path / "export.txt"
    path.write_text(content)
    result, rejected = do_import(db, path)
    assert result.added == 1, rejected
    assert db.execute("SELECT url, reference FROM urls").fetchall() == [("http://a.example.com/", "R9")]


def test_a_header_that_splits_into_url_only_one_way_picks_that_delimiter(db, tmp_path):
    # ',' gives "url;a" and "b": no url cell; ';' gives "url" and "a,b".
    path = tmp_path / "odd.csv"
    path.write_text("url;a,b\nhttp://a.example.com/?x=1,2;z\n")
    result, rejected = do_import(db, path)
    assert result.added == 1, rejected
    assert urls(db) == ["http://a.example.com/?x=1,2"]


def test_a_text_file_of_urls_with_semicolons_is_not_taken_for_csv(db, tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("http://a.example.com/;jsessionid=1\nhttp://b.example.com/\turl\n")
    result, rejected = do_import(db, path)
    assert (result.added, result.rejected) == (1, 1)
    assert urls(db) == ["http://a.example.com/;jsessionid=1"]
    assert "white space" in rejected[0].reason


def test_csv_detected_by_header_in_a_txt_file(db, tmp_path):
    path = tmp_path / "export.txt"
    path.write_text("reference,url\nR9,http://a.example.com/\n")
    result, _ = do_import(db, path)
    assert result.added == 1
    assert db.execute("SELECT reference FROM urls").fetchone()[0] == "R9"


def test_csv_without_url_column_is_refused(db, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("link,date\nhttp://a.example.com/,2024-01-01\n")
    with pytest.raises(InputError, match=r"r.csv: line 1: a CSV file needs a 'url' column \(found: link, date\)"):
        do_import(db, path)


def test_binary_file_is_refused_as_a_whole(db, tmp_path):
    path = tmp_path / "image.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00http://a.example.com/\n")
    with pytest.raises(InputError, match="image.jpg: a binary file"):
        do_import(db, path)
    assert urls(db) == []


def test_non_utf8_file_is_refused_and_rolls_back_what_it_added(db, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"http://a.example.com/\nhttp://b.example.com/\nhttp://caf\xe9.example.com/\n")
    with pytest.raises(InputError, match=r"latin1.txt: line 3: not UTF-8 text"):
        do_import(db, path)
    assert urls(db) == []
    assert db.execute("SELECT COUNT(*) FROM hosters").fetchone()[0] == 0


def test_missing_file(db, tmp_path):
    with pytest.raises(InputError, match="nope.txt: no such file"):
        do_import(db, tmp_path / "nope.txt")


def test_add_urls(db):
    rejected = []
    result = add_urls(db, ["http://A.example.com", "http://a.example.com/", "gopher://x.com/"], rejected.append)
    assert (result.added, result.known, result.rejected) == (1, 1, 1)
    assert rejected[0].where == "argument" and rejected[0].line == 3
    assert rows(db) == [("http://a.example.com/", None, None, "command line")]


def test_add_urls_with_the_fields_of_a_csv_row(db):
    rejected = []
    result = add_urls(db, ["http://a.example.com/1", "http://b.example.com/2"], rejected.append,
                      reported_at="2024-03-01T10:00:00+02:00", reference="R-7", source="partner")
    assert (result.added, rejected) == (2, [])
    assert rows(db) == [("http://a.example.com/1", "2024-03-01T08:00:00Z", "R-7", "partner"),
                        ("http://b.example.com/2", "2024-03-01T08:00:00Z", "R-7", "partner")]
    # a URL already known keeps what it was added with
    add_urls(db, ["http://a.example.com/1"], rejected.append, reference="R-8")
    assert rows(db)[0][2] == "R-7"


def test_an_import_killed_half_way_adds_nothing(tmp_path):
    """SIGKILL during the one transaction of a file: the database keeps what it had, no more."""
    database = tmp_path / "monitor.db"
    (tmp_path / "config.yaml").write_text(f"database: {database}\n")
    (tmp_path / "first.txt").write_text("http://kept.example.com/\n")
    subprocess.run([sys.executable, "-P", "-m", "monitor", "--config", str(tmp_path / "config.yaml"), "import",
                    str(tmp_path / "first.txt")], check=True, capture_output=True)
    big = tmp_path / "big.txt"
    with big.open("w") as out:
        out.write("http://kept.example.com/\nbad line\n")  # the reject is reported early, mid-transaction
        out.writelines(f"http://h{i % 5000}.example.net/{i}\n" for i in range(400_000))
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "monitor", "--config", str(tmp_path / "config.yaml"), "import", str(big)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stderr.readline().startswith(b"rejected")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    process.stderr.close()
    db = open_store(database)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert urls(db) == ["http://kept.example.com/"]
    finally:
        db.close()


def test_broken_csv_and_impossible_dates_are_clear(db, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text('url,reference\n"http://a.example.com/,R1\n' + "x" * 200_000 + "\n")
    with pytest.raises(InputError, match=r"broken.csv: line \d+: not valid CSV"):
        do_import(db, broken)
    dated = tmp_path / "dated.csv"
    dated.write_text("url,reported_at\nhttp://a.example.com/,0001-01-01T00:00:00+01:00\n")
    result, rejected = do_import(db, dated)
    assert result.rejected == 1 and "is not a date" in rejected[0].reason


def test_a_first_url_that_splits_into_a_url_cell_is_no_csv_header(db, tmp_path):
    path = tmp_path / "reports.txt"
    path.write_text("http://a.example.com/x,url\nhttp://b.example.com/y;url\n")
    result, rejected = do_import(db, path)
    assert (result.added, result.rejected) == (2, 0), rejected
