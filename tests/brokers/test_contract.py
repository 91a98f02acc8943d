"""The broker contract: what every broker must do, run on each (in memory, one Redis, a Redis Cluster).

Clients connect to node a and node b of one deployment (the same node in memory), so each rule is checked both
within one node and across nodes. A rule that one broker breaks fails here for that broker.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from tests.brokers.conftest import Deployment
from tests.helpers import PusherClient, api_request, connect, trigger
from tests.scale_out.cluster import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

Factory = Callable[..., Awaitable[Deployment]]


async def expect_count(client: PusherClient, channel: str, count: int, *, timeout: float = 5.0) -> None:
    """Read subscription_count events on ``channel`` until one says ``count``."""
    deadline = time.monotonic() + timeout
    seen: list[int] = []
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = await client.expect("pusher_internal:subscription_count", channel=channel, timeout=remaining)
        except AssertionError:
            break
        seen.append(message["data"]["subscription_count"])
        if seen[-1] == count:
            return
    raise AssertionError(f"no subscription_count {count} on {channel} within {timeout} s; saw {seen}")


async def test_a_broadcast_reaches_every_node_but_the_excluded_socket(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.a) as sender, connect(deployment.b) as far, connect(deployment.a) as near:
        for client in (sender, far, near):
            await client.subscribe("news")
        status, _ = await trigger(deployment.a, "news", "headline", {"n": 1}, socket_id=sender.socket_id)
        assert status == 200
        for client in (far, near):
            assert (await client.expect("headline", channel="news"))["data"] == {"n": 1}
        await sender.expect_nothing()


async def test_a_presence_user_is_added_once_and_removed_with_its_last_socket(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    channel = "presence-room"
    async with connect(deployment.a) as watcher:
        await watcher.subscribe(channel, user_id="watcher")
        async with connect(deployment.a) as tab1, connect(deployment.b) as tab2:
            await tab1.subscribe(channel, user_id="ann", user_info={"name": "Ann"})
            added = await watcher.expect("pusher_internal:member_added", channel=channel)
            assert added["data"] == {"user_id": "ann", "user_info": {"name": "Ann"}}
            reply = await tab2.subscribe(channel, user_id="ann", user_info={"name": "Ann"})
            assert sorted(reply["data"]["presence"]["ids"]) == ["ann", "watcher"]
            await tab1.close()
            await watcher.expect_nothing(within=0.5)  # ann is still in through tab2
        removed = await watcher.expect("pusher_internal:member_removed", channel=channel)
        assert removed["data"] == {"user_id": "ann"}


async def test_a_full_presence_channel_refuses_the_next_user(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(max_presence_members=2)
    async with connect(deployment.a) as one, connect(deployment.b) as two, connect(deployment.a) as three:
        await one.subscribe("presence-small", user_id="u1")
        await two.subscribe("presence-small", user_id="u2")
        refused = await three.subscribe("presence-small", user_id="u3")
        assert refused["event"] == "pusher:subscription_error"
        assert refused["data"]["type"] == "LimitReached"
        assert refused["data"]["status"] == 4004
        await three.expect_nothing()  # a refused subscription is not a connection error: no pusher:error
        again = await one.subscribe("presence-small", user_id="u1")  # a member's other socket still gets in
        assert again["event"] == "pusher_internal:subscription_succeeded"


async def test_subscription_counts_reach_subscribers_on_every_node(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(enable_subscription_count=True)
    async with connect(deployment.a) as first:
        await first.subscribe("counted")
        await expect_count(first, "counted", 1)
        async with connect(deployment.b) as second:
            await second.subscribe("counted")
            await expect_count(first, "counted", 2)
            await expect_count(second, "counted", 2)
        await expect_count(first, "counted", 1)


async def test_a_throttled_subscription_count_is_followed_by_a_trailing_update(deployment_factory: Factory) -> None:
    """Above 100 subscribers counts go out at most every 5 s; a change inside the window is sent when it ends."""
    deployment = await deployment_factory(enable_subscription_count=True)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(connect(deployment.a))
        await first.subscribe("crowded")
        for _ in range(100):
            client = await stack.enter_async_context(connect(deployment.a))
            await client.subscribe("crowded")
        await expect_count(first, "crowded", 101, timeout=8.0)  # 101 was throttled, then sent when the window ended
        late = await stack.enter_async_context(connect(deployment.a))
        await late.subscribe("crowded")  # 102, inside the next window
        await expect_count(first, "crowded", 102, timeout=8.0)


async def test_server_to_user_channels_get_no_subscription_count(deployment_factory: Factory) -> None:
    """``#server-to-user-`` channels are pusher-js's sign-in plumbing, not channels an app counts."""
    deployment = await deployment_factory(enable_subscription_count=True)
    async with connect(deployment.a) as client:
        await client.sign_in("ann")
        await client.expect("pusher:signin_success")
        reply = await client.subscribe("#server-to-user-ann")
        assert reply["event"] == "pusher_internal:subscription_succeeded"
        await client.expect_nothing(within=0.5)


async def test_a_cache_channel_serves_its_last_event_and_reports_a_miss_once(deployment_factory: Factory) -> None:
    """The cache_miss webhook is deduplicated across a node's clients (not yet across nodes)."""
    deployment = await deployment_factory()
    async with connect(deployment.a) as one, connect(deployment.a) as two:
        await one.subscribe("cache-empty")
        assert (await one.receive())["event"] == "pusher:cache_miss"
        await two.subscribe("cache-empty")
        assert (await two.receive())["event"] == "pusher:cache_miss"
    async with connect(deployment.b) as far:
        status, _ = await trigger(deployment.a, "cache-prices", "price", {"eur": 3})
        assert status == 200
        await far.subscribe("cache-prices")
        cached = await far.receive()
        assert (cached["event"], cached["data"]) == ("price", {"eur": 3})
    await eventually(
        _async(lambda: "cache_miss" in deployment.webhook_names("cache-empty")), what="the cache_miss webhook"
    )
    assert deployment.webhook_names("cache-empty").count("cache_miss") == 1


async def test_watchers_hear_a_user_come_online_and_go_offline_on_any_node(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.b) as watcher:
        await watcher.sign_in("watcher", watchlist=["ann"])
        initial = await watcher.expect("pusher_internal:watchlist_events")
        assert initial["data"]["events"] == [{"name": "offline", "user_ids": ["ann"]}]
        async with connect(deployment.a) as ann:
            await ann.sign_in("ann")
            online = await watcher.expect("pusher_internal:watchlist_events")
            assert online["data"]["events"] == [{"name": "online", "user_ids": ["ann"]}]
        offline = await watcher.expect("pusher_internal:watchlist_events")
        assert offline["data"]["events"] == [{"name": "offline", "user_ids": ["ann"]}]


async def test_terminate_closes_the_users_signed_in_sockets_on_every_node(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.a) as near, connect(deployment.b) as far, connect(deployment.b) as other:
        for client, user_id in ((near, "ann"), (far, "ann"), (other, "bob")):
            await client.sign_in(user_id)
            await client.expect("pusher:signin_success")
        status, _ = await api_request(
            deployment.a, "POST", f"/apps/{deployment.app.id}/users/ann/terminate_connections"
        )
        assert status == 200
        assert await near.expect_close() == 4009
        assert await far.expect_close() == 4009
        await other.expect_nothing()


async def test_channel_and_member_webhooks_are_emitted_once_per_transition(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    channel = "presence-hooks"
    async with connect(deployment.a) as ann1, connect(deployment.b) as ann2, connect(deployment.b) as bob:
        await ann1.subscribe(channel, user_id="ann")
        await ann2.subscribe(channel, user_id="ann")
        await bob.subscribe(channel, user_id="bob")
    expected = ["channel_occupied", "member_added", "member_added", "member_removed", "member_removed"]

    async def all_sent() -> bool:
        return sorted(deployment.webhook_names(channel)) == sorted([*expected, "channel_vacated"])

    await eventually(all_sent, what=f"webhooks {expected} and channel_vacated")
    names = deployment.webhook_names(channel)
    assert names[0] == "channel_occupied" and names[-1] == "channel_vacated"
    added = sorted(event.user_id or "" for event in deployment.webhooks if event.name == "member_added")
    removed = sorted(event.user_id or "" for event in deployment.webhooks if event.name == "member_removed")
    assert added == removed == ["ann", "bob"]


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run
