"""Idempotent publishing while Redis is unreachable: the node remembers keys in its own memory, so a retry that
reaches it again is still answered 200 and not delivered twice (docs/scale-out.md, "What a publish answer means")."""

from __future__ import annotations

import json

import pytest

from pusherpy.protocol.idempotency import PublishClaim
from pusherpy.server.state import STATE
from tests.helpers import api_request, connect, make_settings, serve
from tests.scale_out.cluster import RedisServer, eventually


@pytest.mark.asyncio
async def test_a_repeated_key_is_not_delivered_twice_while_redis_is_down(redis_server: RedisServer) -> None:
    settings = make_settings(redis_url=redis_server.url, node_heartbeat_seconds=0.5, node_ttl_seconds=3.0)
    async with serve(settings) as node, connect(node) as subscriber:
        await subscriber.subscribe("orders")
        broker = node.application[STATE].broker
        await redis_server.kill()

        async def degraded() -> bool:
            return not broker.healthy

        await eventually(degraded, timeout=10.0, what="the node noticing that Redis is gone")
        path = f"/apps/{node.app.id}/events"
        for n in (1, 2):
            body = {"name": "order", "channel": "orders", "data": json.dumps({"n": n}), "idempotency_key": "outage-1"}
            assert await api_request(node, "POST", path, body=body) == (200, {})
        assert (await subscriber.expect("order"))["data"] == {"n": 1}
        await subscriber.expect_nothing()


@pytest.mark.asyncio
async def test_a_key_whose_release_missed_redis_is_released_when_redis_is_back(redis_server: RedisServer) -> None:
    """A publish claimed its key in Redis, then failed (503) because Redis went away: its release cannot reach Redis,
    whose claim would swallow the publisher's retry (200, delivered to nobody). It is released when Redis is back."""
    settings = make_settings(redis_url=redis_server.url, node_heartbeat_seconds=0.5, node_ttl_seconds=3.0)
    async with serve(settings) as node, connect(node) as subscriber:
        await subscriber.subscribe("orders")
        broker = node.application[STATE].broker
        assert await broker.claim_publish(node.app, "lost-1", 300) == PublishClaim(first=True)
        redis_server.pause()
        try:

            async def degraded() -> bool:
                return not broker.healthy

            await eventually(degraded, timeout=10.0, what="the node noticing that Redis is gone")
            await broker.release_publish(node.app, "lost-1")  # what a publish refused 503 after its claim does
        finally:
            redis_server.resume()

        async def healthy() -> bool:
            return bool(broker.healthy)

        await eventually(healthy, timeout=15.0, what="the node using Redis again")
        body = {"name": "order", "channel": "orders", "data": json.dumps({"n": 1}), "idempotency_key": "lost-1"}
        assert await api_request(node, "POST", f"/apps/{node.app.id}/events", body=body) == (200, {})
        assert (await subscriber.expect("order"))["data"] == {"n": 1}
