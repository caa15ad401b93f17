"""Import speed: N reported URLs over N/20 hosters from one text file into a fresh database.

    python benchmarks/import_urls.py [--urls 1000000]

Target (issue 2): 1,000,000 URLs in under a minute. Prints URLs/s and the database size.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from monitor.intake import import_file
from monitor.store import open_store


def write_reports(path: Path, n: int, seed: int = 1) -> None:
    """Realistic spellings: mixed case, ports, fragments, subdomains, some private PSL suffixes."""
    rng = random.Random(seed)
    suffixes = ["com", "nl", "co.uk", "ru", "blogspot.com", "net", "de", "md"]
    hosters = [f"host{i}.{rng.choice(suffixes)}" for i in range(max(1, n // 20))]
    with path.open("w") as out:
        out.write("# benchmark reports\n")
        for i in range(n):
            hoster = rng.choice(hosters)
            sub = rng.choice(["", "i.", "img.", "cdn1.", "WWW."])
            out.write(f"http://{sub}{hoster}/gallery/{i}/image_{rng.randrange(10**6)}.jpg\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp) / "reports.txt"
        write_reports(reports, args.urls)
        db = open_store(Path(tmp) / "monitor.db")
        started = time.perf_counter()
        result = import_file(db, reports, on_reject=lambda r: None)
        elapsed = time.perf_counter() - started
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = (Path(tmp) / "monitor.db").stat().st_size
        db.close()
    print(f"imported {result.added:,} URLs ({result.rejected} rejected) in {elapsed:.1f} s: "
          f"{result.added / elapsed:,.0f} URLs/s; database {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
