"""The `monitor` command: a thin skin over the library.

It parses options, calls one library function, prints the result, and turns MonitorError into a
one-line message with exit 1 (click's usage errors exit 2). Nothing else belongs here.
"""

from __future__ import annotations

import json
import sys
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Any

import click
from sqlite_utils import Database

from . import config as config_module
from . import detect
from . import intake
from . import retire as retirement
from .errors import MonitorError, ReadOnlyDatabase
from .logs import log_to_file
from .store.takedowns import degraded_crawls
from .takedowns import refresh_takedowns
from .crawl import run
from .report import attribution, views
from .resolve import lookup as resolve_lookup
from .resolve import update
from .report.formats import FORMATS, REPORT_FORMATS, render, render_object
from . import store


def _late_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_root().obj = value


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MonitorError as error:
            raise click.ClickException(str(error)) from None
        except store.Error as error:  # a lock or a read-only file met half-way through a command
            raise click.ClickException(str(store.explain(error, _where(ctx)))) from None

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        # `monitor crawl --config F` as well as `monitor --config F crawl`: users put it either way.
        cmd.params.append(click.Option(
            ["--config", "config_path"], type=click.Path(dir_okay=False, path_type=Path), expose_value=False,
            callback=_late_config, help="Config file (may also come before the command)."))
        super().add_command(cmd, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Click cuts each summary at about 45 characters; ours are written to be read whole.
        rows = [(name, " ".join((command.help or "").split("\n\n")[0].split()))
                for name, command in self.commands.items() if not command.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _format_option(func):
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
        help="Output format.",
    )(func)


def _country(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    try:
        return None if value is None else config_module.country_code(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _country_option(*names: str, help: str):
    return click.option(*names, metavar="CC", callback=_country, help=help)


@click.group(cls=_Group, name="monitor")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $MONITOR_CONFIG, else ./config.yaml, else built-in defaults).",
)
@click.version_option(package_name="monitor", prog_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Revisit reported URLs and track where their hosters are hosted.

    monitor never fetches content: revisits are DNS lookups and HEAD requests.
    """
    ctx.obj = config_path


def _config(ctx: click.Context) -> config_module.Config:
    return config_module.load(ctx.find_root().obj)


def _where(ctx: click.Context) -> store.Where | str:
    try:
        config = _config(ctx)
    except MonitorError:
        return "the database"
    return store.Where(config.database, config.source)


def _writer(ctx: click.Context) -> Database:
    """The database for a command that writes: created and upgraded as needed."""
    return store.writer(_config(ctx))


def _reader(ctx: click.Context) -> Database:
    """The database for a command that only reads: opened read-only, never changed."""
    db = store.reader(_config(ctx))
    if pending := store.pending_upgrade(db):
        click.echo(f"note: the database is at an older schema ({len(pending)} step(s) to go); the next "
                   "command that writes (crawl, import, refresh) upgrades it. Showing what is there.", err=True)
    return db


def _credits(db: Database) -> list[dict]:
    """The attribution the store's geolocation and ASN databases require, as JSON objects."""
    return [a.to_json() for a in attribution.for_store(db)]


def _echo_output(text: str, output: str | None) -> None:
    """Text to standard output, or to the --output file ('-' is standard output)."""
    if output in (None, "-"):
        click.echo(text)
        return
    try:
        Path(output).write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"--output {output}: cannot write: {error.strerror or error}") from None
    click.echo(f"wrote {output}", err=True)


def _print_reject(rejected: intake.Rejected) -> None:
    click.echo(f"rejected {rejected}", err=True)


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def import_(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Import reported URLs from text files (a URL a line, # comments) or CSV files (a `url`
    column; optional reported_at, reference, source; other columns are ignored).

    Each file is one transaction. Rejected lines are listed on stderr with file, line and reason.
    """
    db = _writer(ctx)
    total = intake.ImportResult()
    for path in files:
        try:
            result = intake.import_file(db, path, _print_reject)
        except MonitorError as error:
            click.echo(f"error: {error}", err=True)
            total.failed_files.append(str(path))
            continue
        if len(files) > 1:
            click.echo(f"{path}: {result.summary()}")
        total += result
    click.echo(("total: " if len(files) > 1 else "") + total.summary())
    if len(total.failed_files) == len(files):
        raise click.ClickException("nothing could be read")


def _reported_at(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # Checked before anything is written, so that a mistyped date is a usage error naming the
    # option rather than every URL rejected one by one.
    if value is None:
        return None
    try:
        return intake.parse_reported_at(value)
    except ValueError as error:  # InvalidURL, which parse_reported_at raises, is a ValueError
        raise click.BadParameter(str(error), ctx, param) from None


@cli.command()
@click.argument("urls", nargs=-1, required=True)
@click.option("--reported-at", metavar="DATE", callback=_reported_at,
              help="When they were reported: YYYY-MM-DD or an ISO 8601 date-time (UTC unless it has a zone).")
@click.option("--reference", metavar="TEXT", help="The report's reference (e.g. a case number), kept with each URL.")
@click.option("--source", metavar="TEXT", default="command line", show_default=True, help="Where they came from.")
@click.pass_context
def add(ctx: click.Context, urls: tuple[str, ...], reported_at: str | None, reference: str | None,
        source: str) -> None:
    """Add reported URLs given as arguments, with the fields a CSV row can carry (the same for
    each URL). A URL already known is left as it is."""
    db = _writer(ctx)
    result = intake.add_urls(db, urls, _print_reject, reported_at=reported_at, reference=reference, source=source)
    click.echo(result.summary())


def _print_unknown(unknown: intake.Rejected) -> None:
    click.echo(f"unknown {unknown}", err=True)


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
              help="A file of URLs, read as `monitor import` reads one.")
@click.option("--hoster", metavar="HOSTER", help="Every URL of this hoster (or of the hoster of this host or URL).")
@click.option("--undo", is_flag=True, help="Bring them back: revisit them again.")
@click.pass_context
def retire(ctx: click.Context, urls: tuple[str, ...], path: Path | None, hoster: str | None, undo: bool) -> None:
    """Stop revisiting reported URLs (any spelling), keeping their history; --undo brings them back.

    Unknown URLs are listed on stderr with file (or argument), line and reason.
    """
    if sum(map(bool, (urls, path, hoster))) != 1:
        raise click.UsageError("give URLs, --file FILE or --hoster HOSTER: one of the three")
    db = store.writer(_config(ctx), create=False)
    if hoster:
        result = retirement.retire_hoster(db, hoster, undo=undo)
    elif path:
        result = retirement.retire_file(db, path, _print_unknown, undo=undo)
    else:
        result = retirement.retire_urls(db, urls, _print_unknown, undo=undo)
    click.echo(result.summary())


@cli.command()
@_country_option("--country", help="Only hosters whose latest location includes this country (ISO code).")
@_format_option
@click.pass_context
def hosters(ctx: click.Context, country: str | None, fmt: str) -> None:
    """Hosters with their reported URLs and latest location."""
    db = _reader(ctx)
    credit = attribution.plain(attribution.for_store(db))
    click.echo(render(views.hosters(db, country), fmt, views.HOSTER_COLUMNS, credit))


@cli.command()
@click.option("--by", type=click.Choice(views.STATS_BY), help="Group reported URLs by this.")
@_format_option
@click.pass_context
def stats(ctx: click.Context, by: str | None, fmt: str) -> None:
    """Totals, or reported URLs by country, ASN or month."""
    db = _reader(ctx)
    rows, columns = views.stats(db, by)
    credit = attribution.plain(attribution.for_store(db)) if by in views.STATS_PLACED else None
    click.echo(render(rows, fmt, columns, credit))


@cli.command()
@click.argument("url")
@_format_option
@click.pass_context
def history(ctx: click.Context, url: str, fmt: str) -> None:
    """A reported URL (any spelling of it) as stored, with what each crawl saw."""
    db = _reader(ctx)
    click.echo(render_object(views.history(db, url), fmt, views.HISTORY_PERIOD_COLUMNS,
                             attribution=_credits(db)))


@cli.command()
@click.argument("query", metavar="HOST_OR_IP")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def lookup(ctx: click.Context, query: str, fmt: str) -> None:
    """Resolve and enrich one host, IP or URL as the crawl would: DNS, country, ASN, registry
    country and prefix (Team Cymru), RDAP network and abuse contacts, CDN marking."""
    config = _config(ctx)
    try:
        db = store.writer(config)  # the store holds the Cymru and RDAP caches
    except ReadOnlyDatabase:
        click.echo("note: the database is read-only here; Team Cymru and RDAP answers are read from its "
                   "caches but new ones are not kept", err=True)
        db = store.reader(config)
    with closing(db) if db is not None else nullcontext():
        result = resolve_lookup.lookup(config, query, db)
    credits = attribution.attributions(
        (s["name"], s["build"] or "") for address in result["addresses"] for s in address["sources"].values())
    if fmt == "json":
        click.echo(json.dumps({**result, "attribution": [a.to_json() for a in credits]}, indent=2, ensure_ascii=False))
        return
    dns = result["dns"]
    click.echo(f"{result['host']} (hoster {result['hoster']}): DNS {dns['status']}"
               + (f" via {' -> '.join(dns['cname_chain'])}" if dns["cname_chain"] else ""))
    if result["addresses"]:
        click.echo(render(resolve_lookup.lookup_rows(result), "table"))
        if credits:
            click.echo(f"\nSources: {attribution.plain(credits)}")


@cli.command("update-databases")
@click.pass_context
def update_databases(ctx: click.Context) -> None:
    """Download this month's DB-IP Lite Country and ASN databases (CC BY 4.0) to the paths in
    geoip.country_db and geoip.asn_db; a failed download keeps the old file."""
    results = update.update_databases(_config(ctx).geoip)
    for result in results:
        click.echo(str(result), err=not result.ok)


@cli.command()
@click.option("--dns-only", is_flag=True, help="Resolve and enrich every host; no HTTP at all.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N reported URLs (a trial).")
@click.pass_context
def crawl(ctx: click.Context, dns_only: bool, limit: int | None) -> None:
    """One nightly revisit of every active reported URL: DNS, enrichment, then a HEAD request
    (never a body). Refuses to start while another crawl runs on the same database. Exits 1 when
    the crawl was degraded (it could not see), so that cron mails it."""
    config = _config(ctx)
    log_to_file(config.crawl.log_file, config_file=config.source)
    if not sys.stdout.isatty():  # cron: one line, details in the log file
        summary = run.run_crawl(config, dns_only=dns_only, limit=limit)
        click.echo(summary.line())
    else:
        with _ProgressBars() as bars:
            summary = run.run_crawl(config, dns_only=dns_only, limit=limit, progress=bars.update)
        click.echo(render(views.crawl_summary_rows(summary), "table"))
        if config.crawl.log_file:
            click.echo(f"details: {config.crawl.log_file}")
    if summary.degraded:
        click.echo(f"crawl {summary.crawl_id} was degraded: {summary.degraded}", err=True)
        ctx.exit(1)


@cli.command()
@click.option("--broker", envvar="MONITOR_BROKER", metavar="URL",
              help="redis://... or amqp://... (default: $MONITOR_BROKER, else crawl.broker of the config).")
@click.option("--concurrency", type=click.IntRange(min=1), help="Batches at once (default: one per core).")
@click.option("--name", help="This worker's name in observations (default: HOSTNAME:PID).")
@click.pass_context
def worker(ctx: click.Context, broker: str | None, concurrency: int | None, name: str | None) -> None:
    """Revisit the batches a `monitor crawl` with crawl.broker sends, until stopped. Needs only
    this package and the broker: no database, no geolocation files."""
    from .crawl.tasks import run_worker

    broker = broker or _config(ctx).crawl.broker
    if not broker:
        raise click.UsageError("no broker: give --broker URL, set MONITOR_BROKER, or crawl.broker in the config")
    try:
        code = run_worker(broker, concurrency=concurrency, name=name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--broker") from None
    ctx.exit(code)


class _ProgressBars:
    """One rich progress bar per phase of a crawl (resolve, enrich, crawl), on the terminal only."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bars = Progress(TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn())
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _ProgressBars:
        self.bars.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bars.stop()

    def update(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.bars.add_task(phase, total=total)
        self.bars.update(self.tasks[phase], completed=done, total=total)


@cli.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Moves confirmed on or after this date.")
@_country_option("--from", "from_country", help="Moves out of a set holding this country.")
@_country_option("--to", "to_country", help="Moves into a set holding this country.")
@click.option("--kind", type=click.Choice(detect.KINDS))
@click.option("--hoster", help="One hoster (or a host or URL of it).")
@click.option("--relabels", is_flag=True, help="List relabels instead: same addresses, placed "
              "elsewhere by a newer geolocation database (not moves).")
@_format_option
@click.pass_context
def moves(ctx: click.Context, since, from_country, to_country, kind, hoster, relabels: bool, fmt: str) -> None:
    """Confirmed moves of hosters between countries, oldest first."""
    config = _config(ctx)
    db = _reader(ctx)
    _note_stale_moves(db, config, since.date().isoformat() if since else None)
    credit = attribution.plain(attribution.for_store(db))
    if relabels:
        click.echo(render(detect.list_relabels(db), fmt, detect.RELABEL_FIELDS, credit))
        return
    where = detect.MoveFilter(since=since.date().isoformat() if since else None, from_country=from_country,
                              to_country=to_country, kind=kind, hoster=hoster)
    click.echo(render(detect.list_moves(db, where), fmt, detect.MOVE_FIELDS, credit))


def _note_stale_moves(db: Database, config: config_module.Config, since: str | None = None) -> None:
    if stale := detect.moves_stale(db, config):
        click.echo(f"note: {stale}; run `monitor refresh` to bring them up to date. Showing what is stored.",
                   err=True)
    if degraded := degraded_crawls(db, since):
        listed = ", ".join(f"{crawl_id} ({started[:10]}: {why})" for crawl_id, started, why in degraded)
        click.echo(f"note: {len(degraded)} crawl(s){' since ' + since if since else ''} could not see and confirm "
                   f"no move: {listed}", err=True)


@cli.command()
@click.pass_context
def refresh(ctx: click.Context) -> None:
    """Derive the moves, relabels and takedowns again from the stored history, as every crawl does
    at its end: needed after a change of home_country or moves.confirm_after."""
    config = _config(ctx)
    with closing(_writer(ctx)) as db:
        detect.refresh_moves(db, config)
        refresh_takedowns(db, config)
        moves_found, relabels_found = detect.count_moves(db)
        click.echo(f"{moves_found} moves and {relabels_found} relabels (home_country {config.home_country}, "
                   f"confirm_after {config.moves.confirm_after})")


@cli.command()
@click.argument("hoster")
@click.option("--format", "fmt", type=click.Choice([*FORMATS, "png", "svg"]), default="table", show_default=True)
@click.option("--output", help="File for png, svg, csv or json ('-': standard output).")
@click.pass_context
def timeline(ctx: click.Context, hoster: str, fmt: str, output: str | None) -> None:
    """A hoster's locations as periods (a new one when its countries or ASNs change), or a chart."""
    if fmt in ("png", "svg") and output is None:
        raise click.UsageError(f"--format {fmt} needs --output FILE ('-' for standard output)")
    if fmt == "table" and output is not None:
        raise click.UsageError("--output goes with --format png, svg, csv or json; a table is for the terminal")
    if output not in (None, "-") and not Path(output).parent.is_dir():
        raise click.UsageError(f"--output {output}: the folder {Path(output).parent} does not exist")
    db = _reader(ctx)
    shown = detect.timeline(db, hoster)
    if fmt not in ("png", "svg"):
        _echo_output(render_object(shown, fmt, detect.PERIOD_FIELDS, attribution=_credits(db)), output)
        return
    from .report import chart  # matplotlib loads only when a chart is asked for

    assert output is not None  # a chart without --output was refused above
    moves_of = detect.list_moves(db, detect.MoveFilter(hoster=hoster))
    footer = chart.Footer(attribution=[a["text"] for a in _credits(db)])
    chart.timeline_chart(shown, moves_of, sys.stdout.buffer if output == "-" else Path(output), fmt, footer)
    if output != "-":
        click.echo(f"wrote {output}")


@cli.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]),
              help="First day of the period (default: the first crawl's).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day of the period (default: the last crawl's).")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="md", show_default=True)
@click.option("--output", help="File to write ('-': standard output, the default).")
@click.pass_context
def report(ctx: click.Context, since, until, fmt: str, output: str | None) -> None:
    """The period report: hosters that left the home country by destination (with hotline or not),
    those that came home, hosters abroad, URLs by country and month, takedown times, top networks,
    degraded crawls; HTML with charts and evidence, Markdown, CSV (the headline table) or JSON."""
    if output not in (None, "-") and not Path(output).parent.is_dir():
        raise click.UsageError(f"--output {output}: the folder {Path(output).parent} does not exist")
    config = _config(ctx)
    db = _reader(ctx)
    _note_stale_moves(db, config, since.date().isoformat() if since else None)
    from .report import period as period_report

    text = period_report.render(db, config.home_country, since.date() if since else None,
                                until.date() if until else None, fmt)
    _echo_output(text, output)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but loopback needs accounts in serve.accounts.")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Browse the database in Datasette (read-only). The front page leads with the questions:
    moves since a date, moves by destination country in a period, hosters now abroad, URLs per
    country by month, URLs online per hoster, time to takedown, a hoster's timeline. With
    accounts in serve.accounts, every page and the JSON API need a login."""
    from .report import serve as datasette  # Datasette loads only for this command

    datasette.serve(_config(ctx), host, port, say=click.echo)


@cli.command("hash-password")
@click.argument("name")
def hash_password(name: str) -> None:
    """Print a serve.accounts line for user NAME: asks for the password twice, hidden."""
    from .report import serve as datasette

    datasette.check_user(name)
    # Prompts on stderr: stdout is the line alone, for `>> config.yaml` or a script.
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    click.echo(datasette.account_line(name, password))


@cli.command()
@click.option("--nights", type=click.IntRange(1, 60), default=6, show_default=True)
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Put the world's database, config and chart in this folder (default: a new "
                   "temporary folder, kept).")
def demo(nights: int, keep: Path | None) -> None:
    """A simulated world on loopback, crawled for several nights while its hosters move: shows
    the moves detected, a few timelines and a chart. Needs no network and no config file."""
    from .sim.demo import run_demo

    run_demo(nights=nights, keep=keep, say=click.echo)


def main() -> None:
    cli(prog_name="monitor")
