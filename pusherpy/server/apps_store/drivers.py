"""One ``Driver`` per database, each importing its package only when a store of its kind is opened.

- PostgreSQL: asyncpg (extra ``pusherpy[postgresql]``): the maintained, fast asyncio driver, binary protocol,
  wheels for every platform pusherpy runs on.
- MariaDB and MySQL: aiomysql (extra ``pusherpy[mysql]``): aio-libs' asyncio driver on top of PyMySQL, pure
  Python, so it installs wherever pusherpy does; apps are read every few seconds, speed does not matter here.
- SQLite: the standard library's ``sqlite3``, each statement in a thread with its own short-lived connection (no
  extra; a file other processes, such as ``pusherpy apps``, write to at the same time).
"""

from __future__ import annotations

import asyncio
import sqlite3
import warnings
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from ...protocol.errors import ConfigError
from ...protocol.redact import redacted_url
from .store import Dialect, Driver

_CREATE_POSTGRESQL: Final = """CREATE TABLE IF NOT EXISTS pusherpy_apps (
    id TEXT PRIMARY KEY,
    "key" TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    settings JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""

_CREATE_MYSQL: Final = """CREATE TABLE IF NOT EXISTS pusherpy_apps (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    `key` VARCHAR(191) NOT NULL UNIQUE,
    secret VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    settings JSON NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) DEFAULT CHARSET = utf8mb4"""

_CREATE_SQLITE: Final = """CREATE TABLE IF NOT EXISTS pusherpy_apps (
    id TEXT NOT NULL PRIMARY KEY,
    "key" TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)"""

POSTGRESQL: Final = Dialect(name="postgresql", key='"key"', placeholder="$", now="now()", create=_CREATE_POSTGRESQL)
MYSQL: Final = Dialect(name="mysql", key="`key`", placeholder="%s", now="CURRENT_TIMESTAMP(6)", create=_CREATE_MYSQL)
SQLITE: Final = Dialect(
    name="sqlite", key='"key"', placeholder="?", now="strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", create=_CREATE_SQLITE
)


def driver_for(kind: str, url: str) -> tuple[Driver, tuple[type[BaseException], ...]]:
    """The driver for ``url``, and the exception types that mean "could not connect"."""
    if kind == "sqlite":
        return SqliteDriver(sqlite_path(url)), (ConnectionError,)
    if kind == "postgresql":
        try:
            import asyncpg  # noqa: F401 - only to say which extra is missing
        except ImportError:
            raise ConfigError("apps_source is PostgreSQL: install pusherpy[postgresql] (asyncpg)") from None
        return PostgresqlDriver(url), (OSError, _asyncpg_connect_errors())
    try:
        import aiomysql  # noqa: F401
    except ImportError:
        raise ConfigError("apps_source is MySQL/MariaDB: install pusherpy[mysql] (aiomysql)") from None
    import pymysql

    return MysqlDriver(url), (OSError, pymysql.err.OperationalError)


def _asyncpg_connect_errors() -> type[BaseException]:
    import asyncpg

    return asyncpg.exceptions.ConnectionFailureError  # type: ignore[no-any-return]


def sqlite_path(url: str) -> Path:
    """``sqlite:///apps.db`` is relative to the working directory, ``sqlite:////var/lib/pusherpy/apps.db``
    absolute (as SQLAlchemy reads them)."""
    path = url.partition("://")[2]
    if not path.startswith("/") or len(path) < 2:
        raise ConfigError(f"apps_source={redacted_url(url)!r}: write sqlite:///relative.db or sqlite:////abs/path.db")
    return Path(path[1:])


class SqliteDriver:
    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self._path = path

    def _run(self, sql: str, args: Sequence[object], fetch: bool) -> Any:
        # Only migrate creates the file: a mistyped path elsewhere is an error, not a new empty database.
        mode = "rwc" if sql is self.dialect.create else "rw"
        try:
            connection = sqlite3.connect(f"{self._path.absolute().as_uri()}?mode={mode}", timeout=5.0, uri=True)
        except sqlite3.Error as error:
            raise ConnectionError(f"{self._path}: {error}; pusherpy apps migrate creates it") from None
        with closing(connection), connection:
            cursor = connection.execute(sql, tuple(args))
            return cursor.fetchall() if fetch else cursor.rowcount

    async def fetch(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = await asyncio.to_thread(self._run, sql, args, True)
        return rows

    async def execute(self, sql: str, args: Sequence[object]) -> int:
        count: int = await asyncio.to_thread(self._run, sql, args, False)
        return count

    async def close(self) -> None:
        """Nothing is held open between statements."""


class PostgresqlDriver:
    dialect = POSTGRESQL

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: Any = None

    async def _connected(self) -> Any:
        if self._connection is None or self._connection.is_closed():
            import asyncpg

            self._connection = await asyncpg.connect(self._url, timeout=5.0)
        return self._connection

    async def fetch(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        connection = await self._connected()
        return [tuple(record) for record in await connection.fetch(sql, *args)]

    async def execute(self, sql: str, args: Sequence[object]) -> int:
        connection = await self._connected()
        status: str = await connection.execute(sql, *args)  # "UPDATE 1", "CREATE TABLE"
        last = status.rpartition(" ")[2]
        return int(last) if last.isdigit() else 0

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close(timeout=1.0)


class MysqlDriver:
    dialect = MYSQL

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._options: dict[str, Any] = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
            "db": unquote(parts.path.lstrip("/")) or None,
        }
        self._connection: Any = None

    async def _connected(self) -> Any:
        if self._connection is None or self._connection.closed:
            import aiomysql
            from pymysql.constants import CLIENT

            self._connection = await aiomysql.connect(
                **self._options,
                autocommit=True,
                connect_timeout=5,
                charset="utf8mb4",
                client_flag=CLIENT.FOUND_ROWS,  # an UPDATE counts the rows it matched, as the other databases do
            )
        return self._connection

    async def fetch(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        connection = await self._connected()
        async with connection.cursor() as cursor:
            await cursor.execute(sql, tuple(args))
            return [tuple(row) for row in await cursor.fetchall()]

    async def execute(self, sql: str, args: Sequence[object]) -> int:
        connection = await self._connected()
        async with connection.cursor() as cursor:
            with warnings.catch_warnings():  # "table already exists" on a second migrate: expected, not news
                warnings.simplefilter("ignore")
                await cursor.execute(sql, tuple(args))
            return int(cursor.rowcount)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
