from pathlib import Path

import pytest

from monitor import config
from monitor.errors import ConfigError

ROOT = Path(__file__).parent.parent


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_shipped_config_is_valid_and_equals_the_defaults():
    shipped = config.load_file(ROOT / "config.yaml")
    defaults = config.Config()
    paths = {"database": True, "geoip": True, "crawl": {"log_file"}}
    assert shipped.model_dump(exclude=paths) == defaults.model_dump(exclude=paths)
    assert shipped.database == ROOT / defaults.database
    assert shipped.crawl.log_file == ROOT / defaults.crawl.log_file


def test_every_key_of_the_shipped_config_has_a_comment():
    lines = (ROOT / "config.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        # Sections and their keys; the registry map under rdap.servers is one commented value.
        if line.strip() and not line.lstrip().startswith("#") and indent <= 2:
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#") or "#" in line, f"config.yaml line {number + 1} has no comment: {line}"


def test_values_are_typed_and_relative_paths_follow_the_file(tmp_path):
    loaded = config.load_file(write(tmp_path, "database: db/x.db\ndns:\n  nameservers: [127.0.0.1, '::1']\n  timeout: 1\n"))
    assert loaded.database == tmp_path / "db" / "x.db"
    assert loaded.crawl.log_file == tmp_path / "data" / "crawl.log"  # a default path follows the file too
    assert loaded.geoip.country_db == tmp_path / "data" / "dbip-country-lite.mmdb"
    assert loaded.dns.nameservers == ("127.0.0.1", "::1")
    assert loaded.dns.timeout == 1.0
    assert loaded.source == tmp_path / "config.yaml"


@pytest.mark.parametrize(
    "text, key, says",
    [
        ("databse: x.db\n", "databse", "unknown key"),
        ("dns:\n  prot: 53\n", "dns.prot", "unknown key"),
        ("dns:\n  port: '53'\n", "dns.port", "must be a whole number (got '53')"),
        ("dns:\n  port: 70000\n", "dns.port", "must be at most 65535"),
        ("dns:\n  nameservers: 9.9.9.9\n", "dns.nameservers", "must be a list"),
        ("dns:\n  nameservers: [dns.example]\n", "dns.nameservers.0", "not an IP address"),
        ("home_country: XX\n", "home_country", "not an ISO 3166-1"),
        ("home_country: NLD\n", "home_country", "not an ISO 3166-1"),
        ("crawl:\n  mode: get\n", "crawl.mode", "must be one of head or dns-only (got 'get')"),
        ("crawl:\n  allow_private_addresses: 'no'\n", "crawl.allow_private_addresses", "must be true or false"),
        ("rdap:\n  servers:\n    ripe: http://127.0.0.1/\n", "rdap.servers.ripe", "must be one of arin, ripencc"),
        ("moves:\n  confirm_after: 0\n", "moves.confirm_after", "must be at least 1 (got 0)"),
        ("dns: 53\n", "dns", "must be a section of keys"),
        ("crawl:\n  broker: http://broker.example/\n", "crawl.broker", "is not a broker URL: redis://... or amqp://..."),
        ("crawl:\n  batch_size: 0\n", "crawl.batch_size", "must be at least 1 (got 0)"),
        ("crawl:\n  batch_timeout: 0\n", "crawl.batch_timeout", "must be more than 0"),
    ],
)
def test_invalid_values_name_the_file_and_the_key(tmp_path, text, key, says):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        config.load_file(path)
    message = str(error.value)
    assert str(path) in message
    assert f"  {key}: " in message
    assert says in message
    assert "Input should" not in message and "a valid" not in message  # pydantic's words stay inside


def test_country_codes_in_any_case(tmp_path):
    assert config.load_file(write(tmp_path, "home_country: nl\n")).home_country == "NL"
    assert config.country_code("de") == "DE"
    with pytest.raises(ValueError, match="'xx' is not an ISO 3166-1 alpha-2 country code"):
        config.country_code("xx")


def test_a_key_given_twice_is_an_error_naming_it_and_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r"config.yaml, line 4: key 'dns' is given twice"):
        config.load_file(write(tmp_path, "dns:\n  port: 53\nhome_country: DE\ndns:\n  timeout: 1.0\n"))
    with pytest.raises(ConfigError, match=r"line 3: key 'port' is given twice"):
        config.load_file(write(tmp_path, "dns:\n  port: 53\n  port: 54\n"))


def test_broken_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"config.yaml, line 2: not valid YAML"):
        config.load_file(write(tmp_path, "database: x\n\tdns: 1\n"))


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="mapping"):
        config.load_file(write(tmp_path, "- a\n- b\n"))


def test_empty_file_means_defaults(tmp_path):
    assert config.load_file(write(tmp_path, "# nothing\n")).moves.confirm_after == 2


def test_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    assert config.load().source is None  # built-in defaults
    (tmp_path / "config.yaml").write_text("home_country: DE\n")
    assert config.load().home_country == "DE"  # ./config.yaml
    env_file = tmp_path / "env.yaml"
    env_file.write_text("home_country: BE\n")
    monkeypatch.setenv(config.ENV_VAR, str(env_file))
    assert config.load().home_country == "BE"  # $MONITOR_CONFIG beats ./config.yaml
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("home_country: FR\n")
    assert config.load(explicit).home_country == "FR"  # --config beats all


def test_missing_files_are_errors_naming_them(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        config.load(tmp_path / "nope.yaml")
    monkeypatch.setenv(config.ENV_VAR, str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match=r"gone.yaml \(from \$MONITOR_CONFIG\): config file not found"):
        config.load()


def test_cli_config_error_is_one_message_without_traceback(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from monitor.cli import cli

    path = write(tmp_path, "crawl:\n  concurrency: many\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "stats"])
    assert result.exit_code == 1
    assert "crawl.concurrency" in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.output


def test_a_broker_url_is_checked_without_showing_its_password(tmp_path):
    message = ""
    with pytest.raises(ConfigError) as error:
        config.load_file(write(tmp_path, "crawl:\n  broker: redis:/monitor:s3cret@10.0.0.5:6379/0\n"))
    message = str(error.value)
    assert "crawl.broker" in message and "s3cret" not in message and "***@10.0.0.5" in message
    loaded = config.load_file(write(tmp_path, "crawl:\n  broker: amqp://monitor:s3cret@10.0.0.5:5672/monitor\n"
                                              "  batch_timeout: 30\n"))
    assert loaded.crawl.broker == "amqp://monitor:s3cret@10.0.0.5:5672/monitor"
    assert loaded.crawl.batch_timeout == 30.0 and loaded.crawl.batch_size == 5000
