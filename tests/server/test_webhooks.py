"""Webhooks to an app's backend (PROTOCOL.md §1.10): each kind arrives once, signed so that the official SDK's
``validate_webhook`` accepts it, filtered by the endpoint's event types, batched when events come together,
delayed and cancelled where Pusher delays them, retried when the receiver fails, and bounded when it is gone.

The receiver is a real aiohttp server on 127.0.0.1 and a free port, started by each test (``webhook_receiver.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pusher
import pytest
from aiohttp import web

from pusherpy.protocol import signing
from pusherpy.protocol.apps import AppConfig, WebhookTarget
from tests.conftest import ServerFactory
from tests.helpers import DEADLINE, RunningServer, connect, make_app, make_settings, serve, trigger
from tests.server.webhook_receiver import Receiver, receiving

QUICK = {"webhook_batch_interval": 0.05, "webhook_delay_seconds": 0.3, "webhook_retry_seconds": 5.0}
"""Settings that keep webhook tests fast: send 50 ms after the first event, hold vacated/removed for 300 ms."""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as running:
        yield running


def hooked_app(*urls: str, event_types: Iterable[str] | None = None, **overrides: Any) -> AppConfig:
    targets = tuple(
        WebhookTarget(url=url) if event_types is None else WebhookTarget(url=url, event_types=frozenset(event_types))
        for url in urls
    )
    return make_app(webhooks=targets, **overrides)


async def hooked_server(
    server_factory: ServerFactory,
    receiver: Receiver,
    *,
    event_types: Iterable[str] | None = None,
    app_overrides: dict[str, Any] | None = None,
    **settings: Any,
) -> RunningServer:
    app = hooked_app(receiver.url, event_types=event_types, **(app_overrides or {}))
    return await server_factory(app, **{**QUICK, **settings})


class TestEachKind:
    async def test_channel_occupied_on_first_subscriber_only(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver)
        async with connect(server) as one, connect(server) as two:
            await one.subscribe("news")
            await two.subscribe("news")
            events = await receiver.expect_events(1)
        assert events == [{"name": "channel_occupied", "channel": "news"}]

    async def test_channel_vacated_when_the_last_subscriber_leaves(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver)
        async with connect(server) as one, connect(server) as two:
            await one.subscribe("news")
            await two.subscribe("news")
            await receiver.expect_events(1)
            await one.send("pusher:unsubscribe", {"channel": "news"})
            await receiver.expect_no_more()
        events = await receiver.expect_events(2)
        assert events[1] == {"name": "channel_vacated", "channel": "news"}

    async def test_member_added_and_removed_once_per_user_not_per_connection(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, event_types={"member_added", "member_removed"})
        async with connect(server) as alice:
            async with connect(server) as alice_again:
                await alice.subscribe("presence-room", user_id="alice")
                await alice_again.subscribe("presence-room", user_id="alice")
                assert await receiver.expect_events(1) == [
                    {"name": "member_added", "channel": "presence-room", "user_id": "alice"}
                ]
            await receiver.expect_no_more()  # one tab left: alice is still a member
        events = await receiver.expect_events(2)
        assert events[1] == {"name": "member_removed", "channel": "presence-room", "user_id": "alice"}

    async def test_client_event_carries_the_event_data_and_sender(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, event_types={"client_event"})
        async with connect(server) as sender, connect(server) as other:
            await sender.subscribe("private-chat")
            await other.subscribe("private-chat")
            await sender.send("client-typing", {"who": "me"}, channel="private-chat")
            await other.expect("client-typing")
            events = await receiver.expect_events(1)
        assert len(events) == 1
        assert json.loads(events[0].pop("data")) == {"who": "me"}
        assert events[0] == {
            "name": "client_event",
            "channel": "private-chat",
            "event": "client-typing",
            "socket_id": sender.socket_id,
        }

    async def test_client_event_on_a_presence_channel_carries_the_user_id(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, event_types={"client_event"})
        async with connect(server) as sender, connect(server) as other:
            await sender.subscribe("presence-room", user_id="alice")
            await other.subscribe("presence-room", user_id="bob")
            await sender.send("client-typing", "plain text", channel="presence-room")
            await other.expect("client-typing")
            events = await receiver.expect_events(1)
        assert events == [
            {
                "name": "client_event",
                "channel": "presence-room",
                "event": "client-typing",
                "data": "plain text",
                "socket_id": sender.socket_id,
                "user_id": "alice",
            }
        ]

    async def test_cache_miss_when_a_cache_channel_has_nothing_cached(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, event_types={"cache_miss"})
        async with connect(server) as client:
            await client.subscribe("cache-prices")
            await client.expect("pusher:cache_miss")
            assert await receiver.expect_events(1) == [{"name": "cache_miss", "channel": "cache-prices"}]
            await trigger(server, "cache-prices", "price", {"eur": 1})
            async with connect(server) as later:
                await later.subscribe("cache-prices")
                await later.expect("price")
            await receiver.expect_no_more()

    async def test_cache_miss_is_sent_once_for_a_burst_of_subscribers_to_an_empty_cache_channel(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, event_types={"cache_miss"})
        async with connect(server) as first, connect(server) as second, connect(server) as third:
            for client in (first, second, third):
                await client.subscribe("cache-quotes")
                await client.expect("pusher:cache_miss")
            assert await receiver.expect_events(1) == [{"name": "cache_miss", "channel": "cache-quotes"}]
            await receiver.expect_no_more()

    async def test_subscription_count_follows_each_change(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(
            server_factory,
            receiver,
            event_types={"subscription_count"},
            app_overrides={"enable_subscription_count": True},
        )
        async with connect(server) as one, connect(server) as two:
            await one.subscribe("news")
            await two.subscribe("news")
            await one.send("pusher:unsubscribe", {"channel": "news"})
            events = await receiver.expect_events(3)
        assert events == [
            {"name": "subscription_count", "channel": "news", "subscription_count": count} for count in (1, 2, 1)
        ]


class TestSignature:
    async def test_every_request_is_signed_over_its_exact_body(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver)
        async with connect(server) as client:
            await client.subscribe("presence-room", user_id="alice")
            await receiver.expect_events(2)
        (delivery,) = receiver.deliveries
        app = server.app
        assert delivery.headers["Content-Type"] == "application/json"
        assert delivery.headers["X-Pusher-Key"] == app.key
        assert delivery.headers["X-Pusher-Signature"] == signing.hmac_sha256_hex(app.secret, delivery.body)

    async def test_official_python_sdk_validates_the_webhook(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver)
        async with connect(server) as client:
            await client.subscribe("news")
            await receiver.expect_events(1)
        (delivery,) = receiver.deliveries
        app = server.app
        sdk = pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret)
        validated = sdk.validate_webhook(
            delivery.headers["X-Pusher-Key"], delivery.headers["X-Pusher-Signature"], delivery.body.decode()
        )
        assert validated is not None, "pusher-http-python rejected the webhook"
        assert validated["events"] == [{"name": "channel_occupied", "channel": "news"}]
        assert abs(validated["time_ms"] - time.time() * 1000) < 5000
        forged = delivery.body.replace(b"news", b"nope")
        assert sdk.validate_webhook(app.key, delivery.headers["X-Pusher-Signature"], forged.decode()) is None


class TestFiltering:
    async def test_endpoint_gets_only_the_event_types_it_asked_for(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        async with receiving() as everything:
            app = make_app(
                webhooks=(
                    WebhookTarget(url=receiver.url, event_types=frozenset({"member_added"})),
                    WebhookTarget(url=everything.url),
                )
            )
            server = await server_factory(app, **QUICK)
            async with connect(server) as client:
                await client.subscribe("presence-room", user_id="alice")
                await client.subscribe("news")
                assert await receiver.expect_events(1) == [
                    {"name": "member_added", "channel": "presence-room", "user_id": "alice"}
                ]
                all_events = await everything.expect_events(3)
        assert sorted(e["name"] for e in all_events) == ["channel_occupied", "channel_occupied", "member_added"]

    async def test_app_without_webhooks_sends_none_while_another_app_does(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        quiet = make_app(id="1", key="quiet-key", secret="quiet")
        hooked = hooked_app(receiver.url, id="2", key="hooked-key", secret="hooked")
        server = await server_factory(quiet, hooked, **QUICK)
        async with connect(server, app=quiet) as silent, connect(server, app=hooked) as loud:
            await silent.subscribe("news")
            await loud.subscribe("sport")
            events = await receiver.expect_events(1)
        assert events == [{"name": "channel_occupied", "channel": "sport"}]
        assert receiver.deliveries[0].headers["X-Pusher-Key"] == "hooked-key"


class TestBatching:
    async def test_events_that_come_together_arrive_in_one_request(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, webhook_batch_interval=0.3)
        async with connect(server) as client:
            for channel in ("a", "b", "c"):
                await client.subscribe(channel)
            await receiver.expect_events(3)
        assert len(receiver.deliveries) == 1
        assert receiver.deliveries[0].events == [{"name": "channel_occupied", "channel": c} for c in "abc"]

    async def test_batch_size_caps_the_events_per_request(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, webhook_batch_interval=0.3, webhook_batch_size=2)
        async with connect(server) as client:
            for channel in ("a", "b", "c"):
                await client.subscribe(channel)
            await receiver.expect_events(3)
        assert [len(d.events) for d in receiver.deliveries] == [2, 1]


class TestDelay:
    async def test_channel_vacated_is_held_for_the_delay(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, event_types={"channel_vacated"})
        async with connect(server) as client:
            await client.subscribe("news")
            await client.send("pusher:unsubscribe", {"channel": "news"})
            await client.send("pusher:ping")
            await client.expect("pusher:pong")
            left_at = time.monotonic()
            await receiver.expect_events(1)
        assert receiver.deliveries[0].received_at - left_at >= QUICK["webhook_delay_seconds"]

    async def test_events_held_at_once_are_bounded_and_the_rest_are_sent_undelayed(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(
            server_factory, receiver, event_types={"channel_vacated"}, webhook_delay_seconds=60, webhook_queue_limit=5
        )
        async with connect(server) as client:
            for number in range(8):
                await client.subscribe(f"news-{number}")
                await client.send("pusher:unsubscribe", {"channel": f"news-{number}"})
            events = await receiver.expect_events(3)
        assert [event["channel"] for event in events] == ["news-5", "news-6", "news-7"]

    async def test_channel_that_comes_back_within_the_delay_sends_neither_vacated_nor_occupied_again(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, webhook_delay_seconds=0.6)
        async with connect(server) as client:
            await client.subscribe("news")
            assert await receiver.expect_events(1) == [{"name": "channel_occupied", "channel": "news"}]
            await client.send("pusher:unsubscribe", {"channel": "news"})
            await client.subscribe("news")  # back well within the delay
            await receiver.expect_no_more(0.9)

    async def test_member_who_reconnects_within_the_delay_sends_neither_removed_nor_added_again(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(
            server_factory, receiver, event_types={"member_added", "member_removed"}, webhook_delay_seconds=0.6
        )
        async with connect(server) as first_tab:
            await first_tab.subscribe("presence-room", user_id="alice")
            await receiver.expect_events(1)
        async with connect(server) as reloaded_tab:  # a page reload: a new socket for the same user
            await reloaded_tab.subscribe("presence-room", user_id="alice")
            await receiver.expect_no_more(0.9)

    async def test_member_who_does_not_come_back_is_removed_after_the_delay(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        server = await hooked_server(server_factory, receiver, event_types={"member_added", "member_removed"})
        async with connect(server) as alice, connect(server) as bob:
            await alice.subscribe("presence-room", user_id="alice")
            await bob.subscribe("presence-room", user_id="bob")
            await receiver.expect_events(2)
            await alice.send("pusher:unsubscribe", {"channel": "presence-room"})
            events = await receiver.expect_events(3)
        assert events[2] == {"name": "member_removed", "channel": "presence-room", "user_id": "alice"}


class TestDeliveryFailures:
    async def test_request_answered_500_is_retried_until_accepted(
        self, server_factory: ServerFactory, receiver: Receiver
    ) -> None:
        receiver.statuses = [500, 503]
        server = await hooked_server(server_factory, receiver)
        async with connect(server) as client:
            await client.subscribe("news")
            events = await receiver.expect_events(1)
        assert events == [{"name": "channel_occupied", "channel": "news"}]
        assert [d.headers["X-Test-Answer"] for d in receiver.deliveries] == ["500", "503", "200"]
        app = server.app
        for delivery in receiver.deliveries:  # each attempt is stamped and signed afresh
            assert delivery.headers["X-Pusher-Signature"] == signing.hmac_sha256_hex(app.secret, delivery.body)
        assert await eventually(lambda c: c["sent"] == 1, server) == {"sent": 1, "failed": 0, "dropped": 0}

    async def test_receiver_that_is_gone_for_good_fills_a_bounded_queue_and_the_server_keeps_serving(
        self, server_factory: ServerFactory
    ) -> None:
        async with receiving() as gone:
            url = gone.url
        server = await server_factory(
            hooked_app(url, event_types={"channel_occupied"}),
            webhook_batch_interval=1.0,
            webhook_queue_limit=3,
            webhook_retry_seconds=0.2,
        )
        async with connect(server) as client:
            for n in range(10):  # within the 1 s batch interval: 3 queued, the 7 oldest dropped
                await client.subscribe(f"channel-{n}")
            assert (await webhook_counters(server))["dropped"] == 7
            status, _ = await trigger(server, "channel-9", "still-here", {})
            assert status == 200
            await client.expect("still-here", timeout=0.5)
            counters = await eventually(lambda c: c["failed"] == 3, server)
        assert counters == {"sent": 0, "failed": 3, "dropped": 7}


@asynccontextmanager
async def redirecting(status: int) -> AsyncIterator[tuple[str, list[str]]]:
    """A receiver whose ``/webhooks`` answers ``status`` pointing at ``/elsewhere``; yields its URL and the methods
    ``/elsewhere`` was asked with (by any method)."""
    elsewhere: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "/elsewhere?token=moved-t0ken"})

    async def record(request: web.Request) -> web.Response:
        elsewhere.append(request.method)
        return web.json_response({})

    application = web.Application()
    application.router.add_post("/webhooks", redirect)
    application.router.add_route("*", "/elsewhere", record)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://pusher:hook-pa55word@127.0.0.1:{runner.addresses[0][1]}/webhooks", elsewhere
    finally:
        await runner.cleanup()


class TestRedirects:
    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
    async def test_a_redirect_is_a_failed_delivery_never_followed(
        self, server_factory: ServerFactory, caplog: pytest.LogCaptureFixture, status: int
    ) -> None:
        """Following it would hand the signed body (or a GET) to wherever the answer points; the log says why the
        delivery failed, with no credential of either URL."""
        caplog.set_level(logging.WARNING, logger="pusherpy.server.webhooks")
        async with redirecting(status) as (url, elsewhere):
            server = await server_factory(hooked_app(url), **{**QUICK, "webhook_retry_seconds": 0.0})
            async with connect(server) as client:
                await client.subscribe("news")
                counters = await eventually(lambda c: c["failed"] == 1, server)
        assert counters == {"sent": 0, "failed": 1, "dropped": 0}
        assert elsewhere == []
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert f"HTTP {status}" in logged and "redirects are not followed" in logged
        assert "http://pusher:***@127.0.0.1:" in logged
        assert "hook-pa55word" not in logged and "moved-t0ken" not in logged


async def webhook_counters(server: RunningServer) -> dict[str, int]:
    """The app's webhook counters from /metrics: events sent, failed after retries, and dropped from a full queue."""
    async with aiohttp.ClientSession() as session:
        async with session.get(server.http_url + "/metrics") as response:
            text = await response.text()
    counters = {"sent": 0, "failed": 0, "dropped": 0}
    for line in text.splitlines():
        for name in counters:
            prefix = f'pusherpy_webhook_events_{name}_total{{app_id="{server.app.id}"}} '
            if line.startswith(prefix):
                counters[name] = int(line.removeprefix(prefix))
    return counters


async def eventually(
    condition: Callable[[dict[str, int]], bool], server: RunningServer, timeout: float = DEADLINE
) -> dict[str, int]:
    """Scrape the webhook counters until ``condition`` holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        counters = await webhook_counters(server)
        if condition(counters):
            return counters
        if time.monotonic() > deadline:
            raise AssertionError(f"webhook counters never met the condition: {counters}")
        await asyncio.sleep(0.05)


class TestServerStop:
    async def test_queued_and_held_events_are_sent_before_the_server_stops(self, receiver: Receiver) -> None:
        """A stopping server sends what it still holds: its channels and members are really gone, and a backend
        that never heard channel_vacated / member_removed would show them occupied and online for ever."""
        settings = make_settings(
            hooked_app(receiver.url), webhook_batch_interval=30.0, webhook_delay_seconds=30.0, shutdown_timeout=2.0
        )
        async with serve(settings) as server:
            async with connect(server) as client:
                await client.subscribe("presence-room", user_id="alice")
            stopped_at = time.monotonic()
        assert time.monotonic() - stopped_at < 3.0
        assert receiver.events == [
            {"name": "channel_occupied", "channel": "presence-room"},
            {"name": "member_added", "channel": "presence-room", "user_id": "alice"},
            {"name": "member_removed", "channel": "presence-room", "user_id": "alice"},
            {"name": "channel_vacated", "channel": "presence-room"},
        ]

    async def test_stop_is_not_held_up_by_a_receiver_that_is_gone(self) -> None:
        async with receiving() as gone:
            url = gone.url
        settings = make_settings(hooked_app(url), webhook_batch_interval=30.0, shutdown_timeout=2.0)
        async with serve(settings) as server:
            async with connect(server) as client:
                await client.subscribe("news")
            stopped_at = time.monotonic()
        assert time.monotonic() - stopped_at < 3.0
