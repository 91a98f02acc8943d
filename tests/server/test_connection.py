"""Connecting: the handshake pusher-js expects, and the refusals it must understand (PROTOCOL.md §1.1, §1.2)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest

from tests.conftest import ServerFactory
from tests.helpers import DEADLINE, PusherClient, RunningServer, connect, make_app, trigger


@asynccontextmanager
async def raw_socket(
    server: RunningServer,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    autoping: bool = True,
    **query: str,
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A WebSocket to the server that expects nothing, so refusals (and pong frames) can be read."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.ws_url(key, **query), headers=headers, autoping=autoping) as ws:
            yield ws


async def refusal(ws: aiohttp.ClientWebSocketResponse) -> tuple[dict[str, Any], int | None]:
    """Read the ``pusher:error`` a refused connection gets, then its close; return both."""
    message = await ws.receive(timeout=DEADLINE)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    error = json.loads(message.data)
    closing = await ws.receive(timeout=DEADLINE)
    assert closing.type is aiohttp.WSMsgType.CLOSE, closing
    # The code in the server's close frame; ws.close_code can turn 1006 while aiohttp's autoclose replies.
    return error, int(closing.data)


async def assert_refused_with(ws: aiohttp.ClientWebSocketResponse, code: int) -> None:
    error, close_code = await refusal(ws)
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] == code
    assert error["data"]["message"]
    assert close_code == code


class TestEstablished:
    async def test_connection_established_carries_a_socket_id_of_two_integers(self, server: RunningServer) -> None:
        async with raw_socket(server) as ws:
            message = await ws.receive_json(timeout=DEADLINE)
        assert message["event"] == "pusher:connection_established"
        assert isinstance(message["data"], str), "data must be double-encoded for pusher-js"
        data = json.loads(message["data"])
        assert re.fullmatch(r"\d+\.\d+", data["socket_id"])

    async def test_activity_timeout_comes_from_the_app_config(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(activity_timeout=42))
        async with raw_socket(server) as ws:
            message = await ws.receive_json(timeout=DEADLINE)
        assert json.loads(message["data"])["activity_timeout"] == 42

    async def test_default_activity_timeout_is_120_seconds(self, server: RunningServer) -> None:
        async with raw_socket(server) as ws:
            message = await ws.receive_json(timeout=DEADLINE)
        assert json.loads(message["data"])["activity_timeout"] == 120

    async def test_every_connection_gets_its_own_socket_id(self, server: RunningServer) -> None:
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(connect(server)) for _ in range(20)]
            assert len({client.socket_id for client in clients}) == 20

    async def test_pusher_ping_is_answered_with_pusher_pong(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.send("pusher:ping")
            pong = await client.receive()
        assert pong["event"] == "pusher:pong"

    async def test_websocket_ping_frame_is_answered_with_a_pong_frame(self, server: RunningServer) -> None:
        async with raw_socket(server, autoping=False) as ws:
            await ws.receive_json(timeout=DEADLINE)
            await ws.ping(b"are you there")
            message = await ws.receive(timeout=DEADLINE)
        assert message.type is aiohttp.WSMsgType.PONG
        assert message.data == b"are you there"


class TestRefusals:
    async def test_unknown_app_key_gets_4001_then_close_4001(self, server: RunningServer) -> None:
        async with raw_socket(server, key="no-such-key") as ws:
            await assert_refused_with(ws, 4001)

    async def test_disabled_app_gets_4003(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(enabled=False))
        async with raw_socket(server) as ws:
            await assert_refused_with(ws, 4003)

    @pytest.mark.parametrize("version", ["5", "6", "7"])
    async def test_protocol_versions_5_to_7_are_accepted(self, server: RunningServer, version: str) -> None:
        async with connect(server, protocol=version) as client:
            assert client.socket_id

    async def test_protocol_8_gets_4007(self, server: RunningServer) -> None:
        async with raw_socket(server, protocol="8") as ws:
            await assert_refused_with(ws, 4007)

    async def test_protocol_that_is_not_a_number_gets_4006(self, server: RunningServer) -> None:
        async with raw_socket(server, protocol="abc") as ws:
            await assert_refused_with(ws, 4006)

    async def test_missing_protocol_is_accepted_as_a_legacy_client(self, server: RunningServer) -> None:
        url = f"ws://{server.host}:{server.port}/app/{server.app.key}"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            message = await ws.receive_json(timeout=DEADLINE)
        assert message["event"] == "pusher:connection_established"


class TestOrigins:
    async def test_origin_not_allowed_gets_4009_and_close(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(allowed_origins=("app.example.com",)))
        async with raw_socket(server, headers={"Origin": "https://evil.test"}) as ws:
            await assert_refused_with(ws, 4009)

    @pytest.mark.parametrize("origin", ["https://app.example.com", "http://chat.example.com", "https://A.EXAMPLE.COM"])
    async def test_origin_matching_a_wildcard_pattern_is_accepted(
        self, server_factory: ServerFactory, origin: str
    ) -> None:
        server = await server_factory(make_app(allowed_origins=("*.example.com",)))
        async with connect(server, headers={"Origin": origin}) as client:
            assert client.socket_id

    async def test_wildcard_pattern_does_not_match_a_lookalike_host(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(allowed_origins=("*.example.com",)))
        async with raw_socket(server, headers={"Origin": "https://example.com.evil.test"}) as ws:
            await assert_refused_with(ws, 4009)

    async def test_page_on_another_port_of_an_allowed_host_is_accepted(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(allowed_origins=("localhost",)))
        async with connect(server, headers={"Origin": "http://localhost:5173"}) as client:
            assert client.socket_id

    async def test_connection_without_origin_is_accepted(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(allowed_origins=("app.example.com",)))
        async with connect(server) as client:
            assert client.socket_id


class TestConnectionQuota:
    async def test_connection_over_max_connections_gets_4004_while_the_others_keep_working(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(max_connections=2))
        async with connect(server) as first, connect(server) as second:
            await first.subscribe("news")
            await second.subscribe("news")
            async with raw_socket(server) as ws:
                await assert_refused_with(ws, 4004)
            status, _ = await trigger(server, "news", "update", {"n": 1})
            assert status == 200
            for client in (first, second):
                event = await client.expect("update", channel="news")
                assert event["data"] == {"n": 1}

    async def test_a_freed_slot_can_be_taken_again(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(max_connections=1))
        async with connect(server):
            async with raw_socket(server) as ws:
                await assert_refused_with(ws, 4004)
        async with connect(server) as client:
            await client.send("pusher:ping")
            assert (await client.receive())["event"] == "pusher:pong"


class TestKeptAliveConnection:
    """A client that pools connections sends its upgrade on a connection that already carried HTTP requests."""

    async def test_an_upgrade_after_a_request_on_the_same_connection_opens_a_pusher_socket(
        self, server: RunningServer
    ) -> None:
        reused: list[object] = []

        async def on_reuse(*_: object) -> None:
            reused.append(True)

        tracing = aiohttp.TraceConfig()
        tracing.on_connection_reuseconn.append(on_reuse)
        connector = aiohttp.TCPConnector(limit=1)  # one connection: the upgrade must ride the kept-alive one
        async with aiohttp.ClientSession(connector=connector, trace_configs=[tracing]) as session:
            async with session.get(f"{server.http_url}/up") as response:
                assert (response.status, await response.json()) == (200, {"health": "OK"})
            async with session.ws_connect(server.ws_url()) as ws:
                assert reused, "the upgrade did not reuse the kept-alive connection"
                client = PusherClient(ws, server.app)
                established = await client.expect("pusher:connection_established")
                client.socket_id = established["data"]["socket_id"]
                reply = await client.subscribe("private-news")
                assert reply["event"] == "pusher_internal:subscription_succeeded"
                status, _ = await trigger(server, "private-news", "update", {"n": 1})
                assert status == 200
                assert (await client.expect("update", channel="private-news"))["data"] == {"n": 1}
                assert server.runner.server is not None
                assert server.runner.server.connections == [], "aiohttp still holds the upgraded connection"

    async def test_the_socket_opened_on_a_kept_alive_connection_is_closed_by_a_shutdown_like_any_other(
        self, server: RunningServer
    ) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            async with session.get(f"{server.http_url}/up") as response:
                assert response.status == 200
            async with session.ws_connect(server.ws_url()) as ws:
                client = PusherClient(ws, server.app)
                await client.expect("pusher:connection_established")
                await server.runner.cleanup()
                assert await client.expect_close() == 4200

    async def test_a_plain_get_of_the_socket_path_gets_426_on_a_kept_alive_connection_too(
        self, server: RunningServer
    ) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            for _ in range(2):
                async with session.get(f"{server.http_url}/app/{server.app.key}") as response:
                    assert response.status == 426
                    assert response.headers["Sec-WebSocket-Version"] == "13"
                    assert "connect with a WebSocket" in (await response.json())["error"]
