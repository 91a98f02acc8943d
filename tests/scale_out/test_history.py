"""Channel history on a cluster: every node hands out the same serials, serves any channel's history, and resumes a
subscriber on any node with exactly the events after its position, once, in order. History lives in Redis, so a
node's restart loses none of it; while Redis is unreachable a kept channel refuses publishes (503) rather than hand
out a serial it cannot keep.

The cluster's main app keeps ``*kept-*`` channels (``KEPT_SIZE`` events); see ``cluster.cluster_config``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from contextlib import AsyncExitStack
from typing import Any

import pytest

from pusherpy.protocol import signing
from tests.helpers import PusherClient, api_request, connect, trigger
from tests.scale_out.cluster import KEPT_SIZE, MAIN_APP, REWIND, Cluster, Node, RedisClusterServer, drain, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def kept_channel(kind: str = "") -> str:
    return f"{kind}kept-{secrets.token_hex(4)}"


async def subscribe_after(client: PusherClient, channel: str, resume_after: int) -> dict[str, Any]:
    """Subscribe to a private channel, resuming after a serial (signed into channel_data, as an auth endpoint would)."""
    channel_data = json.dumps({"resume_after": resume_after})
    auth = signing.sign_channel(client.app.key, client.app.secret, client.socket_id, channel, channel_data)
    await client.send("pusher:subscribe", {"channel": channel, "auth": auth, "channel_data": channel_data})
    reply = await client.expect_reply_for(channel)
    ahead = [message for message in client.backlog if message.get("channel") == channel]
    assert ahead == [], "nothing of the channel may arrive before subscription_succeeded"
    return reply


async def publish(node: Node, channel: str, n: int) -> int:
    status, body = await trigger(node, channel, "message", {"n": n})
    assert status == 200, body
    serial: int = body["serials"][channel]
    return serial


async def leftover(client: PusherClient, channel: str) -> list[dict[str, Any]]:
    """Channel events (not the server's own ``pusher_internal:`` ones) still arriving on ``channel``."""
    return [m for m in await drain(client) if m.get("channel") == channel and not m["event"].startswith("pusher")]


async def events_of(client: PusherClient, channel: str, count: int) -> list[dict[str, Any]]:
    return [await client.expect("message", channel=channel) for _ in range(count)]


async def test_every_node_hands_out_the_same_increasing_serials(cluster: Cluster) -> None:
    channel = kept_channel()
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(node)) for node in cluster.nodes]
        starts = [(await client.subscribe(channel))["serial"] for client in clients]
        assert len(set(starts)) == 1, "one record, one position, whichever node was asked"
        serials = [await publish(cluster.nodes[n % 3], channel, n) for n in range(9)]
        assert serials == list(range(starts[0] + 1, starts[0] + 10))
        for client in clients:
            received = await events_of(client, channel, 9)
            assert [(event["serial"], event["data"]["n"]) for event in received] == list(
                zip(serials, range(9), strict=True)
            )


async def test_events_published_at_once_through_every_node_arrive_everywhere_in_serial_order(cluster: Cluster) -> None:
    """Publishes through different nodes cross on the bus: each node delivers in serial order, fetching what an
    overtaking event skipped, and nothing twice."""
    channel = kept_channel()
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(node)) for node in cluster.nodes]
        start = [(await client.subscribe(channel))["serial"] for client in clients][0]
        serials = await asyncio.gather(*(publish(cluster.nodes[n % 3], channel, n) for n in range(KEPT_SIZE)))
        assert sorted(serials) == list(range(start + 1, start + 1 + KEPT_SIZE))
        for client in clients:
            received = await events_of(client, channel, KEPT_SIZE)
            assert [event["serial"] for event in received] == sorted(serials)
            assert await leftover(client, channel) == []


async def test_a_subscriber_resuming_on_another_node_gets_exactly_the_missed_events_once_in_order(
    cluster: Cluster,
) -> None:
    channel = kept_channel("private-")
    node_a, node_b, node_c = cluster.nodes
    async with connect(node_a) as first:
        await first.subscribe(channel)
        await publish(node_a, channel, 0)
        last = (await first.expect("message", channel=channel))["serial"]
    missed = [await publish(node_b, channel, n) for n in range(1, 4)]
    async with connect(node_c) as again:
        reply = await subscribe_after(again, channel, last)
        assert reply["serial"] == missed[-1]
        replayed = await events_of(again, channel, 3)
        assert [(event["serial"], event["data"]["n"]) for event in replayed] == list(
            zip(missed, (1, 2, 3), strict=True)
        )
        live = await publish(node_a, channel, 4)
        assert (await again.expect("message", channel=channel))["serial"] == live
        assert await leftover(again, channel) == []


async def test_a_resume_while_events_keep_coming_misses_none_and_repeats_none(cluster: Cluster) -> None:
    channel = kept_channel("private-")
    node_a, _, node_c = cluster.nodes
    async with connect(node_a) as watcher:
        await watcher.subscribe(channel)
        start = await publish(node_a, channel, 0)
        count = KEPT_SIZE // 2

        async def keep_publishing() -> None:
            for n in range(1, count + 1):
                await publish(cluster.nodes[n % 2], channel, n)

        publishing = asyncio.create_task(keep_publishing())
        # One resumes where nobody follows the channel yet, one beside a subscriber its node already follows it for.
        async with connect(node_c) as elsewhere, connect(node_a) as beside:
            await asyncio.gather(subscribe_after(elsewhere, channel, start), subscribe_after(beside, channel, start))
            await publishing
            for resumer in (elsewhere, beside):
                received = await events_of(resumer, channel, count)
                assert [event["serial"] for event in received] == list(range(start + 1, start + 1 + count))
                assert await leftover(resumer, channel) == []
        assert [event["serial"] for event in await events_of(watcher, channel, count + 1)] == list(
            range(start, start + count + 1)
        )


async def test_a_new_subscriber_on_any_node_gets_the_latest_events_first_then_live_ones(cluster: Cluster) -> None:
    channel = f"rewound-{secrets.token_hex(4)}"
    serials = [await publish(cluster.nodes[n % 3], channel, n) for n in range(REWIND + 2)]
    async with connect(cluster.nodes[1]) as late:
        reply = await late.subscribe(channel)
        assert late.backlog == [] and reply["serial"] == serials[-1]
        rewound = await events_of(late, channel, REWIND)
        assert [(event["serial"], event["data"]["n"]) for event in rewound] == list(
            zip(serials[-REWIND:], range(2, REWIND + 2), strict=True)
        )
        live = await publish(cluster.nodes[2], channel, 99)
        assert (await late.expect("message", channel=channel))["serial"] == live
        assert await leftover(late, channel) == []


async def test_a_kept_presence_channel_announces_members_and_hands_out_positions_on_every_node(
    cluster: Cluster,
) -> None:
    channel = kept_channel("presence-")
    async with connect(cluster.nodes[0]) as ann, connect(cluster.nodes[1]) as bob:
        first = await ann.subscribe(channel, user_id="ann")
        serial = await publish(cluster.nodes[2], channel, 0)
        second = await bob.subscribe(channel, user_id="bob")
        assert (first["serial"], second["serial"]) == (serial - 1, serial)
        assert sorted(second["data"]["presence"]["ids"]) == ["ann", "bob"]
        assert (await ann.expect("pusher_internal:member_added", channel=channel))["data"]["user_id"] == "bob"
        live = await publish(cluster.nodes[2], channel, 1)
        assert [event["serial"] for event in await events_of(ann, channel, 2)] == [serial, live]
        assert [event["serial"] for event in await events_of(bob, channel, 1)] == [live]


async def test_a_position_no_longer_kept_gets_resume_failed_then_live_events(cluster: Cluster) -> None:
    channel = kept_channel("private-")
    first = await publish(cluster.nodes[0], channel, 0)
    for n in range(1, KEPT_SIZE + 2):
        await publish(cluster.nodes[n % 3], channel, n)
    async with connect(cluster.nodes[1]) as late:
        reply = await subscribe_after(late, channel, first)
        failed = await late.expect("pusherpy:resume_failed", channel=channel)
        assert failed["data"] == {"after": first, "position": reply["serial"], "reason": "trimmed"}
        live = await publish(cluster.nodes[2], channel, 99)
        assert (await late.expect("message", channel=channel))["serial"] == live
        assert await leftover(late, channel) == []


async def test_history_outlives_the_node_that_published_it(cluster: Cluster) -> None:
    channel = kept_channel()
    publisher = await cluster.start_node()
    try:
        serials = [await publish(publisher, channel, n) for n in range(3)]
    finally:
        await publisher.stop()
        cluster.nodes.remove(publisher)
    reader = await cluster.start_node()
    try:
        status, body = await api_request(reader, "GET", f"/apps/{MAIN_APP.id}/channels/{channel}/events")
    finally:
        await reader.stop()
        cluster.nodes.remove(reader)
    assert status == 200, body
    assert [event["serial"] for event in body["events"]] == serials
    assert [json.loads(event["data"]) for event in body["events"]] == [{"n": n} for n in range(3)]
    assert body["position"] == serials[-1] and body["oldest"] == serials[0]


async def test_a_kept_channel_keeps_at_most_its_size_in_redis(cluster: Cluster) -> None:
    channel = kept_channel()
    for n in range(KEPT_SIZE + 10):
        await publish(cluster.nodes[n % 3], channel, n)
    client = cluster.redis.client()
    try:
        assert await client.xlen(f"{{{cluster.prefix}:{MAIN_APP.id}}}:history:{channel}") == KEPT_SIZE
    finally:
        await client.aclose()
    status, body = await api_request(cluster.nodes[1], "GET", f"/apps/{MAIN_APP.id}/channels/{channel}/events")
    assert status == 200 and len(body["events"]) == KEPT_SIZE


async def test_a_kept_channel_refuses_publishes_while_redis_is_unreachable(fresh_cluster: Cluster) -> None:
    node = fresh_cluster.nodes[0]
    async with connect(node) as client:
        await client.subscribe("kept-outage")
        await client.subscribe("plain-outage")
        fresh_cluster.redis.pause()
        try:

            async def degraded() -> bool:
                return await node.health() == 503

            await eventually(degraded, timeout=10, what="the node noticing Redis is gone")
            status, body = await trigger(node, "kept-outage", "message", {"n": 1})
            assert (status, body) == (503, {"error": "history needs Redis; retry"})
            status, body = await trigger(node, ["plain-outage", "kept-outage"], "message", {"n": 0})
            assert (status, body) == (503, {"error": "history needs Redis; retry"}), "delivered to nobody, then"
            status, body = await api_request(node, "GET", f"/apps/{MAIN_APP.id}/channels/kept-outage/events")
            assert (status, body) == (503, {"error": "history needs Redis; retry"})
            status, _ = await trigger(node, "plain-outage", "message", {"n": 2})
            assert status == 200, "a channel without history is served alone, as before"
            assert (await client.expect("message", channel="plain-outage"))["data"] == {"n": 2}
            assert await leftover(client, "kept-outage") == []
        finally:
            fresh_cluster.redis.resume()
        await fresh_cluster.wait_all_healthy(timeout=15)
        serial = await publish(node, "kept-outage", 3)
        assert (await client.expect("message", channel="kept-outage"))["serial"] == serial


async def test_events_a_node_missed_while_its_bus_was_down_reach_its_subscribers_in_order(
    fresh_cluster: Cluster,
) -> None:
    """The bus connections are cut while another node publishes: the subscriber's node catches up from the stream
    when its bus is back, so every kept event reaches the subscriber once, in order."""
    channel = kept_channel()
    publisher, _, reader = fresh_cluster.nodes
    async with connect(reader) as client:
        await client.subscribe(channel)
        serials: list[int] = []
        for n in range(30):
            if n == 10:
                await cut_bus_connections(fresh_cluster)
            status, body = await trigger(publisher, channel, "message", {"n": n})
            if status == 200:
                serials.append(body["serials"][channel])
            else:
                assert status == 503, body  # the publishing node's own bus was cut too: refused, not kept
        assert len(serials) >= 10
        received = await events_of(client, channel, len(serials))
        assert [event["serial"] for event in received] == serials
        assert await leftover(client, channel) == []


async def cut_bus_connections(cluster: Cluster) -> None:
    """Close every pub/sub connection on Redis (every shard of a cluster), as a network cut would."""
    clients = (
        [cluster.redis.shard_client(port) for port in cluster.redis.processes]
        if isinstance(cluster.redis, RedisClusterServer)
        else [cluster.redis.client()]
    )
    for client in clients:
        try:
            await client.client_kill_filter(_type="pubsub")
        finally:
            await client.aclose()
