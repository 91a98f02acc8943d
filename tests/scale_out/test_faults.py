"""Scale-out faults: a node killed mid-traffic leaves the cluster within its TTL; a Redis restart or pause degrades
nodes to local service, then they re-register by themselves, with no duplicate events and presence still right."""

from __future__ import annotations

import asyncio
import itertools
import signal
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio.cluster import RedisCluster

from tests.helpers import PusherClient, api_request, connect, trigger
from tests.scale_out.cluster import (
    MAIN_APP,
    TTL_SECONDS,
    Cluster,
    Node,
    RedisClusterServer,
    RedisServer,
    WebhookReceiver,
    cluster_config,
    drain,
    eventually,
    named,
    running_cluster,
)
from tests.scale_out.echo_fleet import echo_fleet


async def _channel(node: Node, channel: str) -> dict[str, object]:
    info = "user_count,subscription_count" if channel.startswith("presence-") else "subscription_count"
    _, body = await api_request(node, "GET", f"/apps/4242/channels/{channel}", params={"info": info})
    return dict(body)


async def _all_unhealthy(cluster: Cluster) -> None:
    async def degraded() -> bool:
        return all([await node.health() == 503 for node in cluster.nodes])

    await eventually(degraded, timeout=5, what="every node reporting /up 503")


async def _listeners_and_two_members(
    stack: AsyncExitStack, cluster: Cluster, name: str
) -> tuple[list[PusherClient], PusherClient, PusherClient]:
    """A listener on room-NAME on every node, and ann (node 0) and bob (node 1) on presence-NAME."""
    listeners: list[PusherClient] = []
    for node in cluster.nodes:
        listener = await stack.enter_async_context(connect(node))
        await listener.subscribe(f"room-{name}")
        listeners.append(listener)
    ann = await stack.enter_async_context(connect(cluster.nodes[0]))
    await ann.subscribe(f"presence-{name}", user_id="ann")
    bob = await stack.enter_async_context(connect(cluster.nodes[1]))
    await bob.subscribe(f"presence-{name}", user_id="bob")
    assert (await ann.expect("pusher_internal:member_added"))["data"]["user_id"] == "bob"
    return listeners, ann, bob


async def _a_third_member_is_announced_once(
    stack: AsyncExitStack, node: Node, channel: str, ann: PusherClient, bob: PusherClient
) -> PusherClient:
    """cat joins ``channel`` on ``node``: she sees all three, ann and bob see her added once."""
    cat = await stack.enter_async_context(connect(node))
    reply = await cat.subscribe(channel, user_id="cat")
    assert sorted(reply["data"]["presence"]["ids"]) == ["ann", "bob", "cat"]
    for member in (ann, bob):
        added = named(await drain(member), "pusher_internal:member_added")
        assert [message["data"]["user_id"] for message in added] == ["cat"]
    return cat


async def test_a_killed_nodes_members_and_subscriptions_leave_the_cluster_within_its_ttl(
    fresh_cluster: Cluster,
) -> None:
    node0, node1, node2 = fresh_cluster.nodes
    async with AsyncExitStack() as stack:
        ann = await stack.enter_async_context(connect(node0))
        await ann.subscribe("presence-crash", user_id="ann")
        listener = await stack.enter_async_context(connect(node1))
        await listener.subscribe("room-crash")
        doomed = await stack.enter_async_context(connect(node2))
        await doomed.subscribe("presence-crash", user_id="zed")
        await doomed.subscribe("room-crash")
        await ann.expect("pusher_internal:member_added")
        assert await _channel(node0, "room-crash") == {"occupied": True, "subscription_count": 2}

        await node2.kill()
        removed = await ann.expect("pusher_internal:member_removed", timeout=TTL_SECONDS + 3)
        assert removed["data"] == {"user_id": "zed"}
        assert named(await drain(ann), "pusher_internal:member_removed") == []
        assert await _channel(node1, "room-crash") == {"occupied": True, "subscription_count": 1}
        assert await _channel(node0, "presence-crash") == {
            "occupied": True,
            "user_count": 1,
            "subscription_count": 1,
        }
        _, body = await api_request(node0, "GET", "/apps/4242/connections")
        assert body == {"connections": 2}
        assert fresh_cluster.webhooks.count("member_removed", "presence-crash", "zed") == 1

        await trigger(node0, "room-crash", "still-here", {})
        assert len(named(await drain(listener), "still-here")) == 1


async def test_a_redis_restart_mid_traffic_degrades_then_recovers_with_no_duplicates(fresh_cluster: Cluster) -> None:
    cluster = fresh_cluster
    node0, node1, node2 = cluster.nodes
    async with AsyncExitStack() as stack:
        listeners, ann, bob = await _listeners_and_two_members(stack, cluster, "restart")
        await trigger(node2, "room-restart", "before", {})
        for listener in listeners:
            assert len(named(await drain(listener), "before")) == 1

        await cluster.redis.kill()
        await _all_unhealthy(cluster)
        status, _ = await trigger(node0, "room-restart", "during", {})
        assert status == 200
        assert len(named(await drain(listeners[0]), "during")) == 1

        await cluster.redis.start()
        await cluster.wait_all_healthy()
        await trigger(node1, "room-restart", "after", {"n": 1})
        for listener in listeners:
            received = await drain(listener)
            assert len(named(received, "after")) == 1
            assert named(received, "during") == []
        assert await _channel(node2, "room-restart") == {"occupied": True, "subscription_count": 3}
        assert await _channel(node2, "presence-restart") == {
            "occupied": True,
            "user_count": 2,
            "subscription_count": 2,
        }

        cat = await _a_third_member_is_announced_once(stack, node2, "presence-restart", ann, bob)
        await bob.close()
        for member in (ann, cat):
            removed = await member.expect("pusher_internal:member_removed")
            assert removed["data"] == {"user_id": "bob"}
            assert named(await drain(member), "pusher_internal:member_removed") == []


async def test_changes_made_while_redis_was_unreachable_are_announced_once_when_it_is_back(
    fresh_cluster: Cluster,
) -> None:
    cluster = fresh_cluster
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as ann, connect(node1) as bob, connect(node2) as cat:
        for client, user_id in ((ann, "ann"), (bob, "bob"), (cat, "cat")):
            await client.subscribe("presence-pause", user_id=user_id)
        await drain(ann, 0.2)

        cluster.redis.pause()
        try:
            await _all_unhealthy(cluster)
            await bob.send("pusher:unsubscribe", {"channel": "presence-pause"})
            assert named(await drain(ann, 0.2), "pusher_internal:member_removed") == []
        finally:
            cluster.redis.resume()
        await cluster.wait_all_healthy()
        for member in (ann, cat):
            removed = await member.expect("pusher_internal:member_removed")
            assert removed["data"] == {"user_id": "bob"}
            assert named(await drain(member), "pusher_internal:member_removed") == []
        assert await _channel(node0, "presence-pause") == {"occupied": True, "user_count": 2, "subscription_count": 2}
        await trigger(node2, "presence-pause", "after-pause", {})
        for member in (ann, cat):
            assert len(named(await drain(member), "after-pause")) == 1


async def test_a_node_started_before_redis_serves_its_own_sockets_then_joins_when_redis_appears(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path)
    config = tmp_path / "cluster.toml"
    config.write_text(cluster_config(redis.url, "late-redis", "http://127.0.0.1:9/unused"))
    cluster = Cluster(redis, WebhookReceiver(), "late-redis", config, tmp_path)
    async with cluster.stack:
        node = await cluster.start_node()
        assert await node.health() == 503
        async with connect(node) as client:
            await client.subscribe("room-alone")
            await trigger(node, "room-alone", "local-only", {})
            assert len(named(await drain(client), "local-only")) == 1
            await redis.start()
            try:
                await cluster.wait_all_healthy()
                assert await _channel(node, "room-alone") == {"occupied": True, "subscription_count": 1}
            finally:
                await redis.kill()


async def _app_primary(cluster: Cluster) -> int:
    """The port of the Redis Cluster primary that holds the main app's slot now."""
    router: RedisCluster = cluster.redis.client()  # type: ignore[assignment]
    try:
        await router.initialize()
        node = router.get_node_from_key(f"{{{cluster.prefix}:{MAIN_APP.id}}}")
        assert node is not None
        return int(node.port)
    finally:
        await router.aclose()


@pytest.mark.parametrize("fresh_cluster", ["redis-cluster"], indirect=True)
async def test_a_shard_that_restarts_empty_gets_its_apps_state_back_with_nothing_announced_twice(
    fresh_cluster: Cluster,
) -> None:
    cluster = fresh_cluster
    assert isinstance(cluster.redis, RedisClusterServer)
    node0, node1, node2 = cluster.nodes
    async with AsyncExitStack() as stack:
        listeners, ann, bob = await _listeners_and_two_members(stack, cluster, "shard")

        shard = await _app_primary(cluster)
        await cluster.redis.kill_shard(shard)
        await cluster.redis.start_shard(shard)
        await cluster.redis.wait_ready()

        async def restored() -> bool:
            return await _channel(node2, "room-shard") == {"occupied": True, "subscription_count": 3}

        await eventually(restored, timeout=10, what="the restarted shard holding the app's counts again")
        await cluster.wait_all_healthy()
        assert await _channel(node2, "presence-shard") == {"occupied": True, "user_count": 2, "subscription_count": 2}
        for member in (ann, bob):
            received = await drain(member)
            assert named(received, "pusher_internal:member_added") == []
            assert named(received, "pusher_internal:member_removed") == []

        await trigger(node1, "room-shard", "after-shard-restart", {})
        for listener in listeners:
            assert len(named(await drain(listener), "after-shard-restart")) == 1
        await _a_third_member_is_announced_once(stack, node2, "presence-shard", ann, bob)


async def test_a_node_frozen_past_its_ttl_is_reaped_then_rejoins_under_a_new_id_with_exact_counts(
    fresh_cluster: Cluster,
) -> None:
    """A node stopped (SIGSTOP) longer than its TTL looks dead and is reaped; when it wakes it finds itself gone,
    takes a new id and restores its sockets: announced again, counted once."""
    cluster = fresh_cluster
    node0, node1, node2 = cluster.nodes
    async with connect(node0) as ann, connect(node1) as listener, connect(node2) as zed:
        await ann.subscribe("presence-frozen", user_id="ann")
        await zed.subscribe("presence-frozen", user_id="zed")
        await zed.subscribe("room-frozen")
        await listener.subscribe("room-frozen")
        await ann.expect("pusher_internal:member_added")

        node2.process.send_signal(signal.SIGSTOP)
        try:
            removed = await ann.expect("pusher_internal:member_removed", timeout=TTL_SECONDS + 3)
            assert removed["data"] == {"user_id": "zed"}
            assert await _channel(node0, "room-frozen") == {"occupied": True, "subscription_count": 1}
        finally:
            node2.process.send_signal(signal.SIGCONT)

        added = await ann.expect("pusher_internal:member_added", timeout=TTL_SECONDS + 3)
        assert added["data"]["user_id"] == "zed"
        await cluster.wait_all_healthy()
        assert await _channel(node1, "room-frozen") == {"occupied": True, "subscription_count": 2}
        assert await _channel(node1, "presence-frozen") == {
            "occupied": True,
            "user_count": 2,
            "subscription_count": 2,
        }
        assert named(await drain(ann), "pusher_internal:member_added") == []
        await trigger(node0, "room-frozen", "after-thaw", {})
        for client in (listener, zed):
            assert len(named(await drain(client), "after-thaw")) == 1

    redis = cluster.redis.client()
    try:
        registered = await redis.zrange(f"{{{cluster.prefix}}}:nodes", 0, -1)
        assert len(registered) == 3
        assert sum("." in node_id for node_id in registered) == 1, registered  # "<id>.<incarnation>"

        async def reaped() -> bool:
            return await redis.scard(f"{{{cluster.prefix}}}:dead") == 0

        await eventually(reaped, timeout=TTL_SECONDS, what="the old id reaped and forgotten")
    finally:
        await redis.aclose()


async def test_a_primary_failing_over_to_its_replica_is_ridden_out_with_state_kept_and_nothing_repeated(
    tmp_path: Path,
) -> None:
    """Redis Cluster with a replica per primary: the primary holding the app is killed, its replica takes over with
    the data; every node re-reads the slot map, re-subscribes the bus shards that moved, and carries on."""
    async with running_cluster(tmp_path, redis_cluster=True, replicas=1) as cluster:
        assert isinstance(cluster.redis, RedisClusterServer)
        node0, node1, node2 = cluster.nodes
        async with AsyncExitStack() as stack:
            listeners, ann, bob = await _listeners_and_two_members(stack, cluster, "failover")
            primary = await _app_primary(cluster)
            await cluster.redis.kill_shard(primary)
            await cluster.redis.wait_ready()

            async def replica_promoted() -> bool:
                return await _app_primary(cluster) != primary

            await eventually(replica_promoted, timeout=10, what="the replica taking over the app's slot")
            await cluster.wait_all_healthy(timeout=15)
            assert await _channel(node2, "room-failover") == {"occupied": True, "subscription_count": 3}
            assert await _channel(node0, "presence-failover") == {
                "occupied": True,
                "user_count": 2,
                "subscription_count": 2,
            }
            for member in (ann, bob):
                received = await drain(member)
                assert named(received, "pusher_internal:member_added") == []
                assert named(received, "pusher_internal:member_removed") == []
            for index, node in enumerate(cluster.nodes):
                await trigger(node, "room-failover", f"after-failover-{index}", {})
            for listener in listeners:
                received = await drain(listener)
                for index in range(len(cluster.nodes)):
                    assert len(named(received, f"after-failover-{index}")) == 1
            await _a_third_member_is_announced_once(stack, node2, "presence-failover", ann, bob)
        bus = cluster.redis.bus_channels(cluster.prefix)
        assert await cluster.redis.shard_subscriptions(cluster.prefix) == dict.fromkeys(bus, 3)


async def test_laravel_echo_clients_ride_out_a_node_kill_and_a_redis_restart_in_the_middle_of_traffic(
    fresh_cluster: Cluster,
) -> None:
    """Real Laravel Echo clients on three nodes, with events streaming all along: a node is SIGKILLed, then Redis
    restarts. The survivors see the dead node's user leave once, never a stray join or leave, no event twice, every
    event published while the cluster was whole, and their connections never drop."""
    cluster = fresh_cluster
    node0, node1, node2 = cluster.nodes
    async with echo_fleet(MAIN_APP) as fleet:
        for client, node in (("ann", node0), ("bob", node1), ("zed", node2)):
            await fleet.connect(client, node.port)
            await fleet.listen(client, "fleet-ticks", "tick")
            await fleet.join(client, "fleet-room")
        for client in ("ann", "bob"):
            await fleet.wait_for(
                lambda r, c=client: r["client"] == c and r["type"] == "joining" and r["user"] == "zed",
                f"{client} seeing zed join",
            )

        # What each streamed publish answered, by the rule of docs/scale-out.md ("What a publish answer means"):
        # 200 = delivered (at most once), an error status = delivered to nobody, no answer = maybe delivered.
        stream_sent: list[int] = []
        stream_refused: list[int] = []
        stream_unanswered: list[int] = []
        stop_streaming = asyncio.Event()

        async def stream() -> None:
            """Background traffic through the two surviving nodes, whatever state the cluster is in, until told to
            stop; it is never cancelled mid-publish, so every publish it made has a known answer."""
            for n in itertools.count():
                if stop_streaming.is_set():
                    return
                try:
                    status, _ = await trigger((node0, node1)[n % 2], "fleet-ticks", "tick", {"stream": n})
                except (aiohttp.ClientError, TimeoutError):
                    stream_unanswered.append(n)
                else:
                    (stream_sent if status == 200 else stream_refused).append(n)
                await asyncio.sleep(0.02)

        async def whole_cluster_delivers(phase: str, clients: tuple[str, ...]) -> None:
            for n in range(5):
                status, _ = await trigger((node0, node1)[n % 2], "fleet-ticks", "tick", {"phase": phase, "n": n})
                assert status == 200
            for client in clients:
                # Each event is waited for: the ones published through the other node come over the bus, so they
                # may arrive after a later one delivered by the client's own node.
                for n in range(5):
                    await fleet.wait_for(
                        lambda r, c=client, n=n: r["client"] == c and r.get("data") == {"phase": phase, "n": n},
                        f"{client} receiving {phase} event {n}",
                    )
                got = [data["n"] for data in fleet.events(client, "tick") if data.get("phase") == phase]
                assert sorted(got) == list(range(5)), f"{client} got {got} of the {phase} events"

        traffic = asyncio.get_running_loop().create_task(stream())
        try:
            await whole_cluster_delivers("before", ("ann", "bob", "zed"))
            await node2.kill()
            for client in ("ann", "bob"):
                await fleet.wait_for(
                    lambda r, c=client: r["client"] == c and r["type"] == "leaving" and r["user"] == "zed",
                    f"{client} seeing zed leave",
                    timeout=TTL_SECONDS + 3,
                )
            await whole_cluster_delivers("after-kill", ("ann", "bob"))

            await cluster.redis.kill()
            await eventually(
                lambda: _all_status(cluster.nodes[:2], 503), timeout=5, what="the survivors reporting /up 503"
            )
            await cluster.redis.start()
            await eventually(
                lambda: _all_status(cluster.nodes[:2], 200), timeout=10, what="the survivors reporting /up 200"
            )
            await whole_cluster_delivers("after-restart", ("ann", "bob"))
        finally:
            stop_streaming.set()
            await traffic

        for client in ("ann", "bob"):
            streamed = [data["stream"] for data in fleet.events(client, "tick") if "stream" in data]
            assert len(streamed) == len(set(streamed)), f"{client} got a streamed event twice"
            assert set(streamed) <= set(stream_sent) | set(stream_unanswered), "an event arrived that was refused"
            assert not set(streamed) & set(stream_refused), f"{client} got an event whose publish answered an error"
            assert [r["user"] for r in fleet.reports(client, "leaving")] == ["zed"]
            joined = sorted(r["user"] for r in fleet.reports(client, "joining"))
            assert joined == (["bob", "zed"] if client == "ann" else ["zed"])
            states = [r["current"] for r in fleet.reports(client, "state")]
            assert states == ["connected"], f"{client}'s connection went {states}"
        assert len(stream_sent) > 20, "the traffic did not flow through the faults"

        await fleet.connect("cat", node1.port)
        assert await fleet.join("cat", "fleet-room") == ["ann", "bob", "cat"]
        for client in ("ann", "bob"):
            await fleet.wait_for(
                lambda r, c=client: r["client"] == c and r["type"] == "joining" and r["user"] == "cat",
                f"{client} seeing cat join",
            )
            assert [r["user"] for r in fleet.reports(client, "joining")].count("cat") == 1


async def _all_status(nodes: list[Node], status: int) -> bool:
    return all([await node.health() == status for node in nodes])
