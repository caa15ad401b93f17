"""monitor.resolve.networks: edge networks by ASN, from the shipped data/networks.csv."""

import dataclasses
import re

import pytest

from monitor.errors import DatabaseFileError
from monitor.resolve import networks
from monitor.resolve.networks import (
    EDGE_KINDS,
    KINDS,
    Network,
    NetworkTable,
    edge_network,
    load_networks,
)
from csv_helpers import assert_sources_listed, error_at, shipped_rows, sources_section, undocumented_columns, write

HEADER = "asn,operator,kind,sources,note\n"


# --- the shipped file ------------------------------------------------------------------------


def test_shipped_file_loads_every_row():
    rows = shipped_rows("networks.csv")
    table = load_networks()
    assert len(rows) == 83
    assert len(table) == len(rows)
    assert {network.asn for network in table} == {int(row["asn"]) for row in rows}


def test_cloudflare_is_an_edge():
    network = edge_network(13335)
    assert network == Network(13335, "Cloudflare", "reverse-proxy", ("A5", "A6"), "")
    assert network.is_edge


@pytest.mark.parametrize(
    ("asn", "operator", "kind"),
    [
        (20940, "Akamai", "cdn"),
        (54113, "Fastly", "cdn"),
        (57724, "DDoS-Guard", "ddos-protection"),
        (30148, "Sucuri", "reverse-proxy"),
    ],
)
def test_each_edge_kind_is_an_edge(asn, operator, kind):
    network = edge_network(asn)
    assert network is not None
    assert (network.operator, network.kind) == (operator, kind)


@pytest.mark.parametrize("asn", [16509, 8075, 396982, 63949])  # Amazon, Microsoft, Google, Linode
def test_cloud_networks_are_never_edges(asn):
    network = load_networks().get(asn)
    assert network is not None and network.kind == "cloud"  # in the file, as cloud ...
    assert not network.is_edge
    assert edge_network(asn) is None  # ... and so not an edge


def test_edge_network_answers_by_kind_for_every_shipped_row():
    for row in shipped_rows("networks.csv"):
        network = edge_network(int(row["asn"]))
        if row["kind"] == "cloud":
            assert network is None, row
        else:
            assert network is not None and network.operator == row["operator"], row


def test_unknown_asn_and_no_asn_are_not_edges():
    assert 3320 not in load_networks()  # Deutsche Telekom: an access network, not in the file
    assert edge_network(3320) is None
    assert load_networks().get(3320) is None
    assert edge_network(None) is None


def test_row_without_sources_is_kept_with_its_note():
    network = edge_network(262254)
    assert network is not None
    assert network.sources == ()
    assert network.note == "unverified"


def test_quoted_fields_with_commas():
    network = load_networks().get(8075)
    assert network is not None
    assert network.operator == "Microsoft (Azure, incl. Front Door)"
    assert load_networks().get(63949).note == "VPS hosting: hosts origins, not an edge"


def test_kinds():
    assert EDGE_KINDS == {"cdn", "reverse-proxy", "ddos-protection"}
    assert KINDS == EDGE_KINDS | {"cloud"}


def test_network_is_frozen():
    network = edge_network(13335)
    with pytest.raises(dataclasses.FrozenInstanceError):
        network.kind = "cloud"


def test_shipped_table_is_loaded_once():
    assert load_networks() is load_networks()
    assert load_networks().get(13335) is edge_network(13335)


@pytest.mark.parametrize("asn", ["13335", 13335.0, True])
def test_asn_must_be_an_int(asn):
    with pytest.raises(TypeError):
        edge_network(asn)


@pytest.mark.parametrize("asn", [-1, 2**32])
def test_asn_must_be_in_range(asn):
    with pytest.raises(ValueError):
        edge_network(asn)


def test_every_source_key_is_listed_in_sources_md():
    assert_sources_listed(load_networks(), r"A\d+")


def test_sources_md_documents_the_columns_and_the_cloud_caveat():
    section = sources_section("networks.csv")
    assert undocumented_columns(section, networks.COLUMNS) == []
    assert "**not edges**" in section


# --- a user's own list -----------------------------------------------------------------------


def test_extra_file_adds_and_replaces_rows(tmp_path):
    path = write(
        tmp_path,
        HEADER
        + "64512,My reverse proxy,reverse-proxy,own research,\n"
        + "13335,Cloudflare (as I see it),cloud,,\n",
    )
    table = load_networks(extra=path)
    assert table.edge_network(64512) == Network(64512, "My reverse proxy", "reverse-proxy", ("own research",))
    assert table.get(13335).kind == "cloud"
    assert table.edge_network(13335) is None  # replaced by the user's row
    assert table.edge_network(20940) is not None  # the shipped rows are still there
    assert len(table) == 84
    # the shipped table is not changed by the merge
    assert edge_network(13335).operator == "Cloudflare"
    assert 64512 not in load_networks()


def test_extra_file_needs_only_asn_operator_kind_in_any_order(tmp_path):
    path = write(tmp_path, "kind,asn,operator\n\nddos-protection, 64513 ,Shield\n")
    network = load_networks(str(path)).edge_network(64513)
    assert network == Network(64513, "Shield", "ddos-protection", (), "")


# --- malformed files -------------------------------------------------------------------------


@pytest.mark.parametrize("asn", ["AS13335", "abc", "13335.0", "", "1e5"])
def test_non_integer_asn(tmp_path, asn):
    path = write(tmp_path, HEADER + "64512,Fine,cdn,,\n" + f"{asn},Bad,cdn,,\n")
    with pytest.raises(DatabaseFileError, match=error_at(path, 3) + "asn .* is not an integer"):
        load_networks(extra=path)


@pytest.mark.parametrize("asn", ["0", "-5", "4294967296"])
def test_asn_out_of_range(tmp_path, asn):
    path = write(tmp_path, HEADER + f"{asn},Bad,cdn,,\n")
    with pytest.raises(DatabaseFileError, match=error_at(path, 2) + "asn .* out of range"):
        load_networks(extra=path)


@pytest.mark.parametrize("kind", ["hosting", "CDN", ""])
def test_unknown_kind(tmp_path, kind):
    path = write(tmp_path, HEADER + f"64512,Bad,{kind},,\n")
    with pytest.raises(DatabaseFileError, match=error_at(path, 2) + "unknown kind"):
        load_networks(extra=path)


def test_line_number_counts_lines_of_a_quoted_multi_line_field(tmp_path):
    path = write(tmp_path, HEADER + '64512,Fine,cdn,,"two\nlines"\n64513,Bad,hosting,,\n')
    with pytest.raises(DatabaseFileError, match=error_at(path, 4)):
        load_networks(extra=path)


def test_wrong_number_of_fields(tmp_path):
    path = write(tmp_path, HEADER + "64512,Fine,cdn,,\n64513,Bad,cdn\n")
    with pytest.raises(DatabaseFileError, match=error_at(path, 3) + "3 fields"):
        load_networks(extra=path)


def test_duplicate_asn_in_one_file(tmp_path):
    path = write(tmp_path, HEADER + "64512,One,cdn,,\n64512,Two,cdn,,\n")
    with pytest.raises(DatabaseFileError, match=error_at(path, 3) + ".*already on line 2"):
        load_networks(extra=path)


def test_empty_operator(tmp_path):
    path = write(tmp_path, HEADER + "64512,,cdn,,\n")
    with pytest.raises(DatabaseFileError, match=error_at(path, 2) + "operator is empty"):
        load_networks(extra=path)


@pytest.mark.parametrize("header", ["asn,operator\n", "asn,operator,kind,country\n", "asn,asn,operator,kind\n"])
def test_bad_header(tmp_path, header):
    path = write(tmp_path, header)
    with pytest.raises(DatabaseFileError, match=error_at(path, 1) + "bad header"):
        load_networks(extra=path)


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(DatabaseFileError, match=re.escape(str(path)) + ": empty file"):
        load_networks(extra=path)


def test_bad_quoting(tmp_path):
    path = write(tmp_path, HEADER + '64512,"Unclosed,cdn,,\n')
    with pytest.raises(DatabaseFileError, match=error_at(path, 2) + "not valid CSV"):
        load_networks(extra=path)


def test_missing_file(tmp_path):
    path = tmp_path / "missing.csv"
    with pytest.raises(DatabaseFileError, match=re.escape(str(path)) + ": cannot read"):
        load_networks(extra=path)


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(HEADER.encode() + "64512,Réseau,cdn,,\n".encode("latin-1"))
    with pytest.raises(DatabaseFileError, match=re.escape(str(path)) + ": cannot read.*not UTF-8"):
        load_networks(extra=path)


def test_network_table_from_networks():
    table = NetworkTable([Network(64512, "A", "cdn"), Network(64513, "B", "cloud")])
    assert table.edge_network(64512).operator == "A"
    assert table.edge_network(64513) is None
    assert 64513 in table and 64514 not in table
