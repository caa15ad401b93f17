"""Retiring reported URLs and bringing them back: the crawl revisits only active URLs.

A retired URL keeps its row and every state the crawls recorded; only `active` and `retired_at`
change, always together (m007's triggers refuse one without the other).
"""

from __future__ import annotations

import sqlite3

# A change is made only where it changes something, so that rowcount says how many it changed.
_RETIRE = "UPDATE urls SET active = 0, retired_at = ? WHERE {where} AND active"
_BRING_BACK = "UPDATE urls SET active = 1, retired_at = NULL WHERE {where} AND NOT active"


def set_url_retired(conn: sqlite3.Connection, url: str, retired_at: str | None) -> bool | None:
    """Retire a normalised URL at `retired_at`, or bring it back when that is None.

    True: changed; False: it already was so; None: not a reported URL."""
    if _update(conn, "url = ?", [url], retired_at):
        return True
    return False if conn.execute("SELECT 1 FROM urls WHERE url = ?", [url]).fetchone() else None


def set_hoster_retired(conn: sqlite3.Connection, hoster_id: int, retired_at: str | None) -> tuple[int, int]:
    """Retire every URL of a hoster at `retired_at`, or bring them back when that is None.

    (URLs changed, URLs that already were so)."""
    changed = _update(conn, "hoster_id = ?", [hoster_id], retired_at)
    total = conn.execute("SELECT COUNT(*) FROM urls WHERE hoster_id = ?", [hoster_id]).fetchone()[0]
    return changed, total - changed


def _update(conn: sqlite3.Connection, where: str, params: list, retired_at: str | None) -> int:
    if retired_at is None:
        return conn.execute(_BRING_BACK.format(where=where), params).rowcount
    return conn.execute(_RETIRE.format(where=where), [retired_at, *params]).rowcount
