"""Where a study lives: storage URLs with their passwords kept out of sight, opened with retries.

``journal:PATH`` is Optuna's journal file (one machine, or a shared file system); any
other text is an Optuna RDB URL (SQLite, PostgreSQL, MySQL). RDB storages get Optuna's
heartbeats, so that a trial whose worker died is failed on the database's clock and its
candidate handed to another worker (see :mod:`cnndsl.sweeps.claims`).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from cnndsl.errors import StorageError

PASSWORD_ENV = "CNNDSL_STORAGE_PASSWORD"
"""A storage password taken from the environment, so that it need not be on a command line."""
HEARTBEAT_S, GRACE_S = 10, 60
"""A running trial's heartbeat, every HEARTBEAT_S seconds; one silent for GRACE_S is failed."""
DRIVERS = {
    "psycopg": "'psycopg[binary]'",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
    "cx_Oracle": "cx_Oracle",
    "oracledb": "oracledb",
}
"""The pip package that provides each database driver module SQLAlchemy may ask for."""

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:@/]*)(?::(?P<password>[^@/]*))?@")


@dataclass(frozen=True)
class StorageURL:
    """An Optuna storage URL with its password kept apart from every text shown."""

    url: str
    """The URL to connect with (the password from the environment put in)."""
    password: str | None

    @property
    def masked(self) -> str:
        """The URL as cnndsl shows it: ``postgresql://user:***@host/db``."""
        return mask(self.url, self.password)

    @property
    def journal(self) -> bool:
        return self.url.startswith("journal:")

    def scrub(self, text: str) -> str:
        """``text`` with the password (as written, and URL-encoded) replaced by ``***``."""
        return mask(text, self.password)


def storage_url(url: str, environ: Mapping[str, str] | None = None) -> StorageURL:
    """The URL to use: a user without a password takes ``$CNNDSL_STORAGE_PASSWORD``."""
    environ = os.environ if environ is None else environ
    match = _USERINFO.match(url)
    if match is None:
        return StorageURL(url, None)
    password = match.group("password")
    if password is None and environ.get(PASSWORD_ENV):
        password = quote(environ[PASSWORD_ENV], safe="")
        url = f"{match.group('scheme')}{match.group('user')}:{password}@{url[match.end() :]}"
    return StorageURL(url, password or None)


def mask(text: str, password: str | None) -> str:
    """Every occurrence of ``password`` in ``text`` (also decoded) replaced by ``***``."""
    if not password:
        return text
    for form in {password, unquote(password), quote(unquote(password), safe="")}:
        if form:
            text = text.replace(form, "***")
    return text


class Scrubber(logging.Filter):
    """Masks the password in whatever Optuna (and SQLAlchemy) log while the sweep runs."""

    def __init__(self, url: StorageURL):
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.url.scrub(record.getMessage()), None
        return True


@dataclass(frozen=True)
class Heartbeat:
    """Optuna's heartbeat settings for an RDB storage, and what to do with a trial found dead."""

    interval: int = HEARTBEAT_S
    grace: int = GRACE_S
    on_stale: Callable | None = None
    """Called as ``on_stale(study, frozen_trial)`` by the one worker that failed the trial."""


RACES = ("already exists", "database is locked", "UNIQUE constraint failed", "Duplicate entry", "duplicate key")
"""What a storage says when another worker is creating its tables at the same moment."""


def open_storage(url: StorageURL, attempts: int = 5, heartbeat: Heartbeat | None = None):
    """An Optuna storage for ``url`` (``journal:PATH`` is Optuna's journal file); StorageError.

    ``heartbeat`` turns on Optuna's heartbeats where the storage has them (RDB storages).
    """
    import optuna

    def make():
        if url.journal:
            path = url.url.removeprefix("journal:").removeprefix("//")
            return optuna.storages.journal.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
        if heartbeat is None:
            return optuna.storages.RDBStorage(url.url)
        return optuna.storages.RDBStorage(url.url, **_heartbeat_arguments(heartbeat))

    try:
        return retried(make, attempts)
    except Exception as error:  # any driver's error: shown as one line, without the password
        raise StorageError(f"--storage {url.masked}: {_reason(url, error)}") from None


def _heartbeat_arguments(heartbeat: Heartbeat) -> dict:
    """RDBStorage's heartbeat arguments, under the name this Optuna gives the stale-trial callback."""
    import optuna

    arguments = {"heartbeat_interval": heartbeat.interval, "grace_period": heartbeat.grace}
    if heartbeat.on_stale is not None:
        named = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
        key = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in named else "failed_trial_callback"
        arguments[key] = heartbeat.on_stale
    return arguments


def _reason(url: StorageURL, error: BaseException) -> str:
    """Why the storage did not open: the missing driver module and its pip command, or the error's first line."""
    missing = missing_module(error)
    if missing is not None:
        package = DRIVERS.get(missing, missing)
        return f"the database driver module {missing!r} is not installed: pip install {package}"
    return f"cannot open it: {one_line(url.scrub(str(error)))}"


def missing_module(error: BaseException | None) -> str | None:
    """The top-level module an ImportError anywhere in ``error``'s chain could not find, or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ImportError) and getattr(error, "name", None):
            return error.name.split(".")[0]
        error = error.__cause__ or error.__context__
    return None


def one_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")
    return line if len(line) <= 300 else line[:297] + "..."


def retried(make, attempts: int = 5):
    """``make()``, tried again while another worker is creating the same tables or study."""
    for attempt in range(attempts):
        try:
            return make()
        except Exception as error:
            if attempt + 1 == attempts or not any(race in str(error) for race in RACES):
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")
