"""The configuration: one YAML file -> one validated, typed object.

Lookup order (design): --config FILE, then $MONITOR_CONFIG, then ./config.yaml, then built-in
defaults. Relative paths in a file are taken relative to that file, so a config works from any
working directory (cron starts jobs in $HOME).
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic_core import ErrorDetails
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from .countries import is_country
from .errors import ConfigError

ENV_VAR = "MONITOR_CONFIG"
DEFAULT_FILE = "config.yaml"


def country_code(code: str) -> str:
    """An ISO 3166-1 alpha-2 code in any case, upper-cased; the config and every country option
    refuse anything else with this one message."""
    if not is_country(code.upper()):
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (e.g. NL, DE, US)")
    return code.upper()


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def account_name(name: str) -> str:
    # ASCII: the plugin decodes HTTP Basic credentials as ASCII.
    if not re.fullmatch(r"[A-Za-z0-9._@-]+", name):
        raise ValueError(f"{name!r} is not a user name: ASCII letters, digits, '.', '_', '@' and '-' only")
    # The plugin finds an account by its key "NAME_password_hash", cut at the first such suffix.
    if "_password_hash" in name:
        raise ValueError(f"{name!r} is not a user name: it may not contain '_password_hash'")
    return name


def _password_hash(text: str) -> str:
    # The plugin's own format; anything else would fail at login, not here, without this check.
    if not re.fullmatch(r"pbkdf2_sha256\$[1-9][0-9]*\$[^$\s]+\$[A-Za-z0-9+/]+=*", text):
        raise ValueError("not a password hash: paste the line `monitor hash-password NAME` prints")
    return text


Country = Annotated[StrictStr, AfterValidator(country_code)]
Registry = Literal["arin", "ripencc", "apnic", "lacnic", "afrinic"]
IPAddress = Annotated[StrictStr, AfterValidator(_ip)]
AccountName = Annotated[StrictStr, AfterValidator(account_name)]
PasswordHash = Annotated[StrictStr, AfterValidator(_password_hash)]


class _Section(BaseModel):
    # Strict scalar types below: "yes" is not a bool and "10" is not an int.
    # extra="forbid": a misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DNS(_Section):
    nameservers: tuple[IPAddress, ...] = ()
    port: StrictInt = Field(53, ge=1, le=65535)
    timeout: StrictFloat = Field(3.0, gt=0)


class Downloads(_Section):
    # {year} and {month} are filled in; DB-IP publishes one file a month.
    country_url: StrictStr = "https://download.db-ip.com/free/dbip-country-lite-{year}-{month}.mmdb.gz"
    asn_url: StrictStr = "https://download.db-ip.com/free/dbip-asn-lite-{year}-{month}.mmdb.gz"


class GeoIP(_Section):
    country_db: Path | None = Path("data/dbip-country-lite.mmdb")
    asn_db: Path | None = Path("data/dbip-asn-lite.mmdb")
    download: Downloads = Downloads()


class ASN(_Section):
    cymru_dns: StrictBool = True


RDAP_SERVERS: dict[Registry, str] = {
    "arin": "https://rdap.arin.net/registry",
    "ripencc": "https://rdap.db.ripe.net",
    "apnic": "https://rdap.apnic.net",
    "lacnic": "https://rdap.lacnic.net/rdap",
    "afrinic": "https://rdap.afrinic.net/rdap",
}


# Queries a minute per registry; LACNIC allows about 10. A registry left out: 60.
RATE_LIMITS: dict[Registry, float] = {"lacnic": 10.0}


class RDAP(_Section):
    enabled: StrictBool = True
    cache_days: StrictInt = Field(30, ge=0)
    servers: dict[Registry, StrictStr] = Field(default_factory=lambda: dict(RDAP_SERVERS))
    rate_limits: dict[Registry, Annotated[StrictFloat, Field(gt=0)]] = Field(default_factory=lambda: dict(RATE_LIMITS))
    timeout: StrictFloat = Field(10.0, gt=0)


BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://")


def broker_url(url: str) -> str:
    """A Celery broker URL this package can use: Redis or RabbitMQ (AMQP)."""
    if not url.startswith(BROKER_SCHEMES):
        raise ValueError(f"{hide_password(url)!r} is not a broker URL: redis://... or amqp://... "
                         "(null: crawl on this machine)")
    return url


def hide_password(url: str) -> str:
    """A URL fit for a message: whatever follows the user name before the '@' as ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


BrokerURL = Annotated[StrictStr, AfterValidator(broker_url)]


class Crawl(_Section):
    mode: Literal["head", "dns-only"] = "head"
    # Worker processes sharing a crawl, each taking whole hosts; None: one per core.
    processes: StrictInt | None = Field(None, ge=1)
    concurrency: StrictInt = Field(64, ge=1)
    per_host_concurrency: StrictInt = Field(2, ge=1)
    timeout: StrictFloat = Field(20.0, gt=0)
    retries: StrictInt = Field(1, ge=0)
    user_agent: StrictStr = "monitor/0.1 (hosting-location monitor; +https://github.com/monitor-hotlines/monitor)"
    allow_private_addresses: StrictBool = False
    log_file: Path | None = Path("data/crawl.log")
    # Names that must resolve (through dns.nameservers) for the crawl to trust its own eyes.
    canaries: tuple[StrictStr, ...] = ()
    # Share of hosts whose lookup said nothing (timeout, SERVFAIL, REFUSED, error) above which the
    # crawl is degraded: more likely our resolver or network than that many hosters at once.
    degraded_share: StrictFloat = Field(0.5, gt=0, le=1)
    # Share of networks (ASNs; a prefix where the ASN is unknown) in which (nearly) every URL
    # revisited over HTTP was unreachable (timeout, refused, network error), above which a head
    # crawl is degraded: one network down is a hoster's fault, many unrelated ones at once ours.
    degraded_networks: StrictFloat = Field(0.5, gt=0, le=1)
    # Networks (each with at least 3 URLs revisited over HTTP) needed for that judgement at all.
    degraded_min_networks: StrictInt = Field(3, ge=1)
    # Celery: None crawls on this machine; a redis:// or amqp:// URL sends the URLs in batches to
    # `monitor worker` processes that reach that broker.
    broker: BrokerURL | None = None
    # URLs per task; a host's URLs are never split. Each task starts a Scrapy process (about a
    # second of CPU) and a URL costs a worker about 2.5 ms of CPU: 500-URL batches spent nearly half
    # their time starting, 5,000-URL batches under a tenth.
    batch_size: StrictInt = Field(5000, ge=1)
    batch_timeout: StrictFloat = Field(600.0, gt=0)  # seconds before a batch is sent again
    worker_wait: StrictFloat = Field(60.0, gt=0)  # seconds to wait for a worker to answer


class Moves(_Section):
    confirm_after: StrictInt = Field(2, ge=1)


def _notify_target(url: str) -> str:
    from .notify import is_target  # apprise loads only for a config that names targets

    if not is_target(url):
        raise ValueError(f"{url!r} is not a notification URL apprise knows (e.g. mailto://..., json://host/path)")
    return url


NotifyTarget = Annotated[StrictStr, AfterValidator(_notify_target)]


class Notify(_Section):
    # apprise URLs told of new confirmed moves and degraded crawls after each crawl.
    urls: tuple[NotifyTarget, ...] = ()


class Serve(_Section):
    # User name -> PBKDF2 hash. Empty: no logins, and serving beyond loopback is refused.
    accounts: dict[AccountName, PasswordHash] = Field(default_factory=dict)


class Config(_Section):
    database: Path = Path("data/monitor.db")
    database_lock_wait: StrictFloat = Field(30.0, ge=0)
    home_country: Country = "NL"
    dns: DNS = DNS()
    geoip: GeoIP = GeoIP()
    asn: ASN = ASN()
    rdap: RDAP = RDAP()
    crawl: Crawl = Crawl()
    moves: Moves = Moves()
    serve: Serve = Serve()
    notify: Notify = Notify()
    # Where the settings came from (None: built-in defaults); not a key of the file.
    source: Path | None = Field(None, exclude=True)
    # Whether the file names the database: only the default folder is created on demand, so a
    # typo in `database` is an error instead of a new, empty database.
    database_given: bool = Field(False, exclude=True)


def load(path: str | os.PathLike | None = None) -> Config:
    """The configuration the design's lookup order finds."""
    if path is not None:
        return load_file(Path(path))
    if os.environ.get(ENV_VAR):
        return load_file(Path(os.environ[ENV_VAR]), how=f"${ENV_VAR}")
    if Path(DEFAULT_FILE).is_file():
        return load_file(Path(DEFAULT_FILE))
    return Config()


def load_file(path: Path, how: str = "") -> Config:
    named = f"{path} (from {how})" if how else str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{named}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{named}: cannot read config file: {error}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as error:
        raise ConfigError(f"{named}, line {error.line}: key {error.key!r} is given twice; keep one") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f", line {where.line + 1}" if where else ""
        raise ConfigError(f"{named}{line}: not valid YAML: {getattr(error, 'problem', error)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{named}: expected a mapping of keys at the top level")
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_explain(named, error)) from None
    return _anchor(config, path.parent).model_copy(update={"source": path, "database_given": "database" in data})


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; a config that says a thing twice
    is a mistake to point at, not to guess."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _anchor(config: Config, base: Path) -> Config:
    """Relative paths of a file's config, given or default, are relative to the file's folder."""

    def anchored(path: Path | None) -> Path | None:
        return base / path if path is not None and not path.is_absolute() else path

    return config.model_copy(update={
        "database": anchored(config.database),
        "geoip": config.geoip.model_copy(update={"country_db": anchored(config.geoip.country_db),
                                                 "asn_db": anchored(config.geoip.asn_db)}),
        "crawl": config.crawl.model_copy(update={"log_file": anchored(config.crawl.log_file)}),
    })


# pydantic's messages in the words of a config file (no "valid tuple" or "dictionary").
_PLAIN = {
    "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number", "float_parsing": "must be a number",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "string_type": "must be text", "tuple_type": "must be a list", "list_type": "must be a list",
    "dict_type": "must be a section of keys", "model_type": "must be a section of keys",
    "model_attributes_type": "must be a section of keys", "path_type": "must be a file path",
}
_BOUNDS = {"greater_than": "more than", "greater_than_equal": "at least", "less_than": "less than",
           "less_than_equal": "at most"}


def _plain(problem: ErrorDetails) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        return "unknown key (see the commented config.yaml shipped with monitor)"
    if kind == "value_error":
        return problem["msg"].removeprefix("Value error, ")
    if kind in _BOUNDS:
        bound = next(iter(problem.get("ctx", {}).values()), "")
        message = f"must be {_BOUNDS[kind]} {bound}"
    elif kind == "literal_error":
        message = "must be one of " + problem.get("ctx", {}).get("expected", "").replace("'", "")
    else:
        message = _PLAIN.get(kind) or problem["msg"].replace("Input should be", "must be")
    if not isinstance(problem.get("input"), dict):
        message += f" (got {problem['input']!r})"
    return message


def _explain(named: str, error: ValidationError) -> str:
    lines = [f"{named}: invalid configuration"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"] if part != "[key]")
        lines.append(f"  {key}: {_plain(problem)}")
    return "\n".join(lines)
