"""``AppStore``: every SQL statement pusherpy runs on ``apps_source``, written once for all three databases.

The statements differ only in what a ``Dialect`` fills in: column types, how the ``key`` column is quoted (a
reserved word in MySQL), the placeholder style and the clock. Every operation is bounded by a timeout and raises
``AppsSourceError`` (with the URL redacted) when the database cannot be reached or refuses; the server then keeps
the apps it has, the CLI exits 3 or 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlsplit

from ...protocol.errors import ConfigError, PusherpyError
from ...protocol.redact import redacted_url
from .schema import TABLE, StoredApp

_T = TypeVar("_T")

TIMEOUT_SECONDS: Final = 5.0
"""How long one statement (with connecting) may take before the store counts as unreachable."""

SCHEMES: Final = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}
"""``apps_source`` URL schemes, and the database each means."""


class AppsSourceError(PusherpyError):
    """The apps' database could not be reached, or refused a statement.

    Attributes:
        unreachable: True when no connection could be made (exit status 3 for the CLI), False when the database
            answered with an error (no such table: run ``pusherpy apps migrate``).
    """

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    """What one database spells its own way in the statements of ``AppStore``."""

    name: str
    key: str
    """The ``key`` column, quoted."""
    placeholder: str
    """``?`` (SQLite), ``$`` (numbered: PostgreSQL), ``%s`` (MySQL)."""
    now: str
    create: str

    def sql(self, statement: str) -> str:
        """``statement`` written with ``?`` placeholders and ``{key}``/``{now}``, in this dialect."""
        text = statement.format(key=self.key, now=self.now, table=TABLE)
        if self.placeholder == "?":
            return text
        parts = text.split("?")
        if self.placeholder == "$":
            return "".join(part + (f"${i + 1}" if i < len(parts) - 1 else "") for i, part in enumerate(parts))
        return "%s".join(part.replace("%", "%%") for part in parts)


class Driver(Protocol):
    """One connection to a database (opened on first use, again after a failure)."""

    dialect: Dialect

    async def fetch(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]: ...
    async def execute(self, sql: str, args: Sequence[object]) -> int:
        """Run a statement; the number of rows it matched."""
        ...

    async def close(self) -> None: ...


_SELECT: Final = "SELECT id, {key}, secret, name, enabled, settings, created_at, updated_at FROM {table}"


class AppStore:
    """The apps' table in one database. Open with ``open_store(url)``; ``close`` when done."""

    def __init__(self, url: str, driver: Driver, *, connection_errors: tuple[type[BaseException], ...]) -> None:
        self.url = url
        self._driver = driver
        self._connection_errors = connection_errors

    def __repr__(self) -> str:
        return f"AppStore({redacted_url(self.url)!r})"

    @property
    def shown(self) -> str:
        """The URL as logs and messages show it (credentials hidden)."""
        return redacted_url(self.url)

    async def migrate(self) -> None:
        """Create the table if it is not there (an existing table and its rows are left as they are)."""
        await self._bounded(self._driver.execute(self._driver.dialect.create, ()))  # as written: no placeholders

    async def load(self) -> list[StoredApp]:
        """Every row, enabled or not, oldest first."""
        rows = await self._fetch(_SELECT + " ORDER BY created_at, id", ())
        return [_stored(row) for row in rows]

    async def insert(self, app: StoredApp) -> None:
        await self._execute(
            "INSERT INTO {table} (id, {key}, secret, name, enabled, settings) VALUES (?, ?, ?, ?, ?, ?)",
            (app.id, app.key, app.secret, app.name, app.enabled, app.settings),
        )

    async def set_enabled(self, id_or_key: str, enabled: bool) -> bool:
        """Enable or disable an app; False when no app has this id or key."""
        return await self._update("UPDATE {table} SET enabled = ?, updated_at = {now} WHERE id = ?", enabled, id_or_key)

    async def set_secret(self, id_or_key: str, secret: str) -> bool:
        """Replace an app's secret; False when no app has this id or key."""
        return await self._update("UPDATE {table} SET secret = ?, updated_at = {now} WHERE id = ?", secret, id_or_key)

    async def delete(self, id_or_key: str) -> bool:
        """Remove an app; False when no app has this id or key."""
        app_id = await self._app_id(id_or_key)
        return app_id is not None and await self._execute("DELETE FROM {table} WHERE id = ?", (app_id,)) > 0

    async def _update(self, statement: str, value: object, id_or_key: str) -> bool:
        app_id = await self._app_id(id_or_key)
        return app_id is not None and await self._execute(statement, (value, app_id)) > 0

    async def _app_id(self, id_or_key: str) -> str | None:
        """The id of the app with this id, else of the app with this key (an id wins: one app, never two)."""
        for column in ("id", "{key}"):
            rows = await self._fetch(f"SELECT id FROM {{table}} WHERE {column} = ?", (id_or_key,))
            if rows:
                return str(rows[0][0])
        return None

    async def close(self) -> None:
        try:
            await self._driver.close()
        except Exception:  # noqa: BLE001 - closing a broken connection: nothing left to do with it
            pass

    async def _fetch(self, statement: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        sql = self._driver.dialect.sql(statement)
        return await self._bounded(self._driver.fetch(sql, args))

    async def _execute(self, statement: str, args: Sequence[object]) -> int:
        sql = self._driver.dialect.sql(statement)
        return await self._bounded(self._driver.execute(sql, args))

    async def _bounded(self, operation: Awaitable[_T]) -> _T:
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                return await operation
        except TimeoutError:
            await self.close()
            raise AppsSourceError(f"{self.shown}: no answer within {TIMEOUT_SECONDS:g} s", unreachable=True) from None
        except self._connection_errors as error:
            await self.close()
            raise AppsSourceError(f"{self.shown}: cannot connect ({_said(error)})", unreachable=True) from None
        except Exception as error:  # the driver's own error types: a refused statement (no table, a duplicate key)
            await self.close()  # the connection may be broken too: the next statement opens a new one
            raise AppsSourceError(f"{self.shown}: {_said(error)}", unreachable=False) from None


def _said(error: BaseException) -> str:
    """The driver's message, on one line, without the URL (which may carry a password)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]


def _stored(row: tuple[Any, ...]) -> StoredApp:
    app_id, key, secret, name, enabled, settings, created_at, updated_at = row
    return StoredApp(
        id=str(app_id),
        key=str(key),
        secret=str(secret),
        name=str(name or ""),
        enabled=bool(enabled),
        settings=settings if isinstance(settings, str) else bytes(settings).decode(),
        created_at=str(created_at),
        updated_at=str(updated_at),
    )


def check_source(url: str) -> str:
    """The database ``url`` names (``postgresql``, ``mysql`` or ``sqlite``).

    Raises:
        ConfigError: not one of the schemes pusherpy reads apps from, or not a URL.
    """
    shown = redacted_url(url)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigError(f"apps_source={shown!r} must start with postgresql://, mysql:// (MariaDB too) or sqlite:///")
    try:
        urlsplit(url).port  # noqa: B018 - raises for an unescaped "/" "?" "#" in a password
    except ValueError:
        raise ConfigError(f"apps_source={shown!r} is not a valid URL (percent-encode / ? # in a password)") from None
    return SCHEMES[scheme]


def open_store(url: str) -> AppStore:
    """An ``AppStore`` for ``url`` (nothing is connected yet).

    Raises:
        ConfigError: the scheme is unknown, or its driver (an optional extra) is not installed: the message names
            the extra to install.
    """
    from . import drivers  # the drivers module imports each database's package only when asked for it

    kind = check_source(url)
    driver, errors = drivers.driver_for(kind, url)
    return AppStore(url, driver, connection_errors=errors)


def read_apps(url: str) -> list[StoredApp]:
    """Every row of ``url``'s table, for a synchronous caller (a command that only needs credentials): read on an
    event loop of its own, in a thread, so it works whether or not the caller runs one.

    Raises:
        ConfigError: a bad URL, or its driver missing.
        AppsSourceError: the database could not be read.
    """
    store = open_store(url)

    async def load() -> list[StoredApp]:
        try:
            return await store.load()
        finally:
            await store.close()

    with ThreadPoolExecutor(1, thread_name_prefix="pusherpy-apps-read") as executor:
        return executor.submit(asyncio.run, load()).result()
