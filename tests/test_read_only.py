"""The database as users meet it: a copy they may only read, a folder that is not there, a lock
held by another program. Read commands change no file; commands that write say why they cannot.

Tests run as root, whom file modes do not stop. A process in a new user namespace keeps root's
user id on the files but loses its powers over them (`unshare --user`), so a 0444 file in a 0555
folder is truly read-only to it: that is how the analyst's side is run here.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.sim.world import World

UNSHARE = shutil.which("unshare")


def monitor(config: Path, *args: str, read_only_user: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-P", "-m", "monitor", "--config", str(config), *args]
    if read_only_user:
        command = [UNSHARE, "--user", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """A database after two dns-only crawls of a small world, and its config."""
    folder = tmp_path_factory.mktemp("crawled")
    with World(folder / "world") as world:
        world.place("img.alpha.test", "nl")
        world.place("www.beta.test", "de")
        world.dns.set_nxdomain("gone.gamma.test")
        config = world.write_config(folder / "config.yaml", folder / "db" / "monitor.db", log_file=None)
        (folder / "db").mkdir()
        reports = folder / "reports.txt"
        reports.write_text("http://img.alpha.test/1.jpg\nhttp://www.beta.test/2\nhttp://gone.gamma.test/3\n")
        run = CliRunner()
        assert run.invoke(cli, ["--config", str(config), "import", str(reports)]).exit_code == 0
        for _ in range(2):
            result = run.invoke(cli, ["--config", str(config), "crawl", "--dns-only"])
            assert result.exit_code == 0, result.output
        yield folder, config


@pytest.fixture
def read_only_copy(crawled, tmp_path):
    """A copy of the crawled database in a folder this test's reader may not write."""
    folder, config = crawled
    copy = tmp_path / "copy"
    copy.mkdir()
    with sqlite3.connect(folder / "db" / "monitor.db") as source, sqlite3.connect(copy / "monitor.db") as target:
        source.backup(target)  # as an analyst copies it: one file, still in WAL mode
    target.close()
    source.close()
    copy_config = tmp_path / "config.yaml"
    copy_config.write_text(config.read_text().replace(str(folder / "db" / "monitor.db"), str(copy / "monitor.db")))
    (copy / "monitor.db").chmod(0o444)
    copy.chmod(0o555)
    yield copy_config, copy
    copy.chmod(0o755)


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


READS = [
    ("hosters",),
    ("hosters", "--country", "nl", "--format", "csv"),
    ("stats",),
    ("stats", "--by", "country", "--format", "json"),
    ("history", "http://img.alpha.test/1.jpg"),
    ("moves", "--format", "json"),
    ("moves", "--relabels"),
    ("timeline", "alpha.test", "--format", "json"),
    ("timeline", "alpha.test", "--format", "svg", "--output", "-"),
    ("lookup", "img.alpha.test", "--format", "json"),
]


@pytest.mark.skipif(UNSHARE is None, reason="needs unshare(1) from util-linux")
@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a))
def test_read_commands_work_on_a_database_the_user_may_only_read(read_only_copy, args):
    config, folder = read_only_copy
    before = snapshot(folder)
    result = monitor(config, *args, read_only_user=True)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(folder) == before  # no -wal or -shm file, not a byte changed
    if args[0] == "hosters" and "csv" not in args:
        assert "alpha.test" in result.stdout and "beta.test" in result.stdout


@pytest.mark.skipif(UNSHARE is None, reason="needs unshare(1) from util-linux")
@pytest.mark.parametrize("args", [("import", "{reports}"), ("add", "http://new.example.com/"),
                                  ("crawl", "--dns-only"), ("refresh",),
                                  ("retire", "http://img.alpha.test/1.jpg")], ids=lambda a: a[0])
def test_commands_that_write_say_the_database_is_read_only(read_only_copy, tmp_path, args):
    config, folder = read_only_copy
    reports = tmp_path / "more.txt"
    reports.write_text("http://new.example.com/\n")
    before = snapshot(folder)
    result = monitor(config, *(a.format(reports=reports) for a in args), read_only_user=True)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert str(folder / "monitor.db") in line and "config key `database`" in line and "read-only" in line
    assert snapshot(folder) == before


@pytest.mark.skipif(UNSHARE is None, reason="needs unshare(1) from util-linux")
def test_a_crawl_log_that_cannot_be_written_is_one_line_naming_the_key(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {tmp_path / 'monitor.db'}\ncrawl:\n  log_file: {locked / 'logs' / 'crawl.log'}\n")
    (tmp_path / "urls.txt").write_text("http://a.example.com/\n")
    assert monitor(config, "import", str(tmp_path / "urls.txt")).returncode == 0
    result = monitor(config, "crawl", read_only_user=True)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "crawl.log_file" in line and str(config) in line and "Traceback" not in result.stderr


def test_a_database_folder_that_does_not_exist_is_an_error_naming_the_key(tmp_path, run, config_file):
    config_file.write_text("database: typo/monitor.db\n")
    result = run("add", "http://a.example.com/")
    assert result.exit_code == 1
    assert "config key `database`" in result.stderr and "typo does not exist" in result.stderr
    assert not (tmp_path / "typo").exists()


def test_the_default_data_folder_is_created(tmp_path, run, config_file):
    config_file.write_text("home_country: NL\n")
    assert run("add", "http://a.example.com/").exit_code == 0
    assert (tmp_path / "data" / "monitor.db").is_file()


def test_a_database_locked_by_another_program_is_waited_for_then_named(tmp_path, run, config_file):
    config_file.write_text("database: monitor.db\ndatabase_lock_wait: 0.2\n")
    assert run("add", "http://a.example.com/").exit_code == 0
    shell = sqlite3.connect(tmp_path / "monitor.db")  # an analyst's shell inside a transaction
    shell.execute("BEGIN IMMEDIATE")
    result = run("add", "http://b.example.com/")
    assert result.exit_code == 1
    assert "locked by another process" in result.stderr and "database_lock_wait" in result.stderr
    assert "Traceback" not in result.output
    shell.rollback()
    shell.close()
    assert run("add", "http://b.example.com/").stdout.strip() == "1 added, 0 already known, 0 rejected"


LOCK_MID_CRAWL = textwrap.dedent("""
    import sqlite3, sys
    from pathlib import Path
    from monitor.config import load_file
    from monitor.crawl.run import run_crawl

    config = load_file(Path(sys.argv[1]))
    held = []

    def progress(phase, done, total):
        # Hosts are written; before the addresses are, another program locks the database.
        if phase == "enrich" and not held:
            held.append(sqlite3.connect(str(config.database)))
            held[0].execute("BEGIN IMMEDIATE")

    try:
        run_crawl(config, dns_only=True, progress=progress)
    except sqlite3.OperationalError as error:
        print(error)
        sys.exit(1)
""")


def test_a_lock_in_the_middle_of_a_crawl_keeps_what_it_wrote(tmp_path):
    with World(tmp_path / "world") as world:
        world.place("img.alpha.test", "nl")
        config = world.write_config(tmp_path / "config.yaml", tmp_path / "monitor.db", log_file=None)
        config.write_text(config.read_text() + "database_lock_wait: 0.2\n")
        (tmp_path / "urls.txt").write_text("http://img.alpha.test/1.jpg\n")
        assert monitor(config, "import", str(tmp_path / "urls.txt")).returncode == 0
        locked = subprocess.run([sys.executable, "-P", "-c", LOCK_MID_CRAWL, str(config)], capture_output=True,
                                text=True, timeout=120)
        assert locked.returncode == 1 and "database is locked" in locked.stdout, locked.stderr
        after = monitor(config, "crawl", "--dns-only")
        assert after.returncode == 0, after.stderr
    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("SELECT id, status FROM crawls ORDER BY id").fetchall() == [(1, "interrupted"),
                                                                                 (2, "complete")]
    # The first crawl's hosts, written before the lock, are still there, extended by the second.
    assert db.execute("SELECT host, first_crawl, last_crawl FROM host_states").fetchall() == [
        ("img.alpha.test", 1, 2)]
