"""Scale-out trust: only nodes holding an app's bus key can put that app's events on other nodes' sockets.

Someone who can ``PUBLISH`` on the shared Redis writes bus messages by hand, in pusherpy's own format; nodes drop
them (no valid MAC), count them in ``/metrics`` and log a bounded number of warnings. Nodes of one deployment agree on
the keys without configuration; nodes with different ``cluster_secret`` values do not deliver each other's events.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from pusherpy.protocol import codec
from pusherpy.protocol.apps import AppConfig
from tests.helpers import PusherClient, connect, trigger
from tests.scale_out.cluster import (
    BUS_SHARDS,
    MAIN_APP,
    QUOTA_APP,
    SMALL_ROOM_APP,
    Cluster,
    Node,
    RedisClusterServer,
    named,
    running_cluster,
)

FORGED_WARNING = "without a valid MAC"
NOT_OURS_WARNING = "not pusherpy's"


def bus_text(app_id: str, channel: str, event: str, data: object) -> str:
    """A channel-event bus message as pusherpy encodes it (header line, then the encoded event), unsigned."""
    header = codec.dumps(["e", "forger", app_id, channel, ""])
    return header + "\n" + codec.dumps({"event": event, "channel": channel, "data": codec.dumps(data)})


def forgeries(channel: str) -> list[bytes]:
    """The same stolen event three ways: no MAC (pusherpy's format before MACs), a MAC field of zeros, and a MAC made
    with a key guessed from what an attacker knows (the app id and key, not its secret)."""
    text = bus_text(MAIN_APP.id, channel, "stolen", {"from": "redis"})
    guessed = hmac.new(MAIN_APP.key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return [text.encode(), b"0" * 64 + text.encode(), guessed.encode() + text.encode()]


async def publish_on_bus(cluster: Cluster, channel: str, *messages: bytes) -> None:
    """``PUBLISH`` raw bytes on the bus channel that carries ``channel`` (``SPUBLISH`` to its shard on a cluster)."""
    if isinstance(cluster.redis, RedisClusterServer):
        client: Redis | RedisCluster = cluster.redis.client()
        bus = cluster.redis.bus_channels(cluster.prefix)[zlib.crc32(channel.encode()) % BUS_SHARDS]
    else:
        client = Redis.from_url(cluster.redis.url)
        bus = f"{cluster.prefix}:bus"
    try:
        for message in messages:
            if isinstance(client, RedisCluster):
                await client.spublish(bus, message)
            else:
                await client.publish(bus, message)
    finally:
        await client.aclose()


async def refused(node: Node) -> int:
    """``pusherpy_bus_messages_refused_total`` from the node's /metrics (0 when it is not there)."""
    async with aiohttp.ClientSession() as session, session.get(node.http_url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("pusherpy_bus_messages_refused_total "):
            return int(line.split()[1])
    return 0  # never counted yet


def log_lines(cluster: Cluster, node: Node, text: str) -> list[str]:
    return [line for line in (cluster.workdir / f"{node.name}.log").read_text().splitlines() if text in line]


async def genuine_event_arrives(
    listener: PusherClient, sender: Node, channel: str, *, app: AppConfig = MAIN_APP
) -> None:
    """Publish through another node and wait for it on ``listener``: the bus carries one channel's messages in order,
    so once this arrives, every message published on the bus before it has been handled by the listener's node."""
    status, _ = await trigger(sender, channel, "genuine", {"n": 1}, app=app)
    assert status == 200
    await listener.expect("genuine", channel=channel)


def config_with(cluster: Cluster, name: str, *, cluster_secret: str | None = None, apps: str | None = None) -> Path:
    """The cluster's config file, with a ``cluster_secret`` and/or other ``[[apps]]``, saved as ``name``."""
    text = cluster.config.read_text()
    if apps is not None:
        text = text[: text.index("[[apps]]")] + apps
    if cluster_secret is not None:
        text = f'cluster_secret = "{cluster_secret}"\n' + text
    path = cluster.workdir / name
    path.write_text(text)
    return path


def apps_table(*apps: AppConfig) -> str:
    return "".join(f'[[apps]]\nid = "{a.id}"\nkey = "{a.key}"\nsecret = "{a.secret}"\n\n' for a in apps)


@asynccontextmanager
async def empty_cluster(workdir: Path) -> AsyncIterator[Cluster]:
    """A fresh redis-server and no node yet: each test starts its nodes with its own configuration."""
    async with running_cluster(workdir, nodes=0) as cluster:
        yield cluster


@pytest.mark.asyncio(loop_scope="session")
async def test_a_forged_bus_message_reaches_no_socket_and_is_counted(cluster: Cluster) -> None:
    node0, node1, _ = cluster.nodes
    async with connect(node0) as listener:
        await listener.subscribe("private-vault")
        before = await refused(node0)
        await publish_on_bus(cluster, "private-vault", *forgeries("private-vault"))
        await genuine_event_arrives(listener, node1, "private-vault")
        assert named(listener.backlog, "stolen") == []
        assert await refused(node0) == before + 3


async def test_many_forged_or_foreign_messages_log_a_bounded_number_of_warnings_and_disturb_nothing(
    tmp_path: Path,
) -> None:
    async with empty_cluster(tmp_path) as cluster:
        node0 = await cluster.start_node()
        node1 = await cluster.start_node()
        await cluster.wait_all_healthy()
        async with connect(node0) as listener:
            await listener.subscribe("private-vault")
            stolen = forgeries("private-vault") * 100
            # Not pusherpy's at all: bytes that are not text, and text that is not a bus message.
            foreign = [b"\xff" * 100, b"hello", b"[" * 100] * 100
            await publish_on_bus(cluster, "private-vault", *stolen, *foreign)
            await genuine_event_arrives(listener, node1, "private-vault")
            assert named(listener.backlog, "stolen") == []
            assert await refused(node0) == len(stolen) + len(foreign)
            assert await node0.health() == 200
        for node in (node0, node1):
            assert len(log_lines(cluster, node, FORGED_WARNING)) == 1
            assert len(log_lines(cluster, node, NOT_OURS_WARNING)) == 1
            assert log_lines(cluster, node, "Traceback") == []
            assert log_lines(cluster, node, "Redis unavailable") == []


async def test_nodes_of_one_deployment_agree_on_the_bus_keys_and_a_node_with_another_app_secret_does_not(
    tmp_path: Path,
) -> None:
    """No cluster_secret: each app's bus key comes from its secret. Nodes configured apart (apps listed in another
    order, or only some of the apps) still exchange events; a node with another secret for the app does not."""
    async with empty_cluster(tmp_path) as cluster, AsyncExitStack() as stack:
        node0 = await cluster.start_node()
        reordered = await cluster.start_node(
            config=config_with(cluster, "reordered.toml", apps=apps_table(SMALL_ROOM_APP, QUOTA_APP, MAIN_APP))
        )
        just_one = await cluster.start_node(config=config_with(cluster, "one.toml", apps=apps_table(MAIN_APP)))
        impostor_app = AppConfig(id=MAIN_APP.id, key=MAIN_APP.key, secret="another-secret")
        impostor = await cluster.start_node(config=config_with(cluster, "impostor.toml", apps=apps_table(impostor_app)))
        await cluster.wait_all_healthy()
        listener = await stack.enter_async_context(connect(node0))
        await listener.subscribe("private-deployment")

        status, _ = await trigger(impostor, "private-deployment", "stolen", {}, app=impostor_app)
        assert status == 200
        await genuine_event_arrives(listener, reordered, "private-deployment")
        await genuine_event_arrives(listener, just_one, "private-deployment")
        assert named(listener.backlog, "stolen") == []
        assert await refused(node0) >= 1
        assert len(log_lines(cluster, node0, FORGED_WARNING)) == 1


async def test_nodes_with_different_cluster_secrets_do_not_deliver_each_others_events_and_say_so(
    tmp_path: Path,
) -> None:
    async with empty_cluster(tmp_path) as cluster, AsyncExitStack() as stack:
        ours = config_with(cluster, "ours.toml", cluster_secret="ours-0123456789")
        node0 = await cluster.start_node(config=ours)
        node1 = await cluster.start_node(config=ours)
        stranger_env = {
            "PUSHERPY_REDIS_URL": cluster.redis.url,
            "PUSHERPY_REDIS_PREFIX": cluster.prefix,
            "PUSHERPY_CLUSTER_SECRET": "theirs-9876543210",
            "PUSHERPY_APP_ID": MAIN_APP.id,
            "PUSHERPY_APP_KEY": MAIN_APP.key,
            "PUSHERPY_APP_SECRET": MAIN_APP.secret,
        }
        stranger0 = await cluster.start_node(env=stranger_env)
        stranger1 = await cluster.start_node(env=stranger_env)
        await cluster.wait_all_healthy()
        ours_listener = await stack.enter_async_context(connect(node0))
        await ours_listener.subscribe("private-secrets")
        their_listener = await stack.enter_async_context(connect(stranger0))
        await their_listener.subscribe("private-secrets")

        await trigger(stranger1, "private-secrets", "theirs-only", {})
        await trigger(node1, "private-secrets", "ours-only", {})
        await genuine_event_arrives(ours_listener, node1, "private-secrets")
        await genuine_event_arrives(their_listener, stranger1, "private-secrets")
        assert named(ours_listener.backlog, "theirs-only") == []
        assert named(their_listener.backlog, "ours-only") == []
        for node in (node0, stranger0):
            assert await refused(node) >= 1
            assert len(log_lines(cluster, node, FORGED_WARNING)) == 1
