"""Bad input: each broken frame gets a ``pusher:error`` with a message (or the RFC 6455 close it calls for),
and harms no one else: another socket keeps receiving and new connections still succeed."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct

import pytest

from tests.conftest import ServerFactory
from tests.helpers import DEADLINE, PusherClient, RunningServer, connect, trigger


async def assert_server_healthy(server: RunningServer, bystander: PusherClient) -> None:
    """The bystander (subscribed to "news") still receives a trigger, and a new connection still succeeds."""
    status, _ = await trigger(server, "news", "update", {"still": "alive"})
    assert status == 200
    event = await bystander.expect("update", channel="news")
    assert event["data"] == {"still": "alive"}
    async with connect(server) as newcomer:
        assert (await newcomer.subscribe("news"))["event"] == "pusher_internal:subscription_succeeded"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{not json", id="malformed-json"),
        pytest.param("[1, 2, 3]", id="json-array"),
        pytest.param('"pusher:ping"', id="json-string"),
        pytest.param("null", id="json-null"),
        pytest.param('{"event": "pusher:subscribe", "data": 42}', id="data-42"),
        pytest.param('{"event": "pusher:subscribe", "data": {}}', id="subscribe-data-empty-object"),
        pytest.param('{"event": "pusher:subscribe", "data": "{\\"channel\\": 5}"}', id="subscribe-channel-number"),
        pytest.param('{"event": "pusher:unsubscribe"}', id="unsubscribe-without-data"),
        pytest.param('{"event": "pusher:bogus", "data": {}}', id="unknown-pusher-event"),
        pytest.param('{"event": "pusher_internal:member_added", "data": {}}', id="server-only-event"),
        pytest.param('{"event": "hello", "data": {}}', id="neither-pusher-nor-client-event"),
        pytest.param('{"data": {"channel": "news"}}', id="event-without-name"),
        pytest.param('{"event": 42}', id="event-name-not-a-string"),
        pytest.param('{"event": "client-x", "data": {}}', id="client-event-without-channel"),
    ],
)
async def test_bad_text_frame_gets_pusher_error_and_the_socket_stays_usable(server: RunningServer, text: str) -> None:
    async with connect(server) as bystander, connect(server) as offender:
        await bystander.subscribe("news")
        await offender.ws.send_str(text)
        error = await offender.receive()
        assert error["event"] == "pusher:error"
        assert isinstance(error["data"]["message"], str) and error["data"]["message"]
        await offender.send("pusher:ping")
        assert (await offender.receive())["event"] == "pusher:pong"
        await assert_server_healthy(server, bystander)


async def test_binary_frame_gets_pusher_error_and_the_socket_stays_usable(server: RunningServer) -> None:
    async with connect(server) as bystander, connect(server) as offender:
        await bystander.subscribe("news")
        await offender.ws.send_bytes(json.dumps({"event": "pusher:ping", "data": {}}).encode())
        error = await offender.receive()
        assert error["event"] == "pusher:error"
        assert "binary" in error["data"]["message"]
        await offender.send("pusher:ping")
        assert (await offender.receive())["event"] == "pusher:pong"
        await assert_server_healthy(server, bystander)


def ping_of_size(size: int) -> str:
    """A ``pusher:ping`` padded to exactly ``size`` bytes."""
    padding = "x" * (size - len(json.dumps({"event": "pusher:ping", "data": {"pad": ""}})))
    text = json.dumps({"event": "pusher:ping", "data": {"pad": padding}})
    assert len(text.encode()) == size
    return text


async def test_message_over_max_message_bytes_closes_the_socket_with_1009(server_factory: ServerFactory) -> None:
    server = await server_factory(max_message_bytes=1000)
    async with connect(server) as bystander, connect(server) as offender:
        await bystander.subscribe("news")
        await offender.ws.send_str(ping_of_size(1001))
        assert await offender.expect_close() == 1009
        await assert_server_healthy(server, bystander)


async def test_message_of_exactly_max_message_bytes_is_handled(server_factory: ServerFactory) -> None:
    server = await server_factory(max_message_bytes=1000)
    async with connect(server) as client:
        await client.ws.send_str(ping_of_size(1000))
        assert (await client.receive())["event"] == "pusher:pong"


async def test_invalid_utf8_in_a_text_frame_closes_the_socket_with_1007(server: RunningServer) -> None:
    async with connect(server) as bystander:
        await bystander.subscribe("news")
        reader, writer = await raw_websocket(server)
        try:
            opcode, payload = await read_frame(reader)
            assert opcode == 0x1 and b"connection_established" in payload
            writer.write(masked_frame(0x1, b'{"event":"pusher:ping","data":"\xff\xfe"}'))
            opcode, payload = await read_frame(reader)
            assert opcode == 0x8
            assert struct.unpack("!H", payload[:2])[0] == 1007
        finally:
            writer.close()
            await writer.wait_closed()
        await assert_server_healthy(server, bystander)


# -- a minimal raw WebSocket client: aiohttp will not send invalid UTF-8 in a text frame ---------------------------


async def raw_websocket(server: RunningServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    path = f"/app/{server.app.key}?protocol=7"
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame (RFC 6455 §5.2); clients must mask."""
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    assert len(payload) < 126
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await asyncio.wait_for(reader.readexactly(2), DEADLINE)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await asyncio.wait_for(reader.readexactly(length), DEADLINE)
