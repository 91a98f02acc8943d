"""Resuming a kept channel while Redis is unreachable: the node cannot read the stream, so the subscriber is
subscribed without its replay; once Redis is back it gets the events after its own position, once, in order, and
then live ones (docs/scale-out.md, "Channel history")."""

from __future__ import annotations

import pytest

from tests.helpers import connect
from tests.scale_out.cluster import Cluster, eventually
from tests.scale_out.test_history import events_of, kept_channel, leftover, publish, subscribe_after

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_resumes_made_while_redis_is_unreachable_are_replayed_each_from_its_own_position(
    fresh_cluster: Cluster,
) -> None:
    channel = kept_channel("private-")
    publisher, _, reader = fresh_cluster.nodes
    serials = [await publish(publisher, channel, n) for n in range(1, 4)]
    async with connect(reader) as early, connect(reader) as later, connect(reader) as fresh:
        fresh_cluster.redis.pause()
        try:

            async def degraded() -> bool:
                return await reader.health() == 503

            await eventually(degraded, timeout=10, what="the node noticing Redis is gone")
            for client, after in ((early, serials[0]), (later, serials[1])):
                reply = await subscribe_after(client, channel, after)
                assert "serial" not in reply, "no position can be known while Redis is away"
            await fresh.subscribe(channel)
            assert await leftover(early, channel) == []
        finally:
            fresh_cluster.redis.resume()
        await fresh_cluster.wait_all_healthy(timeout=15)
        assert [event["serial"] for event in await events_of(early, channel, 2)] == serials[1:]
        assert [event["serial"] for event in await events_of(later, channel, 1)] == serials[2:]
        serial = await publish(publisher, channel, 4)
        for client in (early, later, fresh):
            assert (await client.expect("message", channel=channel))["serial"] == serial
            assert await leftover(client, channel) == [], "each event once"
