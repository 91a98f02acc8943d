"""What a publish answers on a node that shares Redis (docs/scale-out.md, "What a publish answer means"): ``200`` once
the event reached this node's subscribers, whatever Redis says afterwards; an error status only for an event that was
delivered to nobody."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tests.helpers import RunningServer, connect, make_settings, serve, trigger
from tests.scale_out.cluster import RedisServer


@pytest_asyncio.fixture
async def node(redis_server: RedisServer) -> AsyncIterator[RunningServer]:
    async with serve(make_settings(redis_url=redis_server.url, cache_ttl_seconds=60)) as running:
        yield running


async def _refuse_writes(redis_server: RedisServer) -> None:
    """Make Redis answer every write with an error that is not an outage: ``OOM command not allowed``."""
    client = Redis.from_url(redis_server.url)
    try:
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", 1)
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_a_publish_that_reached_a_subscriber_answers_200_when_redis_then_refuses_it(
    node: RunningServer, redis_server: RedisServer
) -> None:
    async with connect(node) as subscriber:
        await subscriber.subscribe("cache-news")
        await _refuse_writes(redis_server)
        status, body = await trigger(node, "cache-news", "headline", {"n": 1})
        assert (await subscriber.expect("headline", channel="cache-news"))["data"] == {"n": 1}
        assert (status, body) == (200, {}), "the event was delivered: an error answer would invite a duplicate"
    async with aiohttp.ClientSession() as session, session.get(node.http_url + "/up") as up:
        assert up.status == 200, "a refused write is not an outage: the node stays in the cluster"


@pytest.mark.asyncio
async def test_a_refused_publish_is_delivered_to_nobody(node: RunningServer) -> None:
    async with connect(node) as subscriber:
        await subscriber.subscribe("news")
        status, _ = await trigger(node, ["news", "not a channel name!"], "headline", {"n": 1})
        assert status == 400
        await subscriber.expect_nothing()
