"""monitor demo: the scripted world's moves come out right, a chart is written, nothing is left running."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from monitor.config import load_file
from monitor.detect import list_moves
from monitor.store import open_store


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_demo(tmp_path):
    keep = tmp_path / "demo"
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = subprocess.run([sys.executable, "-P", "-m", "monitor", "demo", "--keep", str(keep)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Moves detected (7)" in out
    assert f"chart:    {keep / 'timeline-tulip-img.test.png'}" in out
    assert (keep / "timeline-tulip-img.test.png").stat().st_size > 10_000
    assert "URLs found removed (404/410) at the last night: 3" in out
    # The countries shown come from the databases the crawls recorded (the simulated world's are
    # GeoLite2 files): credited as every output credits them.
    assert "\nSources: This product includes GeoLite2 data created by MaxMind" in out
    assert children_of(os.getpid()) == []

    config = load_file(keep / "config.yaml")
    db = open_store(config.database)
    moves = {m["hoster"]: (m["kind"], m["from_countries"], m["to_countries"], m["destination_has_hotline"])
             for m in list_moves(db)}
    nights = db.execute("SELECT started_at, finished_at FROM crawls ORDER BY id").fetchall()
    db.close()
    # Nights a day apart, in the past, the last one ending by the time the demo ran: a real crawl
    # on this database afterwards comes after them.
    times = [datetime.fromisoformat(t) for night in nights for t in night]
    assert len(nights) == 6 and times == sorted(times)
    assert times[-1] - times[0] == timedelta(days=5, minutes=20)
    assert started <= nights[-1][1] <= datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert moves == {
        "tulip-img.test": ("left-home", ["NL"], ["MD"], None),
        "phoenix.test": ("left-home", ["NL"], ["SC"], None),
        "cloaked.test": ("masked", ["DE"], ["US"], None),
        "homecoming.test": ("came-home", ["RU"], ["NL"], True),
        "maple.test": ("left-home", ["NL"], ["CA"], False),
        "roundrobin.test": ("left-home", ["DE", "NL"], ["DE"], True),
        "offshore.test": ("abroad", ["MD"], ["SC"], None),
    }  # flapper.test (one night away) and dike.test (a new network at home) made no move


def test_demo_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "config.yaml").write_text("home_country: DE\n")
    result = subprocess.run([sys.executable, "-P", "-m", "monitor", "demo", "--keep", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "not empty" in result.stderr
    assert (tmp_path / "config.yaml").read_text() == "home_country: DE\n"


def test_demo_in_a_relative_folder(tmp_path):
    result = subprocess.run([sys.executable, "-P", "-m", "monitor", "demo", "--nights", "1", "--keep", "here"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "here" / "monitor.db").is_file() and not (tmp_path / "here" / "here").exists()
