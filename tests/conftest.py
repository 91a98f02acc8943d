"""Fixtures shared by every test directory: a real pusherpy server on 127.0.0.1 and a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from pusherpy.protocol.apps import AppConfig
from tests.helpers import RunningServer, make_app, make_settings, serve
from tests.scale_out.cluster import RedisServer

ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def server_factory() -> AsyncIterator[ServerFactory]:
    """Start servers with custom apps and settings: ``await server_factory(make_app(...), pong_timeout=1)``."""
    async with AsyncExitStack() as stack:

        async def start(*apps: AppConfig, **settings: Any) -> RunningServer:
            return await stack.enter_async_context(serve(make_settings(*apps, **settings)))

        yield start


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    """A server with one app (id 4242, key test-key, secret test-secret), client events and sign-in on."""
    return await server_factory(make_app())


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A ``redis-server`` of the test's own on a free port, which the test may pause (SIGSTOP) or kill."""
    redis = RedisServer(tmp_path)
    await redis.start()
    try:
        yield redis
    finally:
        if redis.process is not None:
            redis.resume()
            await redis.kill()
