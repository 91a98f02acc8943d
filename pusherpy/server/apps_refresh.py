"""Apps read from ``apps_source``: loaded before the server starts, read again every ``apps_refresh_seconds``.

Each reading replaces the ``AppDirectory`` whole, then what changed is carried out at once: sockets of a disabled or
deleted app are closed with 4003; sockets of a changed app (a rotated secret, new limits) take its new settings, so a
later channel auth or sign-in is checked against the new secret. Rate windows a socket made at connect keep their
limits; new sockets get the new ones. A database that cannot be reached at start stops the start (``AppsSourceError``);
later, the apps last read stay served, the outage is logged once, and reading is retried at the same pace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from ..protocol.apps import AppConfig
from ..protocol.errors import AppDisabled, ConfigError
from .app_directory import AppChanges
from .apps_store import AppsSourceError, AppStore, StoredApp, app_from_row
from .state import STATE, ServerState
from .ws import send_error

logger = logging.getLogger(__name__)


class AppsRefresher:
    """Keeps ``state.apps`` as the store has them; ``run`` is a cleanup context of the server application."""

    def __init__(self, state: ServerState, store: AppStore) -> None:
        self._state = state
        self._store = store
        self._failing = False
        self._unchanged: dict[StoredApp, AppConfig] = {}
        """The rows of the last reading and their apps: a thousand unchanged apps are not parsed again each time."""
        self._bad_rows: set[tuple[str, str]] = set()
        """Rows (id, updated_at) already logged as unreadable: each is said once, not every refresh."""

    async def run(self, application: web.Application) -> AsyncIterator[None]:
        state = application[STATE]
        try:
            await self.refresh()
        except AppsSourceError:
            await self._store.close()
            raise
        logger.info("%d apps read from %s", len(state.apps.apps), self._store.shown)
        task = asyncio.create_task(self._every(state.settings.apps_refresh_seconds), name="pusherpy-apps-refresh")
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self._store.close()

    async def _every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            if self._state.shutting_down:  # sockets are closing and the broker stops next: nothing left to change
                return
            try:
                await self.refresh()
            except AppsSourceError as error:
                if not self._failing:
                    served = len(self._state.apps.apps)
                    logger.error("cannot read apps (still serving the %d last read): %s", served, error)
                self._failing = True
            except Exception:  # pragma: no cover - the refresher must survive a bug
                logger.exception("reading apps failed")
            else:
                if self._failing:
                    logger.warning("apps read again from %s", self._store.shown)
                self._failing = False

    async def refresh(self) -> AppChanges:
        """Read every app once and serve what was read.

        Raises:
            AppsSourceError: the store could not be read; nothing changed.
        """
        apps = self._parsed(await self._store.load())
        changes = self._state.apps.replace(apps)
        if changes:
            apply_changes(self._state, changes)
            await self._state.broker.serve_apps(self._state.apps.apps)
        return changes

    def _parsed(self, rows: Iterable[StoredApp]) -> list[AppConfig]:
        """Each row as an app (a row as read last time: the app made then, unparsed); a row that does not parse
        keeps the app as last read (or is skipped), said once."""
        apps = []
        parsed: dict[StoredApp, AppConfig] = {}
        for row in rows:
            try:
                app = self._unchanged.get(row) or app_from_row(row)
                parsed[row] = app
                apps.append(app)
            except ConfigError as error:
                if (row.id, row.updated_at) not in self._bad_rows:
                    logger.error("app not updated from its row: %s", error)
                    self._bad_rows.add((row.id, row.updated_at))
                served = self._state.apps.by_id.get(row.id)
                if served is not None:
                    apps.append(served)
        self._unchanged = parsed
        return apps


def apply_changes(state: ServerState, changes: AppChanges) -> None:
    """Close the sockets of withdrawn apps (4003) and give the sockets of changed apps their new settings."""
    closing = {withdrawn.app.id: withdrawn.reason for withdrawn in changes.withdrawn}
    changed = {app.id: app for app in changes.changed}
    for withdrawn in changes.withdrawn:
        logger.info("app %s withdrawn (%s): closing its sockets", withdrawn.app.id, withdrawn.reason)
    for client in list(state.clients):
        app_id = client.app.id
        reason = closing.get(app_id)
        if reason is not None:
            if not client.closing:
                send_error(state, client, AppDisabled(reason, close=True))
            continue
        app = changed.get(app_id)
        if app is not None:
            client.app = app
            client.connection.app = app
