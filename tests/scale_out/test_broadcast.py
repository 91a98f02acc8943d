"""Scale-out: events published on any node reach every subscriber in the cluster exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from pusherpy.protocol import codec
from pusherpy.server.broker.redis_bus_mac import MAC_LENGTH, bus_key
from tests.helpers import PusherClient, api_request, connect, trigger
from tests.scale_out.cluster import BUS_SHARDS, MAIN_APP, TTL_SECONDS, Cluster, RedisClusterServer, drain, named

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_an_api_event_reaches_subscribers_on_every_node_once(cluster: Cluster) -> None:
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(node)) for node in cluster.nodes]
        for client in clients:
            await client.subscribe("news-everyone")
        status, _ = await trigger(cluster.nodes[1], "news-everyone", "headline", {"n": 1})
        assert status == 200
        for client in clients:
            assert named(await drain(client), "headline") == [
                {"event": "headline", "channel": "news-everyone", "data": {"n": 1}}
            ]


async def test_except_socket_id_excludes_a_socket_connected_to_another_node(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as other, connect(node1) as excluded, connect(node1) as neighbour:
        for client in (other, excluded, neighbour):
            await client.subscribe("news-except")
        await trigger(node2, "news-except", "headline", {"n": 2}, socket_id=excluded.socket_id)
        assert len(named(await drain(other), "headline")) == 1
        assert len(named(await drain(neighbour), "headline")) == 1
        assert named(await drain(excluded, 0.2), "headline") == []


async def test_a_client_event_reaches_other_nodes_once_and_is_not_echoed(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as sender, connect(node1) as first, connect(node2) as second:
        for client in (sender, first, second):
            await client.subscribe("private-whispers")
        await sender.send("client-typing", {"who": "ann"}, channel="private-whispers")
        for receiver in (first, second):
            assert named(await drain(receiver), "client-typing") == [
                {"event": "client-typing", "channel": "private-whispers", "data": {"who": "ann"}}
            ]
        assert named(await drain(sender, 0.2), "client-typing") == []


async def test_a_server_to_user_event_reaches_the_user_signed_in_on_another_node(cluster: Cluster) -> None:
    node0, node1, _ = cluster.nodes
    async with connect(node1) as alice:
        await alice.sign_in("alice-s2u")
        await alice.expect("pusher:signin_success")
        await alice.subscribe("#server-to-user-alice-s2u")
        await trigger(node0, "#server-to-user-alice-s2u", "private-note", {"text": "hi"})
        message = await alice.expect("private-note")
        assert message["data"] == {"text": "hi"}


async def test_a_cache_channels_last_event_is_served_by_every_node(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    await trigger(node0, "cache-scores", "score", {"home": 2})
    async with connect(node2) as late:
        await late.subscribe("cache-scores")
        cached = await late.receive()
        assert cached == {"event": "score", "channel": "cache-scores", "data": {"home": 2}}
        await late.subscribe("cache-empty")
        assert (await late.expect("pusher:cache_miss"))["channel"] == "cache-empty"
    status, body = await api_request(node1, "GET", "/apps/4242/channels/cache-scores", params={"info": "cache"})
    assert status == 200
    assert body["cache"]["event"] == "score"
    assert json.loads(body["cache"]["data"]) == {"home": 2}
    assert 0 < body["cache"]["ttl"] <= 1800


@pytest.mark.parametrize("cluster", ["redis"], indirect=True)
async def test_a_node_holds_one_bus_subscription_however_many_channels_it_serves(cluster: Cluster) -> None:
    redis = cluster.redis.client()
    try:
        bus = f"{cluster.prefix}:bus"
        assert await redis.pubsub_numsub(bus) == [(bus, 3)]
        async with connect(cluster.nodes[0]) as client:
            for index in range(20):
                await client.subscribe(f"many-{index}")
            assert await redis.pubsub_channels(f"{cluster.prefix}*") == [bus]
            assert await redis.pubsub_numsub(bus) == [(bus, 3)]
            assert await redis.pubsub_numpat() == 0
    finally:
        await redis.aclose()


@pytest.mark.parametrize("cluster", ["redis-cluster"], indirect=True)
async def test_on_redis_cluster_a_node_holds_one_sharded_subscription_per_bus_shard(cluster: Cluster) -> None:
    assert isinstance(cluster.redis, RedisClusterServer)
    expected = dict.fromkeys(cluster.redis.bus_channels(cluster.prefix), 3)
    assert await cluster.redis.shard_subscriptions(cluster.prefix) == expected
    async with connect(cluster.nodes[0]) as client:
        for index in range(20):
            await client.subscribe(f"many-sharded-{index}")
        assert await cluster.redis.shard_subscriptions(cluster.prefix) == expected
    redis = cluster.redis.client()
    try:
        await redis.initialize()
        owners = {redis.get_node_from_key(channel).name for channel in expected}  # type: ignore[union-attr]
    finally:
        await redis.aclose()
    assert len(owners) >= 2, "the bus shards should spread over the cluster's primaries"


async def _bus_messages_carrying(cluster: Cluster, word: str, publish: Callable[[], Awaitable[None]]) -> list[Any]:
    """(bus channel, header, body) of every bus message whose body holds ``word``, read from Redis itself while
    ``publish`` runs; each message's MAC is checked on the way."""
    listeners: list[Redis] = []
    pubsubs: list[PubSub] = []
    if isinstance(cluster.redis, RedisClusterServer):
        router = cluster.redis.client()
        try:
            await router.initialize()
            for channel in cluster.redis.bus_channels(cluster.prefix):
                node = router.get_node_from_key(channel)
                assert node is not None
                listener = Redis(host=node.host, port=node.port, decode_responses=True)
                pubsub = listener.pubsub()
                await pubsub.ssubscribe(channel)
                listeners.append(listener)
                pubsubs.append(pubsub)
        finally:
            await router.aclose()
    else:
        listener = Redis.from_url(cluster.redis.url, decode_responses=True)
        pubsub = listener.pubsub()
        await pubsub.subscribe(f"{cluster.prefix}:bus")
        listeners.append(listener)
        pubsubs.append(pubsub)
    try:
        for pubsub in pubsubs:
            await pubsub.get_message(timeout=5)  # the subscribe confirmation
        await publish()
        carried = []
        deadline = time.monotonic() + 0.5  # heartbeats keep the bus busy: read for a fixed window
        while deadline > time.monotonic():
            for pubsub in pubsubs:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.01)
                if message is None:
                    continue
                mac, data = message["data"][:MAC_LENGTH], message["data"][MAC_LENGTH:]
                header, _, body = data.partition("\n")
                if word in body:
                    expected = hmac.new(bus_key(MAIN_APP, None), data.encode(), hashlib.sha256).hexdigest()
                    assert mac == expected, "a bus message is signed with its app's bus key"
                    carried.append((message["channel"], json.loads(header), body))
        return carried
    finally:
        for pubsub in pubsubs:
            await pubsub.aclose()
        for listener in listeners:
            await listener.aclose()


async def test_a_broadcast_crosses_redis_once_carrying_the_encoded_event(cluster: Cluster) -> None:
    async with AsyncExitStack() as stack:
        clients: list[PusherClient] = [await stack.enter_async_context(connect(node)) for node in cluster.nodes]
        for client in clients:
            await client.subscribe("news-once")

        async def publish() -> None:
            await trigger(cluster.nodes[0], "news-once", "bulletin", {"n": 3})
            for client in clients:
                await client.expect("bulletin")

        carried = await _bus_messages_carrying(cluster, "bulletin", publish)
    assert len(carried) == 1
    bus_channel, (kind, _node, app_id, channel, except_socket_id), body = carried[0]
    assert (kind, app_id, channel, except_socket_id) == ("e", "4242", "news-once", "")
    assert codec.loads(body) == {"event": "bulletin", "channel": "news-once", "data": '{"n": 3}'}
    if isinstance(cluster.redis, RedisClusterServer):
        # The channel's shard, the same on every node: its events stay in order on one shard channel.
        assert bus_channel == cluster.redis.bus_channels(cluster.prefix)[zlib.crc32(b"news-once") % BUS_SHARDS]


async def test_deployments_with_different_prefixes_share_nothing(cluster: Cluster) -> None:
    other_config = cluster.workdir / "other.toml"
    other_config.write_text(cluster.config.read_text().replace(cluster.prefix, f"{cluster.prefix}-other"))
    other = await cluster.start_node(config=other_config)
    try:
        async with connect(cluster.nodes[0]) as ours, connect(other) as theirs:
            await ours.subscribe("news-prefix")
            await theirs.subscribe("news-prefix")
            await trigger(other, "news-prefix", "theirs-only", {})
            await theirs.expect("theirs-only")
            assert named(await drain(ours, 0.3), "theirs-only") == []
            _, body = await api_request(
                other, "GET", "/apps/4242/channels/news-prefix", params={"info": "subscription_count"}
            )
            assert body == {"occupied": True, "subscription_count": 1}
    finally:
        await other.stop()
        cluster.nodes.remove(other)


async def test_a_node_configured_from_a_laravel_env_joins_the_cluster(cluster: Cluster) -> None:
    env = {
        "REVERB_SCALING_ENABLED": "true",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(cluster.redis.port),
        "PUSHERPY_REDIS_PREFIX": cluster.prefix,
        "PUSHERPY_REDIS_CLUSTER": "true" if cluster.redis.is_cluster else "false",
        "REVERB_APP_ID": "4242",
        "REVERB_APP_KEY": "test-key",
        "REVERB_APP_SECRET": "test-secret",
    }
    laravel = await cluster.start_node(env=env)
    try:
        async with connect(cluster.nodes[2]) as listener, connect(laravel) as leaving:
            await listener.subscribe("presence-laravel", user_id="listener")
            await leaving.subscribe("presence-laravel", user_id="leaving")
            await trigger(laravel, "presence-laravel", "from-laravel-node", {"ok": True})
            assert (await listener.expect("from-laravel-node"))["data"] == {"ok": True}

            await laravel.stop()
            # A node that stops cleanly takes its members out at once, well before its heartbeat would expire.
            removed = await listener.expect("pusher_internal:member_removed", timeout=TTL_SECONDS * 0.75)
            assert removed["data"] == {"user_id": "leaving"}
    finally:
        await laravel.stop()
        cluster.nodes.remove(laravel)
