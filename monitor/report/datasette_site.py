"""The Datasette plugin behind `monitor serve`: what an analyst reads instead of raw storage.

The store keeps lists as JSON, countries as ISO codes and flags as 0/1, which is right for
scripts (the JSON and CSV exports stay exactly as stored) but not for a person reading a page. So
in HTML only: lists become plain text, country codes carry their names, flags read yes/no, every
hoster links to its timeline, and reported URLs are never links (they point at abuse material;
nobody should reach it by a stray click). Each page's footer carries the attribution that the
geolocation databases behind the stored locations require, from monitor.report.attribution (the
one place that knows each licensor's words), as every other output has it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response, asgi_send_redirect
from markupsafe import Markup, escape
from sqlite_utils import Database

from ..countries import country_name, is_country
from ..store import queries as store_queries
from ..store import report as stored_report
from ..urls import InvalidURL, hoster_or_host
from . import attribution
from .attribution import Attribution

PLUGIN = "datasette-auth-passwords"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_MOUNT = "-/monitor"  # served at /-/monitor/..., beside Datasette's own /-/static/
CSS = "monitor.css"

# -- attribution -----------------------------------------------------------------------------------

# database path -> (the store's sources mark, its credits): see credits().
_CREDITS: dict[str, tuple[tuple, list[Attribution]]] = {}


def credits(conn: sqlite3.Connection, key: str) -> list[Attribution]:
    """The credits the footer carries for a database served: monitor.report.attribution's, for the
    whole store, as every other output has them. Kept per database (``key``) until the store's
    sources mark changes, since reading them scans every IP state and every page shows them."""
    db = Database(conn, recursive_triggers=False, execute_plugins=False)
    mark = stored_report.sources_mark(db)
    kept = _CREDITS.get(key)
    if kept is None or kept[0] != mark:
        kept = _CREDITS[key] = (mark, attribution.for_store(db))
    return kept[1]


# -- cells -----------------------------------------------------------------------------------------

_COUNTRY_COLUMN = re.compile(r"(?:^|_)(?:country|countries)$")
_FLAGS = {"cdn", "active", "down_now", "reappeared"}  # 0/1 columns (ip_states.cdn is text: the operator)
_URL = re.compile(r"\s*https?://", re.IGNORECASE)
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")  # how the store writes times (UTC)


def cell(value: object, column: str, table: str | None, timeline: str | None) -> Markup | None:
    """A cell as an analyst reads it, or None for Datasette's own rendering. `timeline` is the
    path of the timeline query, which takes ?hoster= (any host or URL of the hoster)."""
    if column == "destination_has_hotline" and table == "moves" and value in (0, 1, None):
        return Markup({1: "yes", 0: "no", None: "unknown"}[value])  # NULL: the hotline file does not know
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None  # NULL, a float, bytes, or a foreign key Datasette has expanded to a link
    if timeline and isinstance(value, str) and _links_to_timeline(column, table):
        return Markup('<a href="{}?hoster={}">{}</a>').format(timeline, quote(value, safe=""), value)
    if column in _FLAGS and value in (0, 1):
        return Markup("yes" if value else "no")
    if not isinstance(value, str):
        return None
    if value.startswith("["):
        items = _scalar_list(value)
        if items is not None:
            return _list(items, _is_country_column(column))
    if _is_country_column(column) and is_country(value):
        return escape(_country(value))
    if _URL.match(value):
        return escape(value)  # text, not Datasette's automatic link
    if _TIME.fullmatch(value):
        # Day and time each kept whole (browsers would break "2026-03-04T02:00:00Z" after a "-"),
        # so a narrow column puts the time under the day.
        day, _, time = value.partition("T")
        return Markup('<time datetime="{}"><span>{}</span> <span>{} UTC</span></time>').format(value, day, time[:-1])
    return None


def _links_to_timeline(column: str, table: str | None) -> bool:
    # Query results name hosters in a `hoster` column; the tables by their name and their hosts.
    return column == "hoster" or (table == "hosters" and column == "name") or (table == "urls" and column == "host")


def _is_country_column(column: str) -> bool:
    return bool(_COUNTRY_COLUMN.search(column))


def _scalar_list(text: str) -> list | None:
    """The items of a JSON list of strings and numbers, or None for anything else (crawls.sources
    is a list of objects: it stays JSON)."""
    try:
        items = json.loads(text)
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(i, (str, int, float)) for i in items):
        return None
    return items


def _list(items: list, countries: bool) -> Markup:
    if not items:
        return Markup('<span class="none">none</span>')
    shown = [_country(i) if countries and isinstance(i, str) else str(i) for i in items]
    # One item a line: country and AS names may hold commas ("Virgin Islands, British", "Amazon.com, Inc.").
    return Markup("<br>").join(escape(s) for s in shown)


def _country(code: str) -> str:
    name = country_name(code)
    return code if name == code else f"{code} {name}"


# -- the timeline accepts any host or URL of the hoster --------------------------------------------

_TIMELINE_PATH = re.compile(r"/(?P<database>[^/]+)/timeline(?:\.\w+)?")


def timeline_redirect(path: str, query_string: bytes, databases: Iterable[str]) -> str | None:
    """Where to send a request for the timeline query whose ?hoster= is a host, an IP or a URL
    rather than the hoster's name (the query's SQL can only compare names), or None. The same
    path (and format) with the hoster's name: the page and its form then show what was looked up."""
    match = _TIMELINE_PATH.fullmatch(path)
    if not match or match["database"] not in databases:
        return None
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    given = next((v for k, v in pairs if k == "hoster"), "")
    try:
        name = hoster_or_host(given) if given.strip() else given
    except InvalidURL:
        return None  # not a host or URL at all: the query finds nothing, as for an unknown name
    if name == given:
        return None
    return f"{path}?{urlencode([(k, name if k == 'hoster' else v) for k, v in pairs])}"


# -- Datasette hooks -------------------------------------------------------------------------------


@hookimpl
def render_cell(value, column, table, database, datasette):
    timeline = datasette.urls.query(database, "timeline") if database else None
    return cell(value, column, table, timeline)


@hookimpl
def prepare_connection(conn):
    store_queries.register_functions(conn)


@hookimpl
def extra_css_urls(datasette):
    return [datasette.urls.path(f"/{STATIC_MOUNT}/{CSS}")]


@hookimpl
def extra_template_vars(template, database, request, datasette):
    async def variables():
        db = datasette.get_database(database) if database else datasette.get_database()
        found: dict = {"geo_attributions": await db.execute_fn(lambda conn: credits(conn, db.path or db.name))}
        actor = request.actor if request else None
        if template == "index.html":
            names = [name for name in datasette.databases if name != "_internal"]
            found["questions"] = [q for name in names for q in await _questions(datasette, name, actor)]
            found["front_tables"] = [t for name in names for t in await _tables(datasette, name)]
        elif template == "database.html" and database:
            found["questions"] = await _questions(datasette, database, actor)
        return found

    return variables


async def _questions(datasette, database: str, actor) -> list[dict]:
    """A database's canned queries as the front page lists them: link, title and description."""
    queries = await datasette.get_canned_queries(database, actor)
    return [{"href": datasette.urls.query(database, q["name"]), "title": q.get("title") or q["name"],
             "description": q.get("description") or ""} for q in queries.values()]


async def _tables(datasette, database: str) -> list[dict]:
    """A database's tables and views for the front page: those with a description (in the order
    the metadata gives them, which puts an analyst's first) before the rest; hidden ones left out."""
    db = datasette.get_database(database)
    described = list(datasette.metadata("tables", database=database) or {})
    hidden = set(await db.hidden_table_names())
    views = await db.view_names()
    names = [n for n in await db.table_names() if n not in hidden] + views
    names.sort(key=lambda n: (described.index(n) if n in described else len(described), n))
    counts = await db.table_counts(limit=10)

    def description(table: str) -> str:
        return datasette.metadata("description", database=database, table=table, fallback=False) or ""

    return [{"name": n, "href": datasette.urls.table(database, n), "view": n in views, "count": counts.get(n),
             "description": description(n)} for n in names]


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def normalise_timeline(scope, receive, send):
            if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
                location = timeline_redirect(scope["path"], scope.get("query_string", b""), datasette.databases)
                if location:
                    await asgi_send_redirect(send, location)
                    return
            await app(scope, receive, send)

        return normalise_timeline

    return wrap


@hookimpl
def forbidden(datasette, request):
    """A browser not logged in goes to the login form, which a bare 403 page does not link;
    scripts (no text/html in Accept) keep the 403."""
    if request.actor is None and datasette.plugin_config(PLUGIN) and "text/html" in request.headers.get("accept", ""):
        return Response.redirect(datasette.urls.path("/-/login"))
    return None
