"""One longest-prefix index for both lookup caches: Team Cymru's BGP prefixes, RDAP's networks.

    index = PrefixIndex()
    index.add_range(start, end, value, fetched_at)   # a prefix, or any range of addresses
    index.narrowest(address)                          # the value of the narrowest range holding it

Built on py-radix (a maintained C radix tree with wheels; ``search_best`` is the longest-prefix
match). A range that is not one prefix (RDAP networks may be "74.125.10.3 - 74.125.10.9") is
stored as the prefixes that cover it exactly. Ranges nest (registries and BGP do not overlap
partially), and then the longest matching prefix belongs to the narrowest range holding the
address: the piece of the inner range that holds it lies inside the outer range's piece. Two
ranges may end up with the same prefix node; the narrower keeps it, the newer on a tie.

Not thread-safe: the parent thread (or one event loop) owns each index.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import radix

from ..ips import Address

__all__ = ["PrefixIndex"]


@dataclass(frozen=True, slots=True)
class _Entry:
    size: int  # addresses in the range, minus one
    fetched_at: str
    value: Any


class PrefixIndex:
    """Values by address range; lookups find the narrowest range holding an address."""

    __slots__ = ("_tree", "_ranges")

    def __init__(self) -> None:
        self._tree = radix.Radix()
        self._ranges: set[tuple[int, int, int]] = set()  # (version, start, end), for len()

    def __len__(self) -> int:
        return len(self._ranges)

    def add_range(self, start: Address, end: Address, value: Any, fetched_at: str) -> None:
        """Hold ``value`` for every address from ``start`` to ``end``; ValueError for a range
        that is empty or mixes versions."""
        if start.version != end.version or int(start) > int(end):
            raise ValueError(f"not a range of addresses: {start} - {end}")
        entry = _Entry(int(end) - int(start), fetched_at, value)
        for network in ipaddress.summarize_address_range(start, end):
            node = self._tree.search_exact(packed=network.network_address.packed, masklen=network.prefixlen)
            if node is None:
                node = self._tree.add(packed=network.network_address.packed, masklen=network.prefixlen)
            known: _Entry | None = node.data.get("entry")
            if known is None or entry.size < known.size or (
                entry.size == known.size and entry.fetched_at >= known.fetched_at
            ):
                node.data["entry"] = entry  # narrower, or as narrow and as new or newer
        self._ranges.add((start.version, int(start), int(end)))

    def add_prefix(self, prefix: str, value: Any, fetched_at: str) -> None:
        """Hold ``value`` for a prefix given as text ("192.0.2.0/24"); ValueError if it is none."""
        network = ipaddress.ip_network(prefix, strict=False)
        self.add_range(network[0], network[-1], value, fetched_at)

    def narrowest(self, address: Address) -> Any | None:
        """The value of the narrowest range holding ``address``, or None."""
        node = self._tree.search_best(packed=address.packed)
        return None if node is None else node.data["entry"].value
