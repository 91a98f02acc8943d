"""Rate limits on sockets: client events (10 per second by default) and messages of any kind, WebSocket control
frames included (200 per second by default). Over the limit a message gets ``pusher:error`` 4301 and is ignored;
twice the limit within a second closes the socket with 4100 (pusher-js reconnects after a backoff)."""

from __future__ import annotations

import json

from tests.conftest import ServerFactory
from tests.hardening.watch import unharmed
from tests.hardening.wire import BINARY, PING, PONG, TEXT, RawSocket, client_frame
from tests.helpers import RunningServer, connect, make_app

PUSHER_PING = client_frame(TEXT, json.dumps({"event": "pusher:ping", "data": {}}).encode())


async def test_eleventh_client_event_within_a_second_gets_4301_and_is_never_delivered(server: RunningServer) -> None:
    async with unharmed(server), connect(server) as sender, connect(server) as receiver:
        await sender.subscribe("private-chat")
        await receiver.subscribe("private-chat")
        for number in range(11):
            await sender.send("client-typing", {"n": number}, channel="private-chat")
        error = await sender.expect("pusher:error")
        assert error["data"]["code"] == 4301 and "rate limit" in error["data"]["message"]
        delivered = [(await receiver.expect("client-typing"))["data"]["n"] for _ in range(10)]
        assert delivered == list(range(10))
        await receiver.expect_nothing(0.2)


async def test_messages_over_max_messages_per_second_get_4301_and_are_ignored(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(max_messages_per_second=5))
    async with unharmed(server):
        client = await RawSocket.open(server)
        client.send(PUSHER_PING * 6)
        answers = [(await client.next_message())["event"] for _ in range(6)]
        assert answers == ["pusher:pong"] * 5 + ["pusher:error"]
        await client.close()


async def test_binary_frames_count_against_max_messages_per_second(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(max_messages_per_second=2))
    client = await RawSocket.open(server)
    client.send(client_frame(BINARY, b"x") * 2 + PUSHER_PING)
    errors = [await client.next_message() for _ in range(3)]
    assert [e["data"]["code"] for e in errors] == [None, None, 4301]
    await client.close()


async def test_sending_twice_the_message_limit_within_a_second_closes_with_4100(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(max_messages_per_second=5))
    async with unharmed(server):
        flooder = await RawSocket.open(server)
        flooder.send(PUSHER_PING * 50)
        code, before = await flooder.expect_close()
        assert code == 4100
        assert [m["event"] for m in before] == ["pusher:pong"] * 5 + ["pusher:error"] * 4 + ["pusher:error"]
        assert before[-1]["data"]["code"] == 4100
        await flooder.close()


async def test_message_rate_is_per_socket(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(max_messages_per_second=3))
    first, second = await RawSocket.open(server), await RawSocket.open(server)
    first.send(PUSHER_PING * 3)
    second.send(PUSHER_PING * 3)
    for client in (first, second):
        assert [(await client.next_message())["event"] for _ in range(3)] == ["pusher:pong"] * 3
        await client.close()


async def test_websocket_pings_and_pongs_count_against_max_messages_per_second(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(max_messages_per_second=3))
    async with unharmed(server):
        client = await RawSocket.open(server)
        client.send(client_frame(PING, b"1") + client_frame(PING, b"2") + client_frame(PONG) + client_frame(PING, b"3"))
        client.send(PUSHER_PING)
        pongs = [await client.next_frame() for _ in range(2)]
        assert [(opcode, payload) for _, opcode, payload in pongs] == [(PONG, b"1"), (PONG, b"2")]
        errors = [await client.next_message() for _ in range(2)]
        assert [error["data"]["code"] for error in errors] == [4301, 4301], errors
        await client.close()


async def test_a_flood_of_websocket_pings_closes_with_4100(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(max_messages_per_second=5))
    async with unharmed(server):
        flooder = await RawSocket.open(server)
        flooder.send(client_frame(PING, b"are you there") * 50)
        code, before = await flooder.expect_close()
        assert code == 4100
        assert [m["data"]["code"] for m in before] == [4301] * 4 + [4100]
        await flooder.close()


async def test_messages_are_rate_limited_by_default(server: RunningServer) -> None:
    assert server.app.max_messages_per_second == 200
    async with unharmed(server):
        flooder = await RawSocket.open(server)
        flooder.send(PUSHER_PING * 1000)
        code, before = await flooder.expect_close()
        assert code == 4100
        assert [m["event"] for m in before].count("pusher:pong") == 200
        await flooder.close()
