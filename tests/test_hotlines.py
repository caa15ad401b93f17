"""monitor.hotlines: INHOPE hotline membership by country and date, from data/hotlines.csv."""

import dataclasses
import datetime
import re
from datetime import date

import pytest

from monitor import hotlines
from monitor.errors import DatabaseFileError
from monitor.hotlines import (
    DIRECTORY_READ_ON,
    GATHERED_ON,
    Hotline,
    HotlineTable,
    Period,
    has_hotline,
    hotline_names,
    load_hotlines,
)
from csv_helpers import (
    assert_sources_listed,
    error_at,
    shipped_rows,
    shipped_text,
    sources_section,
    undocumented_columns,
    write,
)

HEADER = "iso2,country,hotline,joined,left,confidence,note,sources\n"


# --- the shipped file ------------------------------------------------------------------------


def test_shipped_file_loads_every_row():
    rows = shipped_rows("hotlines.csv")
    table = load_hotlines()
    assert len(rows) == 28
    assert len(table) == 28
    assert table.countries() == {row["iso2"] for row in rows}
    assert len(table.countries()) == 23
    assert [hotline.name for hotline in table.hotlines("DE")] == ["eco", "FSM", "jugendschutz.net"]


def test_shipped_table_is_loaded_once():
    assert load_hotlines() is load_hotlines()


def test_netherlands_has_a_hotline_in_2024():
    assert has_hotline("NL", date(2024, 6, 1)) is True
    # ATKM has no join year: not named before the directory reading that lists it
    assert hotline_names("NL", date(2024, 6, 1)) == ("Offlimits (formerly Meldpunt Kinderporno / EOKM)",)


def test_bulgaria_between_safenetbg_leaving_and_roditeli_joining_has_none():
    assert has_hotline("BG", date(2023, 1, 1)) is False
    assert hotline_names("BG", date(2023, 1, 1)) == ()


def test_bulgaria_around_safenetbg_leaving_in_2022_09():
    assert has_hotline("BG", date(2022, 8, 31)) is True
    assert hotline_names("BG", date(2022, 8, 31)) == ("SafenetBG (ARC Fund)",)
    assert has_hotline("BG", date(2022, 9, 1)) is None  # inside the month it left
    assert has_hotline("BG", date(2022, 9, 30)) is None
    assert has_hotline("BG", date(2022, 10, 1)) is False


def test_bulgaria_after_the_uncertain_join_is_unknown_not_true():
    assert has_hotline("BG", date(2024, 12, 31)) is False  # before the stated (uncertain) year
    assert has_hotline("BG", date(2025, 6, 1)) is None
    assert has_hotline("BG", date(2026, 11, 28)) is None  # uncertain: never True
    assert hotline_names("BG", date(2026, 11, 28)) == ()


def test_moldova_is_not_in_the_file_so_unknown():
    assert "MD" not in {row["iso2"] for row in shipped_rows("hotlines.csv")}
    assert "MD" not in load_hotlines().countries()
    assert has_hotline("MD", date(2024, 1, 1)) is None  # never "no"
    assert hotline_names("MD", date(2024, 1, 1)) == ()


def test_canada_left_in_2020():
    (row,) = [row for row in shipped_rows("hotlines.csv") if row["iso2"] == "CA"]
    assert (row["joined"], row["left"], row["confidence"]) == ("2009", "2020", "reported")
    assert has_hotline("CA", date(2015, 1, 1)) is True
    assert has_hotline("CA", date(2019, 12, 31)) is True
    assert has_hotline("CA", date(2020, 1, 1)) is None  # which day of 2020: unknown
    assert has_hotline("CA", date(2020, 12, 31)) is None
    assert has_hotline("CA", date(2021, 1, 1)) is False
    assert has_hotline("CA", DIRECTORY_READ_ON) is False  # absent from the directory too
    assert hotline_names("CA", date(2015, 1, 1)) == ("Cybertip.ca (Canadian Centre for Child Protection)",)
    assert hotline_names("CA", date(2021, 1, 1)) == ()


def test_canada_around_the_2009_join_year():
    assert has_hotline("CA", date(2008, 12, 31)) is False
    assert has_hotline("CA", date(2009, 6, 1)) is None
    assert has_hotline("CA", date(2010, 1, 1)) is True


def test_new_zealand_joined_in_2014_06():
    assert has_hotline("NZ", date(2014, 5, 31)) is False
    assert has_hotline("NZ", date(2014, 6, 1)) is None
    assert has_hotline("NZ", date(2014, 6, 30)) is None
    assert has_hotline("NZ", date(2014, 7, 1)) is True
    assert hotline_names("NZ", date(2014, 7, 1)) == ("Netsafe",)
    assert hotline_names("NZ", date(2014, 6, 30)) == ()


def test_a_join_year_counts_from_the_next_year():
    # Australia, eSafety Commissioner, joined 2016
    assert has_hotline("AU", date(2015, 12, 31)) is False
    assert has_hotline("AU", date(2016, 12, 31)) is None
    assert has_hotline("AU", date(2017, 1, 1)) is True


def test_listed_hotline_without_join_year_counts_from_the_directory_reading():
    # Italy: both hotlines listed, neither with a join year
    assert has_hotline("IT", date(2024, 1, 1)) is None
    assert has_hotline("IT", DIRECTORY_READ_ON - datetime.timedelta(days=1)) is None
    assert has_hotline("IT", DIRECTORY_READ_ON) is True
    assert hotline_names("IT", DIRECTORY_READ_ON) == ("Save the Children Italy", "Telefono Azzurro")
    # ... and it adds to a country's names from then on
    assert "ATKM" in hotline_names("NL", DIRECTORY_READ_ON)
    assert "jugendschutz.net" not in hotline_names("DE", date(2024, 1, 1))


def test_reported_hotline_without_join_year_counts_from_the_date_gathered():
    # Austria: Stopline, reported (not listed), no join year
    assert has_hotline("AT", DIRECTORY_READ_ON) is None
    assert has_hotline("AT", GATHERED_ON - datetime.timedelta(days=1)) is None
    assert has_hotline("AT", GATHERED_ON) is True


def test_uncertain_rows_never_answer_true():
    for country in ("RU", "TW", "KR"):  # "listed as a member in 2009; status now unknown"
        assert has_hotline(country, date(2024, 1, 1)) is None
        assert has_hotline(country, date(2010, 1, 1)) is None
        assert hotline_names(country, date(2024, 1, 1)) == ()
        assert has_hotline(country, date(2008, 12, 31)) is False
    # Ukraine, Magnolia, uncertain 2024
    assert has_hotline("UA", date(2023, 12, 31)) is False
    assert has_hotline("UA", date(2030, 1, 1)) is None


def test_every_uncertain_shipped_row_is_never_a_member():
    uncertain = [hotline for hotline in load_hotlines() if hotline.confidence == "uncertain"]
    assert {hotline.iso2 for hotline in uncertain} == {"BG", "UA", "RU", "TW", "KR"}
    for hotline in uncertain:
        for year in range(1995, 2031):
            assert hotline.member_on(date(year, 7, 1)) is not True


def test_a_certain_hotline_outweighs_an_uncertain_one(tmp_path):
    path = write(
        tmp_path,
        HEADER + "XA,Testland,Guess,2010,,uncertain,,S1\nXA,Testland,Known,2012,,listed,,S1\n",
    )
    table = load_hotlines(path)
    assert table.has_hotline("XA", date(2011, 1, 1)) is None
    assert table.has_hotline("XA", date(2013, 1, 1)) is True
    assert table.hotline_names("XA", date(2013, 1, 1)) == ("Known",)


def test_a_row_with_a_left_date_but_no_join_date(tmp_path):
    path = write(tmp_path, HEADER + "XA,Testland,Gone,,2015,reported,,S1\n")
    table = load_hotlines(path)
    assert table.has_hotline("XA", date(2014, 1, 1)) is None
    assert table.has_hotline("XA", date(2015, 6, 1)) is None
    assert table.has_hotline("XA", date(2016, 1, 1)) is False


@pytest.mark.parametrize("country", ["nl", "Nl", "NLD", "N", "", "N1", " NL", "ÄB"])
def test_country_code_must_be_two_upper_case_letters(country):
    with pytest.raises(ValueError, match="two upper-case letters"):
        has_hotline(country, date(2024, 1, 1))
    with pytest.raises(ValueError):
        hotline_names(country, date(2024, 1, 1))


def test_country_must_be_a_string():
    with pytest.raises(TypeError):
        has_hotline(None, date(2024, 1, 1))


@pytest.mark.parametrize("on", [datetime.datetime(2024, 1, 1, 12), "2024-01-01", 2024])
def test_on_must_be_a_date(on):
    with pytest.raises(TypeError, match="datetime.date"):
        has_hotline("NL", on)
    with pytest.raises(TypeError):
        hotline_names("MD", on)  # also for a country the file lacks


def test_hotline_is_frozen():
    hotline = load_hotlines().hotlines("NZ")[0]
    assert isinstance(hotline, Hotline)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hotline.left = None


def test_shipped_fields_are_parsed():
    (netsafe,) = load_hotlines().hotlines("NZ")
    assert netsafe == Hotline(
        "NZ", "New Zealand", "Netsafe",
        Period("2014-06", date(2014, 6, 1), date(2014, 6, 30)), None,
        "listed", "50th member", ("S1", "S4"),
    )
    safenet = load_hotlines().hotlines("BG")[0]
    assert safenet.sources == ("S5", "S5c")
    assert safenet.left == Period("2022-09", date(2022, 9, 1), date(2022, 9, 30))


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2009", date(2009, 1, 1), date(2009, 12, 31)),
        ("2014-06", date(2014, 6, 1), date(2014, 6, 30)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2023-02", date(2023, 2, 1), date(2023, 2, 28)),
        ("2020-12", date(2020, 12, 1), date(2020, 12, 31)),
    ],
)
def test_period_covers_its_year_or_month(text, first, last):
    assert Period.parse(text) == Period(text, first, last)


@pytest.mark.parametrize("text", ["2014-13", "2014-00", "2014-6", "14", "June 2014", "2014-06-01", "0000"])
def test_period_rejects_other_formats(text):
    with pytest.raises(ValueError):
        Period.parse(text)


def test_every_source_key_is_listed_in_sources_md():
    assert_sources_listed(load_hotlines(), r"S\d+[a-z]?")


def test_sources_md_documents_the_columns_and_that_the_list_is_partial():
    section = sources_section("hotlines.csv")
    assert undocumented_columns(section, hotlines.COLUMNS) == []
    assert "PARTIAL" in section
    sources_md = shipped_text("SOURCES.md")
    assert "2026-11-28" in sources_md and "2026-10-09" in sources_md


def test_hotline_table_from_rows():
    row = Hotline("XA", "Testland", "One", Period.parse("2000"), None, "listed")
    table = HotlineTable([row])
    assert table.has_hotline("XA", date(2001, 1, 1)) is True
    assert table.has_hotline("XB", date(2001, 1, 1)) is None


# --- malformed files -------------------------------------------------------------------------

GOOD = "NL,Netherlands,Offlimits,1999,,listed,,S1\n"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("nl,Netherlands,Offlimits,1999,,listed,,S1", "iso2 'nl' is not two upper-case letters"),
        ("NLD,Netherlands,Offlimits,1999,,listed,,S1", "iso2 'NLD'"),
        ("XA,Testland,X,2014-13,,listed,,S1", "joined: .*month 13"),
        ("XA,Testland,X,June 2014,,listed,,S1", "joined: .*not a year"),
        ("XA,Testland,X,2010,2014/06,reported,,S1", "left: .*not a year"),
        ("XA,Testland,X,2010,2009,reported,,S1", "left 2009 is before joined 2010"),
        ("XA,Testland,X,2010,,likely,,S1", "unknown confidence 'likely'"),
        ("XA,,X,2010,,listed,,S1", "country is empty"),
        ("XA,Testland,,2010,,listed,,S1", "hotline is empty"),
        ("XA,Testland,X,2010,,listed,S1", "7 fields, expected 8"),
        ("NL,Holland,Other,2010,,listed,,S1", "NL is 'Holland' here but 'Netherlands' on line 2"),
    ],
)
def test_malformed_row(tmp_path, row, problem):
    path = write(tmp_path, HEADER + GOOD + row + "\n")
    with pytest.raises(DatabaseFileError, match=error_at(path, 3) + problem):
        load_hotlines(path)


def test_line_number_after_blank_and_multi_line_rows(tmp_path):
    path = write(tmp_path, HEADER + '\nXA,Testland,X,2010,,listed,"a\nnote",S1\nxb,Bad,X,2010,,listed,,S1\n')
    with pytest.raises(DatabaseFileError, match=error_at(path, 5) + "iso2 'xb'"):
        load_hotlines(path)


def test_bad_header(tmp_path):
    path = write(tmp_path, "iso2,country,hotline,joined,confidence,note,sources\n" + GOOD)
    with pytest.raises(DatabaseFileError, match=error_at(path, 1) + "bad header"):
        load_hotlines(path)


def test_empty_file(tmp_path):
    path = write(tmp_path, "\n")
    with pytest.raises(DatabaseFileError, match=re.escape(str(path)) + ": empty file"):
        load_hotlines(path)


def test_missing_file(tmp_path):
    path = tmp_path / "missing.csv"
    with pytest.raises(DatabaseFileError, match=re.escape(str(path)) + ": cannot read"):
        load_hotlines(path)


def test_a_malformed_file_does_not_touch_the_shipped_table(tmp_path):
    path = write(tmp_path, HEADER + "nl,Netherlands,Offlimits,1999,,listed,,S1\n")
    with pytest.raises(DatabaseFileError):
        load_hotlines(path)
    assert has_hotline("NL", date(2024, 1, 1)) is True
