"""Hostile WebSocket frames: each gets the close code RFC 6455 calls for (or a ``pusher:error``), the server
never buffers what it refuses, and a bystander keeps receiving throughout."""

from __future__ import annotations

import contextlib
import json
import os
import struct

import pytest

from tests.conftest import ServerFactory
from tests.hardening.watch import unharmed
from tests.hardening.wire import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, RawSocket, client_frame
from tests.helpers import RunningServer

PING_TEXT = json.dumps({"event": "pusher:ping", "data": {}}).encode()


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(client_frame(TEXT, PING_TEXT, masked=False), 1002, id="unmasked"),
        pytest.param(client_frame(TEXT, PING_TEXT, rsv=0b100), 1002, id="rsv1-without-extension"),
        pytest.param(client_frame(TEXT, PING_TEXT, rsv=0b011), 1002, id="rsv2-rsv3"),
        pytest.param(client_frame(PING, b"x" * 126), 1002, id="control-frame-over-125-bytes"),
        pytest.param(client_frame(PING, b"x", fin=False), 1002, id="fragmented-control-frame"),
        pytest.param(client_frame(0xB, b""), 1002, id="unknown-control-opcode"),
        pytest.param(client_frame(0x3, b"{}"), 1002, id="unknown-data-opcode"),
        pytest.param(client_frame(CONTINUATION, PING_TEXT), 1002, id="continuation-without-a-start"),
        pytest.param(
            client_frame(TEXT, b'{"event":', fin=False) + client_frame(TEXT, b"{}"), 1002, id="new-message-mid-fragment"
        ),
        pytest.param(client_frame(TEXT, b'{"event":"\xff"}'), 1007, id="invalid-utf8"),
        pytest.param(
            client_frame(TEXT, b'{"event":"\xe2\x82', fin=False) + client_frame(CONTINUATION, b'"}'),
            1007,
            id="utf8-broken-across-fragments",
        ),
        pytest.param(client_frame(TEXT, b"x" * 70_000), 1009, id="one-frame-over-the-limit"),
        pytest.param(
            client_frame(TEXT, b"x" * 40_000, fin=False) + client_frame(CONTINUATION, b"x" * 30_000),
            1009,
            id="fragments-summing-over-the-limit",
        ),
        pytest.param(
            client_frame(TEXT, b"[", fin=False) + client_frame(CONTINUATION, b"1," * 64, fin=False) * 128,
            1008,
            id="message-in-more-than-128-fragments",
        ),
        pytest.param(client_frame(TEXT, b"", fin=False), 1008, id="empty-first-fragment-before-the-end"),
        pytest.param(
            client_frame(TEXT, b"[", fin=False) + client_frame(CONTINUATION, b"", fin=False),
            1008,
            id="empty-continuation-before-the-end",
        ),
    ],
)
async def test_frame_breaking_rfc6455_closes_only_that_socket_with_its_code(
    server_factory: ServerFactory, frame: bytes, code: int
) -> None:
    server = await server_factory(max_message_bytes=65_536)
    async with unharmed(server):
        offender = await RawSocket.open(server)
        offender.send(frame)
        received_code, _ = await offender.expect_close()
        assert received_code == code
        assert await offender.expect_eof() == b""
        await offender.close()


async def test_16_mb_frame_header_is_refused_after_the_header_without_buffering(server: RunningServer) -> None:
    async with unharmed(server):
        before = resident_bytes()
        offender = await RawSocket.open(server)
        offender.send(client_frame(TEXT, b"", declared_length=16 * 1024 * 1024))  # the header and mask, no payload
        code, _ = await offender.expect_close()
        assert code == 1009
        with contextlib.suppress(ConnectionError):  # then 4 MB of the promised payload: read and dropped
            for _ in range(64):
                offender.send(b"x" * 65536)
                await offender.writer.drain()
        assert resident_bytes() - before < 2 * 1024 * 1024
        await offender.close()


async def test_fragmented_text_with_a_ping_between_fragments_is_assembled_and_the_ping_answered(
    server: RunningServer,
) -> None:
    async with unharmed(server):
        client = await RawSocket.open(server)
        client.send(client_frame(TEXT, PING_TEXT[:10], fin=False))
        client.send(client_frame(PING, b"are you there"))
        client.send(client_frame(CONTINUATION, PING_TEXT[10:20], fin=False))
        client.send(client_frame(CONTINUATION, PING_TEXT[20:]))
        fin, opcode, payload = await client.next_frame()
        assert (fin, opcode, payload) == (True, PONG, b"are you there")
        assert (await client.next_message())["event"] == "pusher:pong"
        await client.close()


async def test_a_message_in_128_fragments_is_assembled(server: RunningServer) -> None:
    async with unharmed(server):
        client = await RawSocket.open(server)
        pieces = [PING_TEXT[:1], *(b" " for _ in range(126)), PING_TEXT[1:]]
        frames = [client_frame(TEXT, pieces[0], fin=False)]
        frames += [client_frame(CONTINUATION, piece, fin=False) for piece in pieces[1:-1]]
        client.send(b"".join(frames) + client_frame(CONTINUATION, pieces[-1]))
        assert (await client.next_message())["event"] == "pusher:pong"
        await client.close()


async def test_binary_frame_gets_a_pusher_error_and_the_socket_stays_open(server: RunningServer) -> None:
    async with unharmed(server):
        client = await RawSocket.open(server)
        client.send(client_frame(BINARY, PING_TEXT))
        error = await client.next_message()
        assert error["event"] == "pusher:error" and "binary" in error["data"]["message"]
        client.send(client_frame(TEXT, PING_TEXT))
        assert (await client.next_message())["event"] == "pusher:pong"
        await client.close()


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        pytest.param(struct.pack("!H", 1000), 1000, id="normal-close-echoed"),
        pytest.param(struct.pack("!H", 4000) + b"bye", 4000, id="application-code-echoed"),
        pytest.param(struct.pack("!H", 999), 1002, id="code-below-1000"),
        pytest.param(struct.pack("!H", 1005), 1002, id="reserved-1005"),
        pytest.param(struct.pack("!H", 2999), 1002, id="unassigned-2999"),
        pytest.param(b"", 1000, id="empty-close"),
    ],
)
async def test_close_frame_is_answered_and_the_socket_ends(server: RunningServer, payload: bytes, answer: int) -> None:
    async with unharmed(server):
        client = await RawSocket.open(server)
        client.send(client_frame(CLOSE, payload))
        code, _ = await client.expect_close()
        assert code == answer
        assert await client.expect_eof() == b""
        await client.close()


async def test_garbage_bytes_after_the_upgrade_close_only_that_socket(server: RunningServer) -> None:
    async with unharmed(server):
        client = await RawSocket.open(server)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # an HTTP request where frames belong: unmasked
        code, _ = await client.expect_close()
        assert code == 1002
        await client.close()


async def test_peer_that_vanishes_mid_frame_leaves_nothing_behind(server: RunningServer) -> None:
    async with unharmed(server):
        client = await RawSocket.open(server)
        client.send(client_frame(TEXT, b"x" * 5000)[:2000])
        await client.close()
        client = await RawSocket.open(server)
        client.send(client_frame(TEXT, PING_TEXT))
        assert (await client.next_message())["event"] == "pusher:pong"
        await client.close()
