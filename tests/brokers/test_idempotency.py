"""Idempotent publishing, on every broker (in memory, one Redis, a Redis Cluster): a publish repeating an earlier
one's ``idempotency_key`` within the app's window is answered 200 and delivered to nobody, whichever node it reaches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pusherpy.protocol.idempotency import PublishClaim
from pusherpy.server.state import STATE
from tests.brokers.conftest import Deployment
from tests.helpers import PusherClient, RunningServer, api_request, connect

pytestmark = pytest.mark.asyncio(loop_scope="session")

Factory = Callable[..., Awaitable[Deployment]]
WINDOW = 0.5


def event(channel: str, n: int, key: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "order", "channel": channel, "data": json.dumps({"n": n})}
    if key is not None:
        body["idempotency_key"] = key
    return body


async def publish(node: RunningServer, channel: str, n: int, key: str | None) -> tuple[int, Any]:
    return await api_request(node, "POST", f"/apps/{node.app.id}/events", body=event(channel, n, key))


async def publish_batch(node: RunningServer, items: list[dict[str, Any]]) -> tuple[int, Any]:
    return await api_request(node, "POST", f"/apps/{node.app.id}/batch_events", body={"batch": items})


async def received(client: PusherClient, count: int) -> list[int]:
    """The ``n`` of the next ``count`` orders, then checks that no other order follows."""
    numbers = [(await client.expect("order"))["data"]["n"] for _ in range(count)]
    await client.expect_nothing()
    return numbers


async def test_a_repeated_key_is_answered_200_and_delivered_once_on_every_node(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.a) as near, connect(deployment.b) as far:
        for client in (near, far):
            await client.subscribe("orders")
        assert await publish(deployment.a, "orders", 1, "order-1") == (200, {})
        assert await publish(deployment.b, "orders", 2, "order-1") == (200, {}), "a retry reaching another node"
        assert await publish(deployment.a, "orders", 3, "order-1") == (200, {})
        for client in (near, far):
            assert await received(client, 1) == [1]


async def test_different_keys_and_no_key_are_all_delivered(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.a) as near, connect(deployment.b) as far:
        for client in (near, far):
            await client.subscribe("orders")
        for n, key in enumerate(["order-1", "order-2", None, None], start=1):
            assert (await publish(deployment.a, "orders", n, key))[0] == 200
        for client in (near, far):
            assert await received(client, 4) == [1, 2, 3, 4]


async def test_a_key_is_delivered_again_once_its_window_has_passed(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(idempotency_window_seconds=WINDOW)
    async with connect(deployment.b) as far:
        await far.subscribe("orders")
        claimed = time.monotonic()  # before the first publish claims the key: its window ends after this one's
        assert (await publish(deployment.a, "orders", 1, "late-retry"))[0] == 200
        assert (await publish(deployment.a, "orders", 2, "late-retry"))[0] == 200
        assert await received(far, 1) == [1]
        await asyncio.sleep(max(0.0, claimed + WINDOW - time.monotonic()) + 0.05)
        assert (await publish(deployment.b, "orders", 3, "late-retry"))[0] == 200
        assert await received(far, 1) == [3]


async def test_a_window_of_0_turns_repeats_detection_off(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(idempotency_window_seconds=0)
    async with connect(deployment.b) as far:
        await far.subscribe("orders")
        for n in (1, 2):
            assert (await publish(deployment.a, "orders", n, "same"))[0] == 200
        assert await received(far, 2) == [1, 2]


async def test_a_batch_skips_its_repeated_items_and_delivers_the_others(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.a) as near, connect(deployment.b) as far:
        for client in (near, far):
            await client.subscribe("orders")
        keys = ["b-1", "b-2", "b-1", None]  # the third repeats the first, within one batch
        first = [event("orders", n, key) for n, key in enumerate(keys, start=1)]
        assert await publish_batch(deployment.a, first) == (200, {})
        second = [event("orders", 5, "b-2"), event("orders", 6, "b-3")]
        assert await publish_batch(deployment.b, second) == (200, {})
        for client in (near, far):
            assert await received(client, 4) == [1, 2, 4, 6]


@pytest.mark.parametrize(
    "key",
    ["", "x" * 129, "has space", "brace{tag}", "ünï", "new\nline", 42, True, ["k"], {"k": 1}],
)
async def test_an_invalid_key_is_refused_with_400_and_delivers_nothing(deployment_factory: Factory, key: Any) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.a) as near:
        await near.subscribe("orders")
        body = event("orders", 1, None) | {"idempotency_key": key}
        status, reply = await api_request(deployment.a, "POST", f"/apps/{deployment.app.id}/events", body=body)
        assert status == 400
        assert "idempotency_key must be" in reply["error"]
        status, reply = await publish_batch(deployment.a, [event("orders", 2, "fine"), body])
        assert status == 400, "one bad item refuses the whole batch, before any item is delivered"
        assert "idempotency_key must be" in reply["error"]
        await near.expect_nothing()
        assert await publish(deployment.a, "orders", 3, "fine") == (200, {}), "the refused batch claimed no key"
        assert await received(near, 1) == [3]


async def test_the_longest_key_is_accepted(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.a) as near:
        await near.subscribe("orders")
        key = "Az09_.:-" * 16
        assert (await publish(deployment.a, "orders", 1, key))[0] == 200
        assert (await publish(deployment.a, "orders", 2, key))[0] == 200
        assert await received(near, 1) == [1]


async def test_concurrent_publishes_with_one_key_on_two_nodes_deliver_once(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    async with connect(deployment.a) as near, connect(deployment.b) as far:
        for client in (near, far):
            await client.subscribe("orders")
        for round_ in range(5):
            key = f"race-{round_}"
            answers = await asyncio.gather(
                publish(deployment.a, "orders", round_ * 2, key), publish(deployment.b, "orders", round_ * 2 + 1, key)
            )
            assert [status for status, _ in answers] == [200, 200]
        for client in (near, far):
            numbers = await received(client, 5)
            assert [n // 2 for n in numbers] == [0, 1, 2, 3, 4], f"exactly one of each pair: {numbers}"


async def test_a_repeat_is_told_the_first_publishs_settled_reply_on_any_node(deployment_factory: Factory) -> None:
    deployment = await deployment_factory()
    app = deployment.app
    a, b = deployment.a.application[STATE].broker, deployment.b.application[STATE].broker
    assert await a.claim_publish(app, "seam-1", 5.0) == PublishClaim(first=True)
    assert await b.claim_publish(app, "seam-1", 5.0) == PublishClaim(first=False, reply=None), "not settled yet"
    await a.settle_publish(app, "seam-1", '{"serials":{"orders":7}}')
    assert await b.claim_publish(app, "seam-1", 5.0) == PublishClaim(first=False, reply='{"serials":{"orders":7}}')
    await a.release_publish(app, "seam-1")
    assert await b.claim_publish(app, "seam-1", 5.0) == PublishClaim(first=True), "a released key may be claimed"
    await b.settle_publish(app, "never-claimed", "{}")
    assert await a.claim_publish(app, "never-claimed", 5.0) == PublishClaim(first=True), "settling claims nothing"
