"""Download the free DB-IP Lite country and ASN databases: ``monitor update-databases``.

Each file goes to a temporary file beside its target, is decompressed, opened with the matching
reader and asked one lookup, then renamed over the old file (atomic), so a running monitor never
sees half a file and a failed download leaves the old one byte-identical. What users need to know
(attribution, cron, MaxMind and IPinfo alternatives) is in the README.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import re
import secrets
import shutil
import socket
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from monitor import __version__
from monitor.errors import DatabaseFileError, DownloadError
from monitor.resolve.geo import Source, open_asn_db, open_country_db

if TYPE_CHECKING:
    from monitor.config import GeoIP

__all__ = ["PROBE_IP", "PROJECT_URL", "USER_AGENT", "UpdateResult", "month_urls", "update_databases", "user_agent"]

PROJECT_URL = "https://github.com/monitor-hotlines/monitor"


def user_agent(purpose: str) -> str:
    """The User-Agent of monitor's own HTTP requests: version, what for, and where to read more."""
    return f"monitor/{__version__} ({purpose}; +{PROJECT_URL})"


USER_AGENT = user_agent("update-databases")
# The address each download is asked about before it is installed (Cloudflare's resolver,
# which every real country and ASN database has a record for).
PROBE_IP = "1.1.1.1"
_CHUNK = 1 << 20

Kind = Literal["country", "asn"]
_OPENERS = {"country": open_country_db, "asn": open_asn_db}
_LABELS = {"country": "country", "asn": "ASN"}


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What happened to one database. ``str(result)`` is a one-line summary."""

    kind: Kind
    path: Path  # the destination, as configured
    url: str  # the URL downloaded (or last tried)
    ok: bool
    source_name: str | None = None  # metadata database_type, e.g. "DBIP-Country-Lite"
    build: str | None = None  # metadata build_epoch, ISO 8601 UTC, e.g. "2026-11-01T00:00:00Z"
    size: int | None = None  # bytes of the installed .mmdb
    error: str | None = None  # why it failed

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.kind}: {self.path} updated ({self.source_name}, built "
                f"{(self.build or '?')[:10]}) from {self.url}"
            )
        kept = "old file kept" if os.path.exists(self.path) else "no file installed"
        return f"{self.kind}: {self.path} NOT updated ({kept}): {self.error} [{self.url}]"

    def __str__(self) -> str:
        return self.summary()


class _Failure(Exception):
    def __init__(self, reason: str, *, not_found: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.not_found = not_found


def month_urls(template: str, today: date) -> list[str]:
    """The URL of `today`'s month and, to fall back on, of the month before (one URL only if the
    template has no {year}/{month} in it)."""
    first = today.replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    urls = [_fill(template, today), _fill(template, previous)]
    return urls[:1] if urls[0] == urls[1] else urls


def _fill(template: str, day: date) -> str:
    # Not str.format: a URL may hold other braces.
    return template.replace("{year}", f"{day.year:04d}").replace("{month}", f"{day.month:02d}")


def update_databases(
    geoip_config: GeoIP, *, today: date | None = None, timeout: float = 60
) -> list[UpdateResult]:
    """Download and install the country and ASN databases of `geoip_config` (a
    ``Config.geoip``); a database whose path is None is skipped.

    Returns one result per database tried. Raises DownloadError, listing each failure, if
    every download failed; the old files are then all left as they were.
    """
    if today is None:
        today = datetime.now(timezone.utc).date()
    jobs: list[tuple[Kind, Path, str]] = [
        (kind, Path(path), template)
        for kind, path, template in (
            ("country", geoip_config.country_db, geoip_config.download.country_url),
            ("asn", geoip_config.asn_db, geoip_config.download.asn_url),
        )
        if path is not None
    ]
    if len(jobs) == 2 and _same_file(jobs[0][1], jobs[1][1]):
        raise DownloadError(
            f"geoip.country_db and geoip.asn_db are the same file ({jobs[0][1]}): "
            "update-databases installs two files (DB-IP's Country Lite and ASN Lite) and the "
            "second would replace the first. Point the two keys at two files, or keep a "
            "one-file database such as IPinfo Lite up to date without update-databases; "
            "nothing was downloaded."
        )
    results = [_update_one(kind, path, template, today, timeout) for kind, path, template in jobs]
    if results and not any(result.ok for result in results):
        lines = [f"  {r.kind}: {r.url}: {r.error}" for r in results]
        raise DownloadError(
            "Could not update the GeoIP databases; the old files were kept:\n" + "\n".join(lines)
        )
    return results


def _same_file(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _update_one(kind: Kind, path: Path, template: str, today: date, timeout: float) -> UpdateResult:
    urls = month_urls(template, today)
    url = urls[0]
    try:
        try:
            source, size = _install(kind, url, path, timeout)
        except _Failure as failure:
            if not (failure.not_found and len(urls) > 1):
                raise
            # This month's file is not out yet: last month's.
            url = urls[1]
            try:
                source, size = _install(kind, url, path, timeout)
            except _Failure as second:
                if second.not_found:
                    raise _Failure(f"{second.reason} (this month's {urls[0]} too)") from None
                raise
    except _Failure as failure:
        return UpdateResult(kind, path, url, ok=False, error=failure.reason)
    return UpdateResult(
        kind, path, url, ok=True, source_name=source.name, build=source.build, size=size
    )


def _install(kind: Kind, url: str, path: Path, timeout: float) -> tuple[Source, int]:
    """Download `url` next to `path`, check it, and rename it onto `path`; _Failure if any of
    that fails, with no temporary file left behind."""
    # A symlinked destination: update the file it points to, and keep the link.
    dest = Path(os.path.realpath(path))
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(dest)
    except OSError as e:
        raise _Failure(f"cannot write to {dest.parent}: {e.strerror or e}") from None
    installed = False
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                _download(url, out, timeout)
            source = _verify(kind, tmp)
            size = os.path.getsize(tmp)
            os.replace(tmp, dest)
            installed = True
        except HTTPError as e:
            e.close()
            raise _Failure(f"HTTP {e.code} {e.reason}", not_found=e.code == 404) from None
        except URLError as e:
            raise _Failure(_describe_os_error(e.reason, timeout)) from None
        except EOFError:
            raise _Failure("the download is truncated (the gzip data ends early)") from None
        except (gzip.BadGzipFile, zlib.error) as e:
            raise _Failure(f"the download is not valid gzip data ({e})") from None
        except http.client.HTTPException as e:
            raise _Failure(f"the download failed ({type(e).__name__}: {e})") from None
        except OSError as e:
            raise _Failure(_describe_os_error(e, timeout)) from None
        except ValueError as e:  # a malformed URL
            raise _Failure(f"bad URL ({e})") from None
    finally:
        if not installed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return source, size


def _create_temp(dest: Path) -> tuple[int, Path]:
    """A new hidden file in the destination's folder (so that os.replace is a rename on one
    file system), created with the permissions the umask gives a new file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


class _Counting:
    """A read-only stream that counts the bytes read from it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data


def _download(url: str, out: BinaryIO, timeout: float) -> None:
    """Stream `url` into `out`, gunzipped if its path ends in .gz; urllib follows redirects."""
    request = Request(url, headers={"User-Agent": USER_AGENT})
    with urlopen(request, timeout=timeout) as response:
        raw = _Counting(response)
        if urlsplit(url).path.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as data:
                shutil.copyfileobj(data, out, _CHUNK)
            while raw.read(_CHUNK):  # anything after the gzip data, for the length check
                pass
        else:
            shutil.copyfileobj(raw, out, _CHUNK)
        # http.client does not notice a connection closed before Content-Length bytes came.
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and raw.count != int(length):
            raise _Failure(
                f"the download is truncated ({raw.count} of {int(length)} bytes received)"
            )


def _verify(kind: Kind, tmp: Path) -> Source:
    """The downloaded file opened with the reader of its kind and asked one lookup."""
    try:
        with _OPENERS[kind](tmp) as db:
            db.lookup(PROBE_IP)
            return db.source
    except DatabaseFileError as e:
        raise _Failure(_reword(str(e), kind, tmp)) from None


def _reword(message: str, kind: Kind, tmp: Path) -> str:
    """The reader's message, about the download rather than a configured file."""
    message = message.replace(f"The {_LABELS[kind]} database {tmp}", "the downloaded file")
    message = message.replace(os.fspath(tmp), "the downloaded file")  # maxminddb's own words
    message = re.sub(r" \(supported: [^)]*\)", "", message)
    return re.sub(
        r";? (download it again: )?run `monitor update-databases` or set \S+ in config\.yaml",
        "",
        message,
    )


def _describe_os_error(error: object, timeout: float) -> str:
    """A socket or file error (or urllib's reason, which may be a string) in a few words."""
    if isinstance(error, TimeoutError):
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror or error})"
    if isinstance(error, ConnectionError):
        return f"connection failed ({error.strerror or error})"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)
