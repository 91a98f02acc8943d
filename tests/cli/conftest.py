"""The ops commands run as a user runs them: ``python -m pusherpy ...`` in a child process, against a real server.

``peer`` is each server the read/trigger commands must work against, in turn: pusherpy (served in this test's
event loop, so the commands run as asyncio subprocesses that never block it) and the real soketi 1.6.1, installed
from the npm registry into the bench's cache on first use (``bench/soketi.py``, ~30 s once) and started once per
test session on free loopback ports.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench.soketi import CachedSoketi
from bench.soketi_install import SoketiInstall, cache_root
from tests.conftest import ServerFactory
from tests.helpers import make_app


@dataclass(frozen=True)
class Peer:
    """A server under test: its name, its app's credentials and where its HTTP API and WebSocket are."""

    name: str
    host: str
    port: int
    app_id: str
    key: str
    secret: str

    @property
    def url(self) -> str:
        return f"http://{self.key}:{self.secret}@{self.host}:{self.port}/apps/{self.app_id}"


@pytest.fixture(scope="session")
def soketi() -> Iterator[Peer]:
    server = CachedSoketi(SoketiInstall(cache_root(os.environ)), None, 60)
    server.prepare()
    target = server.start()
    try:
        yield Peer("soketi", target.host, target.port, target.app_id, target.app_key, target.app_secret)
    finally:
        server.stop()


@pytest.fixture
async def pusherpy_peer(server_factory: ServerFactory) -> Peer:
    server = await server_factory(make_app(enable_subscription_count=True))
    return Peer("pusherpy", "127.0.0.1", server.port, server.app.id, server.app.key, server.app.secret)


@pytest.fixture(params=["pusherpy", "soketi"])
def peer(request: pytest.FixtureRequest) -> Peer:
    """Each server the HTTP API and listen commands behave the same against."""
    name = "pusherpy_peer" if request.param == "pusherpy" else "soketi"
    found: Peer = request.getfixturevalue(name)
    return found
