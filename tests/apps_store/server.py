"""A server reading apps from a database, and waits for what a refresh brings (conditions with deadlines)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from pusherpy.protocol.apps import AppConfig
from pusherpy.server.settings import Settings
from tests.apps_store.cli import ok
from tests.helpers import DEADLINE, RunningServer, serve

REFRESH = 0.2


def settings_for(store_url: str) -> Settings:
    return Settings(apps=(), uses_dev_app=False, apps_source=store_url, apps_refresh_seconds=REFRESH)


@asynccontextmanager
async def serving(store_url: str) -> AsyncIterator[RunningServer]:
    """A migrated store and a server reading it."""
    await ok("apps", "migrate", "--store", store_url)
    async with serve(settings_for(store_url)) as server:
        yield server


async def first_message(server: RunningServer, key: str) -> dict[str, Any]:
    """Connect with ``key`` and read the server's first message (established, or the refusal)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url(key)) as ws:
        message = await ws.receive_json(timeout=DEADLINE)
        assert isinstance(message, dict)
        return message


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = DEADLINE) -> None:
    """Wait for ``condition`` to hold, asking again every quarter refresh, with a deadline."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(REFRESH / 4)


async def served(server: RunningServer, app: AppConfig) -> None:
    async def established() -> bool:
        return (await first_message(server, app.key))["event"] == "pusher:connection_established"

    await until(established, f"app {app.id} served")
