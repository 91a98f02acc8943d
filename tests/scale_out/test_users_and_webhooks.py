"""Scale-out: signed-in users, watchlists and terminate_connections span nodes; webhooks fire once per cluster."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import api_request, connect
from tests.scale_out.cluster import Cluster, drain, eventually, named

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_terminate_connections_closes_the_users_sockets_on_every_node(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as tina_tab1, connect(node2) as tina_tab2, connect(node1) as bystander:
        for client, user_id in ((tina_tab1, "tina"), (tina_tab2, "tina"), (bystander, "tom")):
            await client.sign_in(user_id)
            await client.expect("pusher:signin_success")
        status, _ = await api_request(node1, "POST", "/apps/4242/users/tina/terminate_connections", body={})
        assert status == 200
        assert await tina_tab1.expect_close() == 4009
        assert await tina_tab2.expect_close() == 4009
        await bystander.send("pusher:ping")
        assert (await bystander.expect("pusher:pong"))["event"] == "pusher:pong"


async def test_a_watchlist_follows_a_user_signing_in_and_out_on_other_nodes(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as watcher:
        await watcher.sign_in("watcher", watchlist=["wendy"])
        initial = await watcher.expect("pusher_internal:watchlist_events")
        assert initial["data"] == {"events": [{"name": "offline", "user_ids": ["wendy"]}]}
        async with connect(node1) as wendy_tab1, connect(node2) as wendy_tab2:
            await wendy_tab1.sign_in("wendy")
            online = await watcher.expect("pusher_internal:watchlist_events")
            assert online["data"] == {"events": [{"name": "online", "user_ids": ["wendy"]}]}
            await wendy_tab2.sign_in("wendy")
            await wendy_tab2.expect("pusher:signin_success")
            assert named(await drain(watcher), "pusher_internal:watchlist_events") == []
        offline = await watcher.expect("pusher_internal:watchlist_events")
        assert offline["data"] == {"events": [{"name": "offline", "user_ids": ["wendy"]}]}
        assert named(await drain(watcher), "pusher_internal:watchlist_events") == []


async def test_webhooks_fire_once_for_the_whole_cluster(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    hooks = cluster.webhooks
    channel = "presence-hooks"
    async with connect(node0) as ann_tab1, connect(node1) as ann_tab2, connect(node2) as bob:
        await ann_tab1.subscribe(channel, user_id="ann")
        await ann_tab2.subscribe(channel, user_id="ann")
        await bob.subscribe(channel, user_id="bob")

        async def joined() -> bool:
            return hooks.count("member_added", channel, "bob") > 0 and hooks.count("member_added", channel, "ann") > 0

        await eventually(joined, what="member_added webhooks")

    async def left() -> bool:
        return hooks.count("channel_vacated", channel) > 0

    await eventually(left, what="channel_vacated webhook")
    await asyncio.sleep(0.5)  # a duplicate from another node would have arrived by now
    assert hooks.count("channel_occupied", channel) == 1
    assert hooks.count("member_added", channel, "ann") == 1
    assert hooks.count("member_added", channel, "bob") == 1
    assert hooks.count("member_removed", channel, "ann") == 1
    assert hooks.count("member_removed", channel, "bob") == 1
    assert hooks.count("channel_vacated", channel) == 1
