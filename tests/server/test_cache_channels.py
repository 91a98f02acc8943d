"""Cache channels: a new subscriber gets the last event, or ``pusher:cache_miss`` (PROTOCOL.md §1.4, §1.5)."""

from __future__ import annotations

import asyncio

import pytest

from pusherpy.protocol import signing
from pusherpy.server.broker.local import LocalBroker
from pusherpy.server.broker.node import CACHE_PURGE_INTERVAL
from tests.conftest import ServerFactory
from tests.helpers import PusherClient, RunningServer, connect, make_app, make_settings, trigger


def subscribe_data(client: PusherClient, channel: str) -> dict[str, str]:
    data = {"channel": channel}
    if channel.startswith("private-"):
        data["auth"] = signing.sign_channel(client.app.key, client.app.secret, client.socket_id, channel)
    return data


@pytest.mark.parametrize("channel", ["cache-prices", "private-cache-prices", "private-encrypted-cache-prices"])
async def test_empty_cache_channel_sends_cache_miss_after_subscription_succeeded(
    server: RunningServer, channel: str
) -> None:
    async with connect(server) as client:
        await client.subscribe(channel)
        miss = await client.receive()
    assert miss["event"] == "pusher:cache_miss"
    assert miss["channel"] == channel


@pytest.mark.parametrize("channel", ["cache-prices", "private-cache-prices"])
async def test_last_event_is_replayed_after_subscription_succeeded_under_its_own_name(
    server: RunningServer, channel: str
) -> None:
    status, _ = await trigger(server, channel, "price-changed", {"eur": 1.08})
    assert status == 200
    async with connect(server) as client:
        await client.send("pusher:subscribe", subscribe_data(client, channel))
        succeeded, replayed = await client.receive(), await client.receive()
    assert (succeeded["event"], succeeded["channel"]) == ("pusher_internal:subscription_succeeded", channel)
    assert (replayed["event"], replayed["channel"], replayed["data"]) == ("price-changed", channel, {"eur": 1.08})


async def test_presence_cache_channel_replays_after_the_member_list(server: RunningServer) -> None:
    channel = "presence-cache-room"
    await trigger(server, channel, "topic", {"t": "hello"})
    async with connect(server) as client:
        reply = await client.subscribe(channel, user_id="ann")
        replayed = await client.receive()
    assert reply["data"]["presence"]["ids"] == ["ann"]
    assert (replayed["event"], replayed["data"]) == ("topic", {"t": "hello"})


async def test_only_the_latest_event_is_kept(server: RunningServer) -> None:
    await trigger(server, "cache-prices", "price-changed", {"eur": 1})
    await trigger(server, "cache-prices", "price-changed", {"eur": 2})
    async with connect(server) as client:
        await client.subscribe("cache-prices")
        replayed = await client.receive()
        assert replayed["data"] == {"eur": 2}
        await trigger(server, "cache-prices", "marker", {})
        assert (await client.receive())["event"] == "marker"


async def test_existing_subscribers_do_not_get_the_replay(server: RunningServer) -> None:
    async with connect(server) as early:
        await early.subscribe("cache-prices")
        assert (await early.receive())["event"] == "pusher:cache_miss"
        await trigger(server, "cache-prices", "price-changed", {"eur": 1})
        assert (await early.receive())["event"] == "price-changed"
        async with connect(server) as late:
            await late.subscribe("cache-prices")
            assert (await late.receive())["event"] == "price-changed"
        await trigger(server, "cache-prices", "marker", {})
        assert (await early.receive())["event"] == "marker"


async def test_public_channel_is_not_cached(server: RunningServer) -> None:
    await trigger(server, "prices", "price-changed", {"eur": 1})
    async with connect(server) as client:
        await client.subscribe("prices")
        await trigger(server, "prices", "marker", {})
        assert (await client.receive())["event"] == "marker"


async def test_cached_event_expires_after_the_cache_ttl(server_factory: ServerFactory) -> None:
    ttl = 0.4
    server = await server_factory(cache_ttl_seconds=ttl)
    await trigger(server, "cache-prices", "price-changed", {"eur": 1})
    async with connect(server) as fresh:
        await fresh.subscribe("cache-prices")
        assert (await fresh.receive())["event"] == "price-changed"
    await asyncio.sleep(ttl + 0.1)  # the behaviour under test is the passing of time, not a race
    async with connect(server) as late:
        await late.subscribe("cache-prices")
        assert (await late.receive())["event"] == "pusher:cache_miss"


async def test_expired_entries_of_channels_nobody_reads_again_are_purged() -> None:
    """A cache channel published once and never read again must not stay in memory after its TTL."""
    now = [1000.0]
    broker = LocalBroker(make_settings(cache_ttl_seconds=30), clock=lambda: now[0])
    app = make_app()
    for index in range(100):
        await broker.publish(app, f"cache-once-{index}", '{"event":"e","channel":"c","data":"{}"}')
    assert len(broker.node.cache) == 100
    now[0] += 30 + CACHE_PURGE_INTERVAL
    await broker.publish(app, "cache-fresh", '{"event":"e","channel":"c","data":"{}"}')
    assert broker.node.cache.keys() == [(app.id, "cache-fresh")]
