"""Item pipelines of the revisit crawl, one per module (each built with ``from_crawler`` and tested
directly, without crawling), and the one item they handle: an ``Observation``
(``monitor.crawl.protocol``, re-exported here).

An observation carries what a revisit saw of one URL: status line facts, addresses and URLs. It has
no field for a response body, and nothing here ever reads one. No pipeline writes to a database:
a worker hands its observations to the coordinator, the one writer.
"""

from __future__ import annotations

from ..protocol import Observation

__all__ = ["Observation"]
