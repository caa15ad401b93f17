"""Exceptions the CLI turns into one-line messages (exit 1) instead of tracebacks.

Every message says what is wrong and where (file, line, key), and where it can, how to fix it.
"""


class MonitorError(Exception):
    """A failure the user can fix; str(error) is the whole message."""


class ConfigError(MonitorError):
    """The configuration file is missing, unreadable or invalid."""


class InputError(MonitorError):
    """An input file cannot be read as a whole (missing, binary, not UTF-8)."""


class StoreError(MonitorError):
    """The database cannot be opened or is of a newer schema than this version knows."""


class ReadOnlyDatabase(StoreError):
    """A command that writes met a database this user may only read."""


class DatabaseFileError(MonitorError):
    """A reference database (.mmdb) is missing, corrupt or of an unknown type."""


class NotFound(MonitorError):
    """A URL, host or hoster the user named is not in the store."""


class DownloadError(MonitorError):
    """A reference database could not be downloaded; the old file is kept."""


class ServeError(MonitorError):
    """`monitor serve` cannot start: exposed without logins, or the port is taken."""
