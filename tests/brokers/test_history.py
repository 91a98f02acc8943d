"""Channel history, on every broker (in memory, one Redis, a Redis Cluster): kept events get serials, strictly
increasing per channel and the same on every node; a new subscriber is rewound, or resumed exactly after the position
its backend signed, on whichever node it lands; a position that cannot be resumed is told, never skipped silently.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pusherpy.protocol.history import HistoryRule
from tests.brokers.conftest import Deployment
from tests.helpers import PusherClient, RunningServer, api_request, connect

pytestmark = pytest.mark.asyncio(loop_scope="session")

Factory = Callable[..., Awaitable[Deployment]]
CHANNEL = "private-conversation.7"


def kept(size: int = 50, **options: Any) -> tuple[HistoryRule, ...]:
    return (HistoryRule(channels="private-conversation.*", size=size, ttl_seconds=600, **options),)


async def publish(node: RunningServer, n: int, channel: str = CHANNEL, **fields: Any) -> int:
    """Publish event ``n``; return its serial from the reply."""
    body = {"name": "message", "channel": channel, "data": json.dumps({"n": n}), **fields}
    status, reply = await api_request(node, "POST", f"/apps/{node.app.id}/events", body=body)
    assert status == 200, reply
    serial: int = reply["serials"][channel]
    return serial


async def numbered(client: PusherClient, count: int) -> list[tuple[int, int]]:
    """The next ``count`` messages as (n, serial), then checks that nothing else follows."""
    got = []
    for _ in range(count):
        message = await client.expect("message")
        got.append((message["data"]["n"], message["serial"]))
    await client.expect_nothing()
    return got


async def test_kept_events_get_serials_strictly_increasing_and_the_same_on_every_node(
    deployment_factory: Factory,
) -> None:
    deployment = await deployment_factory(history=kept())
    async with connect(deployment.a) as near, connect(deployment.b) as far:
        for client in (near, far):
            await client.subscribe(CHANNEL)
        serials = [await publish(node, n) for n, node in enumerate([deployment.a, deployment.b] * 3)]
        assert serials == sorted(set(serials)), "strictly increasing"
        assert serials == list(range(serials[0], serials[0] + 6)), "one per event"
        for client in (near, far):
            assert await numbered(client, 6) == list(enumerate(serials))


async def test_the_subscription_carries_the_position_and_events_elsewhere_carry_no_serial(
    deployment_factory: Factory,
) -> None:
    deployment = await deployment_factory(history=kept())
    async with connect(deployment.a) as client:
        first = await client.subscribe(CHANNEL)
        assert isinstance(first["serial"], int)
        serial = await publish(deployment.b, 1)
        assert serial == first["serial"] + 1
        other = await client.subscribe("private-elsewhere")
        assert "serial" not in other
        status, reply = await api_request(
            deployment.a,
            "POST",
            f"/apps/{deployment.app.id}/events",
            body={"name": "message", "channel": "private-elsewhere", "data": "{}"},
        )
        assert (status, reply) == (200, {})
        kept_message = await client.expect("message", channel=CHANNEL)
        assert (kept_message["data"]["n"], kept_message["serial"]) == (1, serial)
        message = await client.expect("message", channel="private-elsewhere")
        assert "serial" not in message


async def test_a_new_subscription_is_rewound_to_the_last_n_events_before_live_ones(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(history=kept(rewind=3))
    serials = [await publish(deployment.a, n) for n in range(5)]
    async with connect(deployment.b) as late:
        reply = await late.subscribe(CHANNEL)
        assert reply["serial"] == serials[-1]
        assert await numbered(late, 3) == [(2, serials[2]), (3, serials[3]), (4, serials[4])]
        live = await publish(deployment.a, 5)
        assert await numbered(late, 1) == [(5, live)]


async def test_a_subscriber_resumes_exactly_after_its_position_on_another_node(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(history=kept(rewind=10))
    async with connect(deployment.a) as first:
        position = (await first.subscribe(CHANNEL))["serial"]
        seen = [await publish(deployment.a, n) for n in range(2)]
        assert await numbered(first, 2) == list(enumerate(seen))
    missed = [await publish(deployment.a, n) for n in range(2, 6)]  # while the page was away
    async with connect(deployment.b) as again:
        reply = await again.subscribe(CHANNEL, resume_after=seen[-1])
        assert reply["serial"] == missed[-1] > position
        assert await numbered(again, 4) == list(zip(range(2, 6), missed, strict=True)), "no rewind: exactly after"
        live = await publish(deployment.b, 6)
        assert await numbered(again, 1) == [(6, live)]


async def test_a_position_from_the_subscription_alone_resumes_every_event_since(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(history=kept())
    async with connect(deployment.a) as first:
        position = (await first.subscribe(CHANNEL))["serial"]
    missed = [await publish(deployment.b, n) for n in range(3)]
    async with connect(deployment.b) as again:
        await again.subscribe(CHANNEL, resume_after=position)
        assert await numbered(again, 3) == list(enumerate(missed))


async def test_resuming_at_the_position_replays_nothing(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(history=kept(rewind=5))
    last = [await publish(deployment.a, n) for n in range(3)][-1]
    async with connect(deployment.b) as client:
        assert (await client.subscribe(CHANNEL, resume_after=last))["serial"] == last
        await client.expect_nothing()


async def test_a_trimmed_position_gets_resume_failed_and_then_live_events(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(history=kept(size=3))
    serials = [await publish(deployment.a, n) for n in range(6)]
    async with connect(deployment.b) as client:
        await client.subscribe(CHANNEL, resume_after=serials[0])
        failed = await client.expect("pusherpy:resume_failed", channel=CHANNEL)
        assert failed["data"] == {"after": serials[0], "position": serials[-1], "reason": "trimmed"}
        assert failed["serial"] == serials[-1]
        await client.expect_nothing()
        live = await publish(deployment.a, 6)
        assert await numbered(client, 1) == [(6, live)]


@pytest.mark.parametrize("offset", [-1_000_000, 1], ids=["older-than-the-record", "ahead-of-it"])
async def test_a_position_that_is_not_the_channels_gets_resume_failed_unknown(
    deployment_factory: Factory, offset: int
) -> None:
    deployment = await deployment_factory(history=kept())
    last = await publish(deployment.a, 0)
    async with connect(deployment.b) as client:
        await client.subscribe(CHANNEL, resume_after=last + offset)
        failed = await client.expect("pusherpy:resume_failed", channel=CHANNEL)
        assert failed["data"]["reason"] == "unknown"
        assert failed["data"]["position"] == last


async def test_client_events_are_relayed_but_not_kept(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(history=kept(rewind=10))
    async with connect(deployment.a) as sender, connect(deployment.b) as other:
        await sender.subscribe(CHANNEL)
        await other.subscribe(CHANNEL)
        await sender.send("client-typing", {"who": "ann"}, channel=CHANNEL)
        typing = await other.expect("client-typing")
        assert "serial" not in typing
    async with connect(deployment.b) as late:
        await late.subscribe(CHANNEL)
        await late.expect_nothing()


async def test_a_repeated_idempotency_key_answers_the_first_publishs_serial(deployment_factory: Factory) -> None:
    deployment = await deployment_factory(history=kept())
    first = await publish(deployment.a, 1, idempotency_key="reply-1-chunk-1")
    again = await publish(deployment.b, 1, idempotency_key="reply-1-chunk-1")
    assert again == first
    assert await publish(deployment.a, 2) == first + 1, "the repeat took no serial"


class TestHistoryApi:
    async def test_events_after_a_serial_oldest_first_within_a_limit(self, deployment_factory: Factory) -> None:
        deployment = await deployment_factory(history=kept())
        serials = [await publish(deployment.a, n) for n in range(5)]
        path = f"/apps/{deployment.app.id}/channels/{CHANNEL}/events"
        status, page = await api_request(deployment.b, "GET", path, params={"after": str(serials[1]), "limit": "2"})
        assert status == 200
        assert [(e["serial"], json.loads(e["data"])["n"], e["event"]) for e in page["events"]] == [
            (serials[2], 2, "message"),
            (serials[3], 3, "message"),
        ]
        assert (page["position"], page["oldest"]) == (serials[-1], serials[0])
        assert all(isinstance(e["published_at"], int) for e in page["events"])
        status, latest = await api_request(deployment.b, "GET", path, params={"limit": "2"})
        assert [e["serial"] for e in latest["events"]] == serials[-2:]

    async def test_a_trimmed_position_is_410_gone_with_the_position(self, deployment_factory: Factory) -> None:
        deployment = await deployment_factory(history=kept(size=2))
        serials = [await publish(deployment.a, n) for n in range(4)]
        path = f"/apps/{deployment.app.id}/channels/{CHANNEL}/events"
        status, reply = await api_request(deployment.b, "GET", path, params={"after": str(serials[0])})
        assert status == 410
        assert (reply["position"], reply["oldest"]) == (serials[-1], serials[-2])
        assert "own store" in reply["error"]

    async def test_a_channel_without_history_is_404_and_bad_parameters_400(self, deployment_factory: Factory) -> None:
        deployment = await deployment_factory(history=kept())
        app_id = deployment.app.id
        status, reply = await api_request(deployment.a, "GET", f"/apps/{app_id}/channels/chat/events")
        assert status == 404 and "history" in reply["error"]
        path = f"/apps/{app_id}/channels/{CHANNEL}/events"
        for params in ({"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "99999999999"}):
            status, reply = await api_request(deployment.a, "GET", path, params=params)
            assert status == 400, params


async def test_a_burst_of_publishes_beyond_the_redis_connection_pool_is_served_whole(
    deployment_factory: Factory,
) -> None:
    """Each publish to a kept channel waits on Redis; hundreds at once must queue for connections, not read as an
    outage (which would refuse them 503 and take the node off Redis).

    Both nodes run in this test's one process, so on a busy machine the burst itself delays the event loop: the
    nodes get production's Redis command timeout (2 s), not the short one other tests use to notice dead nodes."""
    deployment = await deployment_factory(history=kept(size=1000), heartbeat_seconds=2.0)

    async def publish_one(n: int) -> int:
        body = {"name": "message", "channel": f"private-conversation.{n % 20}", "data": json.dumps({"n": n})}
        status, _ = await api_request(deployment.a, "POST", f"/apps/{deployment.app.id}/events", body=body)
        return status

    statuses = await asyncio.gather(*(publish_one(n) for n in range(400)))
    assert statuses.count(200) == 400, sorted(set(statuses))
    status, page = await api_request(
        deployment.b, "GET", f"/apps/{deployment.app.id}/channels/private-conversation.0/events"
    )
    assert status == 200 and len(page["events"]) == 20
