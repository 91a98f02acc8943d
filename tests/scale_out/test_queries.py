"""Scale-out: the HTTP API's channel, user and connection queries, the connection quota and subscription_count
events answer for the whole cluster, whichever node is asked."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import aiohttp
import pytest

from tests.helpers import PusherClient, api_request, connect, decode, trigger
from tests.scale_out.cluster import QUOTA_APP, Cluster, Node, drain, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_channel_queries_count_subscribers_and_members_on_every_node(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with AsyncExitStack() as stack:
        for node in cluster.nodes:
            client = await stack.enter_async_context(connect(node))
            await client.subscribe("room-q")
        ann = await stack.enter_async_context(connect(node0))
        await ann.subscribe("presence-q", user_id="ann")
        for node in (node1, node2):
            bob = await stack.enter_async_context(connect(node))
            await bob.subscribe("presence-q", user_id="bob")

        status, body = await api_request(node2, "GET", "/apps/4242/channels", params={"info": "subscription_count"})
        assert status == 200
        assert body["channels"]["room-q"] == {"subscription_count": 3}
        assert body["channels"]["presence-q"] == {"subscription_count": 3}
        _, body = await api_request(
            node1, "GET", "/apps/4242/channels", params={"filter_by_prefix": "presence-q", "info": "user_count"}
        )
        assert body == {"channels": {"presence-q": {"user_count": 2}}}
        _, body = await api_request(
            node0, "GET", "/apps/4242/channels/presence-q", params={"info": "user_count,subscription_count"}
        )
        assert body == {"occupied": True, "user_count": 2, "subscription_count": 3}
        _, body = await api_request(node2, "GET", "/apps/4242/channels/presence-q/users")
        assert sorted(user["id"] for user in body["users"]) == ["ann", "bob"]
        _, body = await trigger(node1, ["room-q", "presence-q"], "ping", {}, info="user_count,subscription_count")
        assert body == {
            "channels": {
                "room-q": {"subscription_count": 3},
                "presence-q": {"user_count": 2, "subscription_count": 3},
            }
        }

    async def vacated() -> bool:
        _, body = await api_request(node1, "GET", "/apps/4242/channels/room-q", params={"info": "subscription_count"})
        return bool(body == {"occupied": False, "subscription_count": 0})

    await eventually(vacated, what="room-q vacated on every node")


async def _connections(node: Node) -> int:
    _, body = await api_request(node, "GET", f"/apps/{QUOTA_APP.id}/connections", app=QUOTA_APP)
    return int(body["connections"])


async def test_the_connection_quota_counts_connections_on_every_node(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0, app=QUOTA_APP), connect(node1, app=QUOTA_APP), connect(node2, app=QUOTA_APP) as last:
        assert await _connections(node1) == 3
        async with aiohttp.ClientSession() as session, session.ws_connect(node0.ws_url(QUOTA_APP.key)) as refused:
            error = decode((await refused.receive(timeout=5)).data)
            assert error["event"] == "pusher:error"
            assert error["data"]["code"] == 4004
            await refused.receive(timeout=5)
            assert refused.close_code == 4004
        await last.close()

        async def room_again() -> bool:
            return await _connections(node0) == 2

        await eventually(room_again, what="the closed connection leaving the count")
        async with connect(node0, app=QUOTA_APP) as replacement:
            assert replacement.socket_id


async def expect_growing_count(client: PusherClient, count: int) -> None:
    """Wait for ``subscription_count`` == ``count``. A socket that just joined on one node may first get the count
    another node announced just before (the bus carries it a moment later); such a count is lower, never higher."""
    while True:
        seen = (await client.expect("pusher_internal:subscription_count"))["data"]["subscription_count"]
        if seen == count:
            return
        assert seen < count, f"count {seen} while waiting for {count}"


async def test_subscription_count_events_carry_the_cluster_wide_count(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as first, connect(node1) as second, connect(node2) as third:
        await first.subscribe("counted")
        assert (await first.expect("pusher_internal:subscription_count"))["data"] == {"subscription_count": 1}
        await second.subscribe("counted")
        assert (await first.expect("pusher_internal:subscription_count"))["data"] == {"subscription_count": 2}
        await expect_growing_count(second, 2)
        await third.subscribe("counted")
        for client in (first, second):
            assert (await client.expect("pusher_internal:subscription_count"))["data"] == {"subscription_count": 3}
        await expect_growing_count(third, 3)
        await second.send("pusher:unsubscribe", {"channel": "counted"})
        for client in (first, third):
            assert (await client.expect("pusher_internal:subscription_count"))["data"] == {"subscription_count": 2}


async def test_subscription_counts_announced_by_different_nodes_reach_every_socket_in_order(cluster: Cluster) -> None:
    """Nodes announce counts at different moments, so one can overtake a newer one on its way; none may arrive
    after a newer one, so each socket's counts only grow and end at the cluster's total."""
    per_node = 8
    total = per_node * len(cluster.nodes)
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(node)) for node in cluster.nodes for _ in range(per_node)]
        await asyncio.gather(*(client.subscribe("counted-race") for client in clients))
        for client in clients:
            seen: list[int] = []
            while not seen or seen[-1] != total:
                message = await client.expect("pusher_internal:subscription_count")
                seen.append(message["data"]["subscription_count"])
            late = [message["data"]["subscription_count"] for message in await drain(client, 0.05)]
            counts = seen + late
            assert counts == sorted(set(counts)), f"counts out of order: {counts}"
            assert counts[-1] == total
