"""Exact resume across a cluster, with the real, unmodified pusher-js 8 and Laravel Echo 2 and real faults.

Three ``pusherpy serve`` processes on one ``redis-server`` (tests/scale_out/cluster.py). The page is the documented
helper (``examples/chat/frontend/src/shared/resume.js``) authorized by pusherpy.publisher's real
``broadcasting_routes``; it reaches node 1 through a TCP relay (``relay.py``). A publisher publishes every 25 ms
through node 3 (never the client's node) with the publisher library's retries. Then something breaks: the
connection is cut and the relay points at node 2, node 1 is SIGKILLed, or Redis is stopped and started again.
pusher-js reconnects by itself, and the page must end with every event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pusherpy import AsyncPusher, Pusher
from pusherpy.publisher import bearer_token, broadcasting_routes
from tests.compat.conftest import DEADLINE, CompatApp, CompatServer, NodeSession
from tests.compat.relay import Relay, relay_to
from tests.compat.test_history_resume import TOKEN, count_reached, numbers, received, rules, subscribed
from tests.compat.test_publisher_with_real_clients import Backend, expect, session
from tests.scale_out.cluster import MAIN_APP, Cluster, Node, RedisServer, eventually, running_cluster

HISTORY = """
[[apps.history]]
channels = "private-conversation.*"
size = 1000
ttl_seconds = 600
"""
APP = CompatApp(
    id=MAIN_APP.id, key=MAIN_APP.key, secret=MAIN_APP.secret, master_key_base64=base64.b64encode(bytes(32)).decode()
)
EVENTS = 80
"""Published 25 ms apart: about two seconds of traffic around the fault."""
AWAY = 0.3
"""Seconds the client stays away (the relay holds its reconnection) while events are published."""


class PersistentRedis(RedisServer):
    """A ``redis-server`` with an append-only file fsynced on every write: a stop and start keeps every stream."""

    def options(self) -> list[str]:
        return ["--appendonly", "yes", "--appendfsync", "always"]

    async def stop(self) -> None:
        """Shut it down as an operator would (SIGTERM: it closes every connection and writes its files)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 10)
        self.process = None


@dataclass
class Deployment:
    """The cluster, the page's backend, the relay in front of node 1 and a publisher on node 3."""

    cluster: Cluster
    backend: Backend
    relay: Relay
    publisher: AsyncPusher

    @property
    def nodes(self) -> list[Node]:
        return self.cluster.nodes

    def server(self) -> CompatServer:
        """What the Node scenario needs of a server (its host, for wsHost; the port it dials is the relay's)."""
        node = self.nodes[0]
        return CompatServer(host=node.host, port=node.port, log_path=self.cluster.workdir / "node0.log")

    def spec(self, *clients: dict[str, Any]) -> dict[str, Any]:
        endpoints = self.backend.endpoints()
        return {"endpoints": endpoints, "token": TOKEN, "port": self.relay.port, "clients": list(clients)}


@asynccontextmanager
async def backend_on(node: Node) -> AsyncIterator[Backend]:
    """The app's auth endpoint (it signs ``resume_after``; signing needs no server, the publisher points at node 3)."""
    app = web.Application()
    users = {TOKEN: {"id": "1", "name": "Ada"}}
    publisher = Pusher(APP.id, APP.key, APP.secret, host=node.host, port=node.port, ssl=False, timeout=DEADLINE)
    app.add_routes(
        broadcasting_routes(
            publisher, rules(), lambda request: users.get(bearer_token(request.headers.get("Authorization")) or "")
        )
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield Backend(f"http://{host}:{port}")
    finally:
        await runner.cleanup()


@asynccontextmanager
async def deployment(workdir: Path, redis: RedisServer | None = None) -> AsyncIterator[Deployment]:
    async with AsyncExitStack() as stack:
        cluster = await stack.enter_async_context(running_cluster(workdir, redis=redis, history=HISTORY))
        client_node, _, publishing_node = cluster.nodes
        backend = await stack.enter_async_context(backend_on(publishing_node))
        relay = await stack.enter_async_context(relay_to(client_node.host, client_node.port))
        # Retries honour the 503's Retry-After (1 s) while Redis is away; 30 of them outlast any outage here.
        publisher = AsyncPusher(
            APP.id,
            APP.key,
            APP.secret,
            host=publishing_node.host,
            port=publishing_node.port,
            ssl=False,
            timeout=DEADLINE,
            retries=30,
            retry_backoff=0.05,
        )
        await stack.enter_async_context(publisher)
        yield Deployment(cluster, backend, relay, publisher)


async def publish(
    publisher: AsyncPusher, channel: str, count: int, pending: list[float] | None = None
) -> list[tuple[float, float]]:
    """Publish ``{"n": 1..count}`` in order, 25 ms apart (each retried by the library until accepted); return when
    each call started and when it was accepted. ``pending`` holds the start of the call under way, if any."""
    spans = []
    pending = [] if pending is None else pending
    for number in range(1, count + 1):
        started = time.monotonic()
        pending[:] = [started]
        await publisher.trigger(channel, "message", {"n": number})
        pending.clear()
        spans.append((started, time.monotonic()))
        await asyncio.sleep(0.025)
    return spans


def conversation() -> str:
    return f"private-conversation.{uuid.uuid4().hex[:10]}"


def dropped(label: str = "ada") -> Any:
    return lambda m: m["type"] == "state" and m["client"] == label and m["current"] != "connected"


async def first_subscription(running: NodeSession) -> None:
    first = await expect(running, subscribed("ada"), "the first subscription")
    assert first["resuming"] is False


async def resumed(running: NodeSession, flowing: asyncio.Task[list[tuple[float, float]]]) -> dict[str, Any]:
    """Wait for pusher-js's own resubscription and every event; return the resubscription."""
    second = await expect(running, subscribed("ada", 2), "pusher-js's own resubscription")
    await asyncio.wait_for(flowing, 60)
    await count_reached(running, "ada", EVENTS)
    assert second["resuming"] is True, "the second authorization did not carry resume_after"
    return second


@pytest.mark.parametrize("kind", ["pusher", "echo"])
async def test_a_reconnection_that_lands_on_another_node_resumes_exactly(
    node_modules: Path, tmp_path: Path, kind: str
) -> None:
    name = conversation()
    async with deployment(tmp_path) as d:
        client = {"label": "ada", "kind": kind, "resume": True, "channel": name}
        with session(d.server(), "history_resume.mjs", d.spec(client), app=APP) as running:
            await first_subscription(running)
            flowing = asyncio.create_task(publish(d.publisher, name, EVENTS))
            await count_reached(running, "ada", 5)
            async with d.relay.held():
                d.relay.target_port = d.nodes[1].port
                await expect(running, dropped(), "the drop")
                away = time.monotonic()
                await asyncio.sleep(AWAY)
                back = time.monotonic()
            await resumed(running, flowing)

    assert any(away < accepted < back for _, accepted in flowing.result()), "nothing was published while away"
    assert d.relay.accepted == 2
    assert numbers(received(running, "ada")) == list(range(1, EVENTS + 1))


async def test_a_node_killed_under_the_client_resumes_exactly_on_another(node_modules: Path, tmp_path: Path) -> None:
    name = conversation()
    async with deployment(tmp_path) as d:
        client = {"label": "ada", "kind": "pusher", "resume": True, "channel": name}
        with session(d.server(), "history_resume.mjs", d.spec(client), app=APP) as running:
            await first_subscription(running)
            flowing = asyncio.create_task(publish(d.publisher, name, EVENTS))
            await count_reached(running, "ada", 5)
            async with d.relay.held(cut=False):
                d.relay.target_port = d.nodes[1].port
                await d.nodes[0].kill()  # SIGKILL: the client's TCP connection dies with it
                await expect(running, dropped(), "the drop")
                away = time.monotonic()
                await asyncio.sleep(AWAY)
                back = time.monotonic()
            await resumed(running, flowing)

    assert any(away < accepted < back for _, accepted in flowing.result()), "nothing was published while away"
    assert numbers(received(running, "ada")) == list(range(1, EVENTS + 1))


@pytest.mark.parametrize("cut", [False, True], ids=["stays-connected", "cut-during-the-outage"])
async def test_a_redis_restart_loses_and_repeats_no_event(node_modules: Path, tmp_path: Path, cut: bool) -> None:
    name = conversation()
    redis = PersistentRedis(tmp_path)
    async with deployment(tmp_path, redis) as d:
        client = {"label": "ada", "kind": "pusher", "resume": True, "channel": name}
        with session(d.server(), "history_resume.mjs", d.spec(client), app=APP) as running:
            await first_subscription(running)
            pending: list[float] = []
            flowing = asyncio.create_task(publish(d.publisher, name, EVENTS, pending))
            await count_reached(running, "ada", 10)
            stopped = time.monotonic()
            await redis.stop()

            async def degraded() -> bool:
                return all([await node.health() == 503 for node in d.nodes])

            await eventually(degraded, timeout=DEADLINE, what="every node noticing that Redis is gone")

            async def refused() -> bool:  # with Redis gone, a publish under way can only be accepted after its restart
                return bool(pending)

            await eventually(refused, timeout=DEADLINE, what="a publish made while Redis is gone")
            if cut:
                async with d.relay.held():
                    d.relay.target_port = d.nodes[1].port
                    await expect(running, dropped(), "the drop")
                    await asyncio.sleep(AWAY)
                # pusher-js resubscribes to node 2 while Redis is still away
                await expect(running, subscribed("ada", 2), "pusher-js's own resubscription")
            await redis.start()
            restarted = time.monotonic()
            if cut:
                await resumed(running, flowing)
            else:
                await asyncio.wait_for(flowing, 60)
                await count_reached(running, "ada", EVENTS)

    spans = flowing.result()
    assert any(started < restarted and accepted > restarted for started, accepted in spans), (
        "no publish was refused during the outage and retried after it"
    )
    assert stopped < restarted
    assert numbers(received(running, "ada")) == list(range(1, EVENTS + 1))
