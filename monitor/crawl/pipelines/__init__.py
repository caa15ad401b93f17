"""Item pipelines of the revisit crawl, one per module (each built with ``from_crawler`` and tested
directly, without crawling), and the one item they handle: an ``Observation``.

An observation carries what a revisit saw of one URL: status line facts, addresses and URLs. It has
no field for a response body, and nothing here ever reads one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Observation:
    """What one crawl saw for one reported URL (one url_states state, see URL_COLUMNS)."""

    url_id: int
    outcome: str  # online, removed, http-error, unreachable, unresolved, refused-private, ...
    http_status: int | None = None
    final_url: str | None = None  # where the last request went (after redirects)
    connected_ip: str | None = None  # the address the last response came from
    redirects: list[str] = field(default_factory=list)  # every redirect target, in order
    countries: str | None = None  # JSON sorted lists: where the URL's OWN host resolved
    asns: str | None = None
    detail: str | None = None  # the error or the redirect target's host, in words

    def state(self) -> tuple:
        """The url_states columns (history.URL_COLUMNS), in order."""
        return (self.outcome, self.http_status, self.final_url, self.connected_ip,
                json.dumps(self.redirects) if self.redirects else None,
                self.countries, self.asns, self.detail)
