"""Edge networks (CDN, reverse proxy, DDoS protection) by ASN, from data/networks.csv.

The country that geolocation gives for an address in an edge network is where the edge answers,
not where the content sits: a move onto such a network is `masked`, not a move abroad.
`cloud` networks (AWS, Azure, Google Cloud, Linode) mostly host origins themselves, so they are
never edges by ASN (only some of their published ranges are; this table knows ASNs only).
Sources, columns and caveats: data/SOURCES.md.

    network = edge_network(13335)          # Network(asn=13335, operator='Cloudflare', ...)
    table = load_networks(extra="mine.csv")  # the shipped list plus a user's own
    table.edge_network(16509)              # None: Amazon's ASN is `cloud`
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Literal, TypeAlias, cast, get_args

from monitor.csvdata import csv_table, load_file, load_shipped
from monitor.errors import DatabaseFileError

Kind: TypeAlias = Literal["cdn", "reverse-proxy", "ddos-protection", "cloud"]

KINDS: frozenset[str] = frozenset(get_args(Kind))
EDGE_KINDS: frozenset[str] = frozenset({"cdn", "reverse-proxy", "ddos-protection"})

COLUMNS = ("asn", "operator", "kind", "sources", "note")
_REQUIRED_COLUMNS = ("asn", "operator", "kind")
_MAX_ASN = 2**32 - 1
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class Network:
    """One row of the table: an autonomous system and who runs it."""

    asn: int
    operator: str
    kind: Kind
    sources: tuple[str, ...] = ()
    note: str = ""

    @property
    def is_edge(self) -> bool:
        """True for cdn, reverse-proxy and ddos-protection; never for cloud."""
        return self.kind in EDGE_KINDS


class NetworkTable:
    """Networks by ASN. Read-only; build one with load_networks()."""

    __slots__ = ("_by_asn",)

    def __init__(self, networks: Iterable[Network]) -> None:
        # A later network replaces an earlier one of the same ASN (a user's list over ours).
        self._by_asn: Mapping[int, Network] = MappingProxyType({n.asn: n for n in networks})

    def get(self, asn: int | None) -> Network | None:
        """The network of this ASN whatever its kind, or None when it is not in the table."""
        if asn is None:
            return None
        return self._by_asn.get(_check_asn(asn))

    def edge_network(self, asn: int | None) -> Network | None:
        """The network when `asn` is an edge (cdn, reverse-proxy, ddos-protection), else None.

        None also for an unknown ASN, for None (no ASN known) and for `cloud` networks.
        """
        network = self.get(asn)
        return network if network is not None and network.is_edge else None

    def __len__(self) -> int:
        return len(self._by_asn)

    def __iter__(self) -> Iterator[Network]:
        return iter(self._by_asn.values())

    def __contains__(self, asn: object) -> bool:
        return asn in self._by_asn

    def __repr__(self) -> str:
        return f"<NetworkTable of {len(self)} networks>"


def load_networks(extra: str | os.PathLike[str] | None = None) -> NetworkTable:
    """The shipped table (read once, then cached), merged with a user's CSV file `extra` if given.

    `extra` has the same columns as data/networks.csv (asn, operator and kind required; sources
    and note optional, in any order); its rows replace shipped rows of the same ASN. It is read at
    every call: keep the returned table. Raises DatabaseFileError naming the file and the line for
    a file that cannot be read or a malformed row.
    """
    shipped = _shipped_table()
    if extra is None:
        return shipped
    return NetworkTable([*shipped, *read_networks(extra)])


def edge_network(asn: int | None) -> Network | None:
    """The shipped table's edge network for `asn` (see NetworkTable.edge_network)."""
    return _shipped_table().edge_network(asn)


def read_networks(path: str | os.PathLike[str]) -> list[Network]:
    """The rows of one networks CSV file, validated. Raises DatabaseFileError."""
    return load_file(path, "networks", _parse)


@cache
def _shipped_table() -> NetworkTable:
    return NetworkTable(load_shipped("networks.csv", "networks", _parse))


def _parse(text: str, name: str) -> list[Network]:
    header_line, header_cells, rows = csv_table(text, name, COLUMNS)
    header = _check_header(header_cells, name, header_line)
    networks: list[Network] = []
    seen_on_line: dict[int, int] = {}
    for line, cells in rows:
        if len(cells) != len(header):
            raise DatabaseFileError(
                f"{name}, line {line}: {len(cells)} fields, the header has {len(header)}"
            )
        network = _network(dict(zip(header, cells)), name, line)
        if network.asn in seen_on_line:
            raise DatabaseFileError(
                f"{name}, line {line}: AS{network.asn} is already on line {seen_on_line[network.asn]}"
            )
        seen_on_line[network.asn] = line
        networks.append(network)
    return networks


def _network(row: dict[str, str], name: str, line: int) -> Network:
    where = f"{name}, line {line}"
    text = row["asn"]
    if not _INTEGER.fullmatch(text):
        hint = " (write the number without 'AS')" if text[:2].upper() == "AS" else ""
        raise DatabaseFileError(f"{where}: asn {text!r} is not an integer{hint}")
    asn = int(text)
    if not 1 <= asn <= _MAX_ASN:
        raise DatabaseFileError(f"{where}: asn {asn} is out of range 1..{_MAX_ASN}")
    operator = row["operator"]
    if not operator:
        raise DatabaseFileError(f"{where}: operator is empty")
    kind = row["kind"]
    if kind not in KINDS:
        raise DatabaseFileError(
            f"{where}: unknown kind {kind!r} (one of: {', '.join(sorted(KINDS))})"
        )
    sources = tuple(key.strip() for key in row.get("sources", "").split(";") if key.strip())
    return Network(asn, operator, cast(Kind, kind), sources, row.get("note", ""))


def _check_header(cells: list[str], name: str, line: int) -> tuple[str, ...]:
    header = tuple(cell.lower() for cell in cells)
    problems = []
    missing = [column for column in _REQUIRED_COLUMNS if column not in header]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    unknown = [column for column in header if column not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        raise DatabaseFileError(
            f"{name}, line {line}: bad header: {'; '.join(problems)} "
            f"(the columns are {','.join(COLUMNS)})"
        )
    return header


def _check_asn(asn: int) -> int:
    if isinstance(asn, bool) or not isinstance(asn, int):
        raise TypeError(f"asn must be an int or None, not {type(asn).__name__}")
    if not 0 <= asn <= _MAX_ASN:
        raise ValueError(f"asn {asn} is out of range 0..{_MAX_ASN}")
    return asn
