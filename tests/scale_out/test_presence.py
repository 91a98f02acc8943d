"""Scale-out: a presence channel has one member list for the whole cluster; a user with tabs on two nodes is one
member, added when its first socket joins anywhere and removed when its last socket leaves."""

from __future__ import annotations

import pytest

from tests.helpers import connect
from tests.scale_out.cluster import SMALL_ROOM_APP, Cluster, drain, named

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_subscription_succeeded_lists_the_members_connected_to_every_node(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as ann, connect(node1) as bob, connect(node2) as cat:
        await ann.subscribe("presence-lobby", user_id="ann", user_info={"name": "Ann"})
        await bob.subscribe("presence-lobby", user_id="bob", user_info={"name": "Bob"})
        reply = await cat.subscribe("presence-lobby", user_id="cat", user_info={"name": "Cat"})
        presence = reply["data"]["presence"]
        assert sorted(presence["ids"]) == ["ann", "bob", "cat"]
        assert presence["hash"] == {"ann": {"name": "Ann"}, "bob": {"name": "Bob"}, "cat": {"name": "Cat"}}
        assert presence["count"] == 3


async def test_member_added_fires_once_per_user_however_many_nodes_its_tabs_are_on(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as ann, connect(node1) as bob_tab1, connect(node2) as bob_tab2:
        await ann.subscribe("presence-tabs", user_id="ann")
        await bob_tab1.subscribe("presence-tabs", user_id="bob", user_info={"tab": 1})
        await bob_tab2.subscribe("presence-tabs", user_id="bob", user_info={"tab": 2})
        added = named(await drain(ann), "pusher_internal:member_added")
        assert added == [
            {
                "event": "pusher_internal:member_added",
                "channel": "presence-tabs",
                "data": {"user_id": "bob", "user_info": {"tab": 1}},
            }
        ]
        assert named(await drain(bob_tab1, 0.1), "pusher_internal:member_added") == []


async def test_member_removed_fires_once_when_the_users_last_socket_in_the_cluster_leaves(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as ann, connect(node1) as bob_tab1, connect(node2) as bob_tab2:
        await ann.subscribe("presence-leaving", user_id="ann")
        await bob_tab1.subscribe("presence-leaving", user_id="bob")
        await bob_tab2.subscribe("presence-leaving", user_id="bob")
        await bob_tab1.send("pusher:unsubscribe", {"channel": "presence-leaving"})
        assert named(await drain(ann), "pusher_internal:member_removed") == []
        await bob_tab2.close()
        removed = await ann.expect("pusher_internal:member_removed")
        assert removed["data"] == {"user_id": "bob"}
        assert named(await drain(ann), "pusher_internal:member_removed") == []


async def test_the_presence_member_limit_counts_members_on_every_node(cluster: Cluster) -> None:
    node0, node1, node2 = cluster.nodes
    app = SMALL_ROOM_APP
    async with (
        connect(node0, app=app) as first,
        connect(node1, app=app) as second,
        connect(node2, app=app) as third,
        connect(node2, app=app) as first_again,
    ):
        await first.subscribe("presence-small", user_id="u1")
        await second.subscribe("presence-small", user_id="u2")
        refused = await third.subscribe("presence-small", user_id="u3")
        assert refused["event"] == "pusher:subscription_error"
        assert refused["data"]["type"] == "LimitReached"
        accepted = await first_again.subscribe("presence-small", user_id="u1")
        assert accepted["event"] == "pusher_internal:subscription_succeeded"
        assert sorted(accepted["data"]["presence"]["ids"]) == ["u1", "u2"]
