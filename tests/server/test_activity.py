"""Heartbeats: the server pings a silent client and closes it with 4201 when no pong comes (PROTOCOL.md §1.1)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import ServerFactory
from tests.helpers import RunningServer, connect, make_app

PONG_TIMEOUT = 0.3


@pytest.fixture
async def quick_server(server_factory: ServerFactory) -> RunningServer:
    """A server that pings after 1 s of silence and waits 0.3 s for the pong."""
    return await server_factory(make_app(activity_timeout=1), pong_timeout=PONG_TIMEOUT)


async def test_silent_client_is_pinged_after_the_activity_timeout(quick_server: RunningServer) -> None:
    async with connect(quick_server) as client:
        await client.subscribe("news")
        started = time.monotonic()
        ping = await client.expect("pusher:ping", timeout=3)
        assert time.monotonic() - started >= 0.9
        assert ping["data"] == {}


async def test_client_that_does_not_answer_the_ping_is_closed_with_4201(quick_server: RunningServer) -> None:
    async with connect(quick_server) as client:
        await client.subscribe("news")
        await client.expect("pusher:ping", timeout=3)
        assert await client.expect_close(timeout=3) == 4201


async def test_client_that_answers_the_ping_stays_connected(quick_server: RunningServer) -> None:
    async with connect(quick_server) as client:
        await client.subscribe("news")
        await client.expect("pusher:ping", timeout=3)
        await client.send("pusher:pong")
        # The next thing the server sends is a new ping a full activity timeout later, not a close at PONG_TIMEOUT.
        started = time.monotonic()
        second = await client.receive(timeout=3)
        assert second["event"] == "pusher:ping"
        assert time.monotonic() - started >= 0.9
        await client.send("pusher:ping")
        assert (await client.receive())["event"] == "pusher:pong"


async def test_any_message_from_the_client_counts_as_activity(quick_server: RunningServer) -> None:
    async with connect(quick_server) as chatty, connect(quick_server) as silent:
        # `chatty` talks every 0.2 s for longer than the activity timeout and is never pinged; `silent` is.
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            await chatty.send("pusher:ping")
            assert (await chatty.receive())["event"] == "pusher:pong"
            await chatty.expect_nothing(within=0.2)
        await silent.expect("pusher:ping", timeout=3)


async def test_connection_without_subscriptions_is_pinged_and_closed_too(quick_server: RunningServer) -> None:
    async with connect(quick_server) as client:
        await client.expect("pusher:ping", timeout=3)
        assert await client.expect_close(timeout=3) == 4201


async def test_activity_timeout_is_per_app(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(activity_timeout=1), make_app(id="2", key="slow-key", activity_timeout=60))
    slow_app = server.settings.apps[1]
    async with connect(server) as fast, connect(server, app=slow_app) as slow:
        await fast.expect("pusher:ping", timeout=3)
        await slow.expect_nothing(within=0.3)
