"""CI, before the tests: the installed wheel used the way a server uses it.

Run with the Python of a fresh virtual environment that holds only the wheel (no test extras):
a head-mode crawl of the simulated world through the `monitor` command, from a folder outside
the checkout and from inside it (where a child process could import ./monitor instead of the
installed package), then every read command as a user who may only read the database.

    python .ci/smoke.py CHECKOUT
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import monitor
from monitor.sim.http import WebServer
from monitor.sim.world import World

READS = [["hosters"], ["stats"], ["stats", "--by", "country"], ["history", "{url}"], ["moves"],
         ["moves", "--relabels"], ["timeline", "alpha.test"], ["timeline", "alpha.test", "--format", "json"],
         ["lookup", "img.alpha.test"]]


def run(*args: str, cwd: Path, as_reader: bool = False) -> str:
    command = ["monitor", *args]
    if as_reader:  # root keeps its uid on the files but loses its powers over them
        command = ["unshare", "--user", *command]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or "Traceback" in result.stderr:
        sys.exit(f"FAILED (in {cwd}): {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main(checkout: Path) -> None:
    installed = Path(monitor.__file__).resolve()
    if checkout.resolve() in installed.parents:
        sys.exit(f"FAILED: monitor is imported from the checkout ({installed}), not from the wheel")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with World(tmp / "world") as world, WebServer([world.networks[n].address() for n in ("nl", "md")]) as web:
            world.place("img.alpha.test", "nl")
            world.place("www.beta.test", "md")
            web.set_default("*", 200)
            config = world.write_config(tmp / "config.yaml", tmp / "db" / "monitor.db", log_file=tmp / "crawl.log")
            (tmp / "db").mkdir()
            urls = [web.url("img.alpha.test", "/1.jpg"), web.url("www.beta.test", "/2.jpg")]
            run("--config", str(config), "add", *urls, cwd=tmp)
            for cwd in (tmp, checkout):
                line = run("--config", str(config), "crawl", cwd=cwd).strip()
                print(f"crawl from {cwd}: {line}")
                if "complete: 2 URLs (2 online)" not in line:
                    sys.exit(f"FAILED: expected 2 URLs online, got: {line}")
        # The analyst's copy: one file in a folder that may only be read.
        copy = tmp / "copy"
        copy.mkdir()
        with sqlite3.connect(tmp / "db" / "monitor.db") as source, sqlite3.connect(copy / "monitor.db") as target:
            source.backup(target)
        source.close()
        target.close()
        reader_config = tmp / "reader.yaml"
        reader_config.write_text(config.read_text().replace(str(tmp / "db"), str(copy)))
        (copy / "monitor.db").chmod(0o444)
        copy.chmod(0o555)
        for args in READS:
            run("--config", str(reader_config), *(a.format(url=urls[0]) for a in args), cwd=tmp, as_reader=True)
        left = sorted(p.name for p in copy.iterdir())
        copy.chmod(0o755)
        if left != ["monitor.db"]:
            sys.exit(f"FAILED: read commands left files beside the database: {left}")
        print(f"read commands on a read-only copy: {len(READS)} ran, nothing written")
    if shutil.which("monitor") is None:
        sys.exit("FAILED: no monitor command on PATH")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
