"""Shared fixtures: a temporary store and a CLI runner bound to a config in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.store import open_store

DATA = Path(__file__).parent / "data"


@pytest.fixture
def db(tmp_path):
    store = open_store(tmp_path / "monitor.db")
    yield store
    store.close()


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("database: monitor.db\nhome_country: NL\n")
    return path


@pytest.fixture
def run(config_file, monkeypatch):
    """Run `monitor --config <tmp config> ARGS...` through Click's runner."""
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--config", str(config_file), *args], catch_exceptions=False)

    return invoke
