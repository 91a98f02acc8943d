"""One deployment per broker, for the broker contract suite: every behaviour runs on each.

- ``memory``: one in-memory node (``LocalBroker``); "node a" and "node b" are the same server.
- ``redis``: two nodes (``RedisBroker``) on one real ``redis-server``.
- ``redis-cluster``: two nodes on a real 3-shard Redis Cluster (sharded pub/sub).

The nodes run in this process (so webhooks are recorded as the typed events the broker emits) and serve over real
sockets. Each test gets new nodes and a new key prefix; the Redis servers are started once per session.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pusherpy.protocol.apps import AppConfig
from pusherpy.protocol.webhooks import WebhookEvent
from tests.helpers import RunningServer, make_app, make_settings, serve
from tests.scale_out.cluster import RedisClusterServer, RedisServer

BROKERS = ["memory", "redis", "redis-cluster"]


@dataclass
class Deployment:
    """Two nodes of one deployment (the same node for ``memory``) and the webhooks its brokers emitted."""

    kind: str
    a: RunningServer
    b: RunningServer
    webhooks: list[WebhookEvent] = field(default_factory=list)

    @property
    def app(self) -> AppConfig:
        return self.a.app

    def webhook_names(self, channel: str) -> list[str]:
        return [event.name for event in self.webhooks if event.channel == channel]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_servers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, str]]:
    """A ``redis-server`` and a 3-shard Redis Cluster, started on first use, for the whole session."""
    started: list[RedisServer | RedisClusterServer] = []
    urls: dict[str, str] = {}
    try:
        single = RedisServer(Path(tmp_path_factory.mktemp("contract-redis")))
        await single.start()
        started.append(single)
        urls["redis"] = single.url
        sharded = RedisClusterServer(Path(tmp_path_factory.mktemp("contract-redis-cluster")))
        await sharded.start()
        started.append(sharded)
        urls["redis-cluster"] = sharded.url
        yield urls
    finally:
        for server in started:
            await server.kill()


@pytest_asyncio.fixture(loop_scope="session", params=BROKERS)
async def deployment_factory(request: pytest.FixtureRequest, redis_servers: dict[str, str]) -> AsyncIterator[Any]:
    """Start a deployment of the parametrised broker with the given app options: ``await deployment_factory(...)``."""
    kind: str = request.param
    async with AsyncExitStack() as stack:

        async def start(*, heartbeat_seconds: float = 0.5, **app_options: Any) -> Deployment:
            """``heartbeat_seconds``: short by default, so a dead node is noticed quickly; a node's Redis command
            timeout is twice it (at most 2 s, as in production), which a test of a burst may want."""
            app = make_app(**app_options)
            recorded: list[WebhookEvent] = []

            def sink(_app: AppConfig, event: WebhookEvent) -> None:
                recorded.append(event)

            if kind == "memory":
                node = await stack.enter_async_context(serve(make_settings(app), webhooks=sink))
                return Deployment(kind, node, node, recorded)
            options: dict[str, Any] = {
                "redis_url": redis_servers[kind],
                "redis_cluster": kind == "redis-cluster",
                "redis_prefix": f"contract-{secrets.token_hex(4)}",
                "node_heartbeat_seconds": heartbeat_seconds,
                "node_ttl_seconds": max(3.0, heartbeat_seconds * 3),
            }
            nodes = [await stack.enter_async_context(serve(make_settings(app, **options), webhooks=sink)) for _ in "ab"]
            return Deployment(kind, nodes[0], nodes[1], recorded)

        yield start
