"""`monitor serve`: Datasette over the store, read-only, with canned queries for the common
questions. It never writes to the database: Datasette reads through `mode=ro` connections (or
`immutable=1` for a copy in a folder it cannot write), so browsing never blocks or changes the
nightly crawl's database. Logins are datasette-auth-passwords' (accounts in `serve.accounts`);
without accounts it serves on loopback only, since the list of URLs is itself sensitive."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from pathlib import Path
from typing import Callable

from .. import store
from ..config import Config, account_name
from ..errors import ServeError
from ..store import queries as store_queries
from . import datasette_site
from .datasette_site import PLUGIN

# Datasette shows its metadata, plugin settings included, at /-/metadata.json; a setting given as
# {"$env": NAME} is read from the environment there and not shown, so hashes stay off the page.
HASH_VARIABLE = "MONITOR_SERVE_PASSWORD_HASH_{}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: reachable from this machine only. Other names may resolve
    to anything, so they count as exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(config: Config, host: str) -> None:
    """Refuse to serve beyond loopback without accounts: the URLs point at abuse material."""
    if not config.serve.accounts and not is_loopback(host):
        raise ServeError(
            f"refusing to serve on {host} without logins: add an account to serve.accounts in the "
            f"config (`monitor hash-password NAME` prints the line), or serve on 127.0.0.1")


def check_user(name: str) -> None:
    try:
        account_name(name)
    except ValueError as error:
        raise ServeError(str(error)) from None


def account_line(name: str, password: str) -> str:
    """`NAME: HASH`, a line for serve.accounts (PBKDF2-SHA256, as the plugin checks it)."""
    from datasette_auth_passwords.utils import hash_password

    check_user(name)
    return f"{name}: {hash_password(password)}"


def url(host: str, port: int, path: str = "/") -> str:
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL takes brackets
    return f"http://{shown}:{port}{path}"


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is one clear error, not uvicorn's
    log line after startup."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart after TIME_WAIT
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        where = url(host, port).removeprefix("http://").rstrip("/")
        if error.errno == errno.EADDRINUSE:
            raise ServeError(f"cannot serve on {where}: address already in use; choose another --port") from None
        raise ServeError(f"cannot serve on {where}: {error.strerror or error}") from None
    return sock


def database_files(config: Config) -> dict:
    """Datasette's files= or immutables= for the database, opened as the store's readers open it:
    a copy in a folder this user cannot write (an analyst's read-only copy) is immutable, which
    reads the file alone (and assumes nobody changes it while it is served)."""
    immutable = store.read_only_mode(config) == "immutable=1"
    return {"immutables" if immutable else "files": [str(config.database)]}


def metadata(config: Config) -> dict:
    """Titles, descriptions, units and canned queries. The source and licence of the locations
    are not here: the footer names them from the database's own record (datasette_site)."""
    name = Path(config.database).stem
    # An analyst comes for the answer: the SQL is one click away ("show"), not a wall above it.
    questions = store_queries.canned_queries(config.home_country)
    queries = {key: query | {"hide_sql": True} for key, query in questions.items()}
    tables = {
        "urls": {"description": "Reported URLs, normalised; the hoster is the registrable domain of the host."},
        "hosters": {"description": "Who runs the sites: registrable domains (Public Suffix List) or IPs.",
                    "label_column": "name"},
        "moves": {"description": "Confirmed moves of a hoster's country set (moves.confirm_after crawls)."},
        "relabels": {"description": "Same addresses placed elsewhere by a newer geolocation database: not moves."},
        "hoster_states": {"description": "Each hoster's location over crawls, as intervals (first to last crawl)."},
        "url_states": {"description": "What each crawl saw for each URL, as intervals."},
        "crawls": {"description": "One row per nightly crawl: times, counts, settings and database builds."},
        "sources": {"description": "The geolocation and ASN databases (with their builds) and the services "
                                   "that produced the stored locations."},
        "ip_states": {"description": "Each address's country, ASN, network and CDN over crawls, as intervals."},
        "host_states": {"description": "Each host's DNS answer over crawls (addresses, CNAME chain), as intervals."},
        "takedowns": {"description": "Each time a URL was taken down (removed or its host gone), and whether it "
                                     "reappeared."},
        "rdap_networks": {"description": "Networks from the registries' RDAP: name, handle, range, country, abuse "
                                         "e-mail (a cache)."},
        "asn_prefixes": {"description": "BGP prefixes and their ASN from Team Cymru (a cache)."},
        "hoster_now": {"description": "Each hoster's latest location."},
        "url_now": {"description": "Each URL's latest outcome and latest known location."},
        "url_takedown": {"description": "Time from report to takedown per URL.",
                         "units": {"days_to_takedown": "day"}},
        # Bookkeeping of the schema and of derived tables: nothing an analyst reads.
        "_sqlite_migrations": {"hidden": True},
        "meta": {"hidden": True},
    }
    return {
        "title": "monitor: where reported URLs are hosted",
        "description": "Read-only. Revisits are DNS lookups and HEAD requests; no content is ever fetched.",
        "databases": {name: {"queries": queries, "tables": tables}},
    }


def access(accounts: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """Metadata that lets only these accounts see anything, and the environment it reads the
    hashes from. No accounts: open, which check_exposure allows on loopback only."""
    if not accounts:
        return {}, {}
    names = sorted(accounts)
    environment = {HASH_VARIABLE.format(i): accounts[n] for i, n in enumerate(names)}
    settings = {f"{n}_password_hash": {"$env": HASH_VARIABLE.format(i)} for i, n in enumerate(names)}
    # view-instance is checked last for every page, query and JSON view, so this covers them all.
    return {"allow": {"id": names}, "plugins": {PLUGIN: settings}}, environment


def serve(config: Config, host: str, port: int, say: Callable[[str], None]) -> None:
    """Run Datasette until interrupted. Every check comes before the port is bound."""
    import uvicorn
    from datasette.app import Datasette
    from datasette.plugins import pm

    check_exposure(config, host)
    files = database_files(config)
    extra, environment = access(config.serve.accounts)
    sock = listen(host, port)
    os.environ.update(environment)
    if not pm.is_registered(datasette_site):
        pm.register(datasette_site, name="monitor")
    app = Datasette(**files, metadata=metadata(config) | extra, settings={"default_page_size": 100},
                    template_dir=str(datasette_site.TEMPLATES),
                    static_mounts=[(datasette_site.STATIC_MOUNT, str(datasette_site.STATIC))])
    how = " as an immutable copy" if "immutables" in files else ""
    login = f"; log in at {url(host, port, '/-/login')}" if extra else ""
    say(f"serving {config.database} read-only{how} at {url(host, port)}{login} (Ctrl-C stops)")
    uvicorn.Server(uvicorn.Config(app.app(), log_level="warning")).run(sockets=[sock])
