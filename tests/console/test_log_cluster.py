"""The console log across a cluster: a console on one node sees what happens on the others.

Real ``redis-server``, a real ``pusherpy serve`` process (node 2) and a node served in this process (node 1, whose
hub the test watches, as the console page's stream does). What crosses the bus is read off Redis itself: a raw
subscriber to the bus channel decodes each message with the nodes' own ``BusMac``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from pusherpy.protocol.apps import AppConfig
from pusherpy.protocol.console import LogEntry, LogKind
from pusherpy.server.broker.redis_bus_mac import BusMac
from pusherpy.server.broker.redis_console import FORWARD_PER_SECOND
from pusherpy.server.broker.redis_messages import BusMessage, ConsoleEntriesMessage, ConsoleWatchMessage
from pusherpy.server.console.hub import ConsoleHub, Watcher
from pusherpy.server.state import STATE
from tests.console.watching import entries_until, has, one
from tests.helpers import RunningServer, connect, make_settings, serve, trigger
from tests.scale_out.cluster import (
    BUS_SHARDS,
    HEARTBEAT_SECONDS,
    MAIN_APP,
    QUOTA_APP,
    SMALL_ROOM_APP,
    TTL_SECONDS,
    Cluster,
    Node,
    RedisServer,
    running_cluster,
)
from tests.scale_out.test_workers import running_workers

APPS = (MAIN_APP, QUOTA_APP, SMALL_ROOM_APP)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """One node process on one ``redis-server`` (the bus tap reads its one bus channel)."""
    async with running_cluster(tmp_path, nodes=1) as running:
        yield running


@pytest.fixture(params=["redis", "redis-cluster"])
async def any_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    """The same on one Redis and on a 3-shard Redis Cluster (sharded pub/sub)."""
    async with running_cluster(tmp_path, nodes=1, redis_cluster=request.param == "redis-cluster") as running:
        yield running


@asynccontextmanager
async def node_in_process(cluster: Cluster) -> AsyncIterator[RunningServer]:
    sharded = {"redis_cluster": True, "redis_bus_shards": BUS_SHARDS} if cluster.redis.is_cluster else {}
    async with node_on(cluster.redis.url, cluster.prefix, APPS, **sharded) as server:
        yield server


@asynccontextmanager
async def node_on(url: str, prefix: str, apps: tuple[AppConfig, ...], **more: Any) -> AsyncIterator[RunningServer]:
    timing = {"node_heartbeat_seconds": HEARTBEAT_SECONDS, "node_ttl_seconds": TTL_SECONDS}
    settings = make_settings(*apps, redis_url=url, redis_prefix=prefix, **timing, **more)
    async with serve(settings) as server:
        yield server


class BusTap:
    """Every message on the cluster's bus, as the nodes read it."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._mac = BusMac(APPS, None)
        self.messages: list[BusMessage] = []
        self._client = Redis.from_url(cluster.redis.url, decode_responses=False)
        self._pubsub = self._client.pubsub()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BusTap:
        await self._pubsub.subscribe(f"{self._cluster.prefix}:bus")
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for raw in self._pubsub.listen():
            if raw["type"] == "message":
                message = self._mac.open(raw["data"])
                if message is not None:
                    self.messages.append(message)

    async def __aexit__(self, *_: object) -> None:
        assert self._reader is not None
        self._reader.cancel()
        await self._pubsub.aclose()
        await self._client.aclose()

    def entries(self) -> list[LogEntry]:
        return [e for m in self.messages if isinstance(m, ConsoleEntriesMessage) for e in m.entries]

    async def publish(self, message: BusMessage) -> None:
        await self._client.publish(f"{self._cluster.prefix}:bus", self._mac.seal(message))


async def watch_across(console: ConsoleHub, node: Node) -> Watcher:
    """Watch the main app and wait until ``node`` forwards its entries here (it hears of the watch on the bus)."""
    watcher = console.watch(MAIN_APP.id)
    deadline = time.monotonic() + 5
    for attempt in range(1000):
        assert time.monotonic() < deadline, "the other node never forwarded its entries"
        await trigger(node, "probe", f"probe-{attempt}", {})  # type: ignore[arg-type]
        try:
            await entries_until(watcher, has(LogKind.API_EVENT, event=f"probe-{attempt}"), timeout=0.3)
            return watcher
        except AssertionError:
            continue
    raise AssertionError("unreachable")


async def test_a_console_on_node_1_sees_what_happens_on_node_2(any_cluster: Cluster) -> None:
    remote = any_cluster.nodes[0]
    async with node_in_process(any_cluster) as here:
        console = here.application[STATE].console
        here_name = here.application[STATE].broker.node_name
        watcher = await watch_across(console, remote)
        async with connect(remote, headers={"Origin": "https://far.test"}) as client:  # type: ignore[arg-type]
            await client.subscribe("presence-lobby", user_id="bob")
            await client.send("client-wave", {"hi": 1}, channel="presence-lobby")
            seen = await entries_until(watcher, has(LogKind.CLIENT_EVENT, socket_id=client.socket_id))
        seen += await entries_until(watcher, has(LogKind.VACATED, channel="presence-lobby"))
        async with connect(here) as local:
            mine = await entries_until(watcher, has(LogKind.CONNECTED, socket_id=local.socket_id))

    sid = client.socket_id
    connected = one(seen, LogKind.CONNECTED, socket_id=sid)
    assert connected is not None and connected.origin == "https://far.test"
    there = connected.node
    assert there and there != here_name  # stamped with the node it happened on
    for kind, fields in [
        (LogKind.SUBSCRIBED, {"channel": "presence-lobby", "user_id": "bob"}),
        (LogKind.OCCUPIED, {"channel": "presence-lobby"}),
        (LogKind.MEMBER_ADDED, {"channel": "presence-lobby", "user_id": "bob"}),
        (LogKind.CLIENT_EVENT, {"channel": "presence-lobby", "event": "client-wave", "preview": '{"hi":1}'}),
        (LogKind.DISCONNECTED, {"socket_id": sid, "code": 1000}),
        (LogKind.MEMBER_REMOVED, {"channel": "presence-lobby", "user_id": "bob"}),
        (LogKind.VACATED, {"channel": "presence-lobby"}),
    ]:
        entry = one(seen, kind, **fields)
        assert entry is not None and entry.node == there, (kind, entry)
    assert one(mine, LogKind.CONNECTED, node=here_name)


async def test_a_console_sees_the_entries_of_every_worker(tmp_path: Path) -> None:
    """``serve --workers 2``: each worker is a node of its own; a console on a third node sees both."""
    redis = RedisServer(tmp_path)
    await redis.start()
    try:
        async with running_workers(tmp_path, redis) as workers, node_on(redis.url, "workers-test", (MAIN_APP,)) as here:
            watcher = await watch_across(here.application[STATE].console, workers.node)
            nodes: set[str] = set()
            async with AsyncExitStack() as stack:
                for _ in range(40):  # the kernel spreads connections over the workers; 40 all on one is ~1e-12
                    client = await stack.enter_async_context(connect(workers.node))  # type: ignore[arg-type]
                    seen = await entries_until(watcher, has(LogKind.CONNECTED, socket_id=client.socket_id))
                    entry = one(seen, LogKind.CONNECTED, socket_id=client.socket_id)
                    assert entry is not None
                    nodes.add(entry.node)
                    if len(nodes) == 2:
                        break
        assert len(nodes) == 2 and here.application[STATE].broker.node_name not in nodes and "" not in nodes
    finally:
        await redis.kill()


async def test_entries_cross_the_bus_only_while_an_app_is_watched(cluster: Cluster) -> None:
    remote = cluster.nodes[0]
    async with BusTap(cluster) as bus, node_in_process(cluster) as here:
        await trigger(remote, "news", "before", {})  # type: ignore[arg-type]
        console = here.application[STATE].console
        watcher = await watch_across(console, remote)
        console.unwatch(watcher)

        async def quiet_after(event: str) -> bool:
            """Publish on node 2; True when no entry of it crossed the bus within 0.3 s (node 2 stopped)."""
            await trigger(remote, "news", event, {})  # type: ignore[arg-type]
            await asyncio.sleep(0.3)  # the absence of a batch (flushed every 0.05 s) within a bounded wait
            return not any(e.event == event for e in bus.entries())

        deadline = time.monotonic() + 5
        while not await quiet_after(f"after-{time.monotonic()}"):
            assert time.monotonic() < deadline, "node 2 kept forwarding after the console left"
        for n in range(3):
            assert await quiet_after(f"still-unwatched-{n}")
    assert not any(e.event == "before" for e in bus.entries())
    stopped = [m for m in bus.messages if isinstance(m, ConsoleWatchMessage) and not m.watching]
    assert stopped and stopped[-1].app_id == MAIN_APP.id


async def test_a_watcher_node_that_stopped_saying_so_is_forgotten_after_the_ttl(cluster: Cluster) -> None:
    """A node that watched and died (here: a ghost that said it watches once, then nothing) stops the forwarding by
    itself: node 2 forgets it a node TTL after it last heard it."""
    remote = cluster.nodes[0]
    async with BusTap(cluster) as bus:
        await bus.publish(ConsoleWatchMessage("ghost", MAIN_APP.id, True))
        said_at = time.monotonic()

        async def forwarded(event: str) -> bool:
            await trigger(remote, "news", event, {})  # type: ignore[arg-type]
            await asyncio.sleep(0.3)
            return any(e.event == event for e in bus.entries())

        assert await forwarded("while-watched")
        while time.monotonic() - said_at < TTL_SECONDS + 1:
            await asyncio.sleep(0.1)
        assert not await forwarded("after-the-ttl")


async def test_a_flood_of_entries_arrives_or_is_counted_as_dropped(cluster: Cluster) -> None:
    remote = cluster.nodes[0]
    async with node_in_process(cluster) as here:
        watcher = await watch_across(here.application[STATE].console, remote)
        channels = [f"flood-{i}" for i in range(MAIN_APP.max_channels_per_trigger)]
        started = time.monotonic()
        replies = await asyncio.gather(*(trigger(remote, channels, "flood", {}) for _ in range(25)))  # type: ignore[arg-type]
        elapsed = time.monotonic() - started
        assert [status for status, _ in replies] == [200] * 25
        total = 25 * len(channels)
        received: list[LogEntry] = []

        def accounted(entries: list[LogEntry]) -> bool:
            received[:] = [e for e in entries if e.event == "flood"]
            return len(received) + watcher.dropped >= total

        await entries_until(watcher, accounted, timeout=10)
    assert len(received) + watcher.dropped == total
    # One-second windows of FORWARD_PER_SECOND: any span of the flood's length meets at most int(elapsed) + 2 of
    # them (the exact bound, with a clock the test moves, is in test_log_relay.py).
    assert len(received) <= FORWARD_PER_SECOND * (int(elapsed) + 2)
