"""What one socket can make the server hold is bounded, whatever it sends: pongs it never reads, a message it
never finishes, messages faster than the server can handle them. Each bound is measured on the server's own
structures (its socket's send buffer, its queue of unhandled messages), not by timing."""

from __future__ import annotations

import array
import asyncio
import fcntl
import json
import socket
import termios
import time

import pytest

from pusherpy.server.client import MAX_QUEUED_BYTES, Client
from pusherpy.server.state import STATE
from tests.conftest import ServerFactory
from tests.hardening.watch import unharmed
from tests.hardening.wire import CONTINUATION, PING, PONG, TEXT, RawSocket, client_frame
from tests.helpers import DEADLINE, RunningServer, make_app, make_settings, serve
from tests.scale_out.cluster import RedisServer

PUSHER_PING = json.dumps({"event": "pusher:ping", "data": {}}).encode()


def server_side(server: RunningServer, raw: RawSocket) -> Client:
    """The server's object for the socket ``raw`` is connected with."""
    [client] = [c for c in server.application[STATE].clients if c.socket_id == raw.socket_id]
    return client


def _queued(fd: int, request: int) -> int:
    count = array.array("i", [0])
    fcntl.ioctl(fd, request, count, True)
    return count[0]


async def read_by_server(raw: RawSocket, client: Client) -> None:
    """Wait until every byte ``raw`` wrote has been read by the server: nothing left in the client's buffers, in
    flight, or in the server's receive queue."""
    own = raw.writer.get_extra_info("socket").fileno()
    theirs = client.transport.get_extra_info("socket").fileno()
    deadline = time.monotonic() + DEADLINE * 4
    while (
        raw.writer.transport.get_write_buffer_size()
        or _queued(own, termios.TIOCOUTQ)
        or _queued(theirs, termios.FIONREAD)
    ):
        assert time.monotonic() < deadline, "the server did not read what was sent"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    "ping",
    [
        pytest.param(client_frame(PING, b"p" * 125), id="websocket-ping"),
        pytest.param(client_frame(TEXT, PUSHER_PING), id="pusher-ping"),
    ],
)
async def test_a_peer_that_pings_without_reading_makes_the_server_hold_at_most_one_pong(
    server_factory: ServerFactory, ping: bytes
) -> None:
    server = await server_factory(make_app(max_messages_per_second=0), send_buffer_limit_bytes=256 * 1024)
    async with unharmed(server):
        pinger = await RawSocket.open(server, receive_buffer=4096)
        client = server_side(server, pinger)
        # Small kernel buffers on both ends: what the peer does not read piles up in the server's own buffer.
        client.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        for _ in range(10):
            pinger.send(ping * 2000)
            await pinger.writer.drain()
        await read_by_server(pinger, client)
        held = client.transport.get_write_buffer_size()
        assert held <= 2 * len(ping), f"the server holds {held} bytes of pongs for a peer that does not read"
        assert not client.closing, "answering pings must not make the pinger a slow consumer"
        await pinger.close()


async def test_a_message_left_unfinished_closes_the_socket_even_while_it_answers_pings(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(pong_timeout=0.5)
    async with unharmed(server):
        trickler = await RawSocket.open(server)
        trickler.send(client_frame(TEXT, b'{"event":', fin=False))
        started = time.monotonic()
        code = None
        while code is None and time.monotonic() - started < DEADLINE:
            trickler.send(client_frame(PONG) + client_frame(CONTINUATION, b" ", fin=False))
            try:
                fin, opcode, payload = await trickler.next_frame(timeout=0.1)
            except TimeoutError:
                continue
            if opcode == 0x8:
                code = int.from_bytes(payload[:2], "big")
        assert code == 1008, "a socket that never finished its message stayed open"
        assert time.monotonic() - started >= 0.5
        await trickler.close()


ASYNCIO_READ_BYTES = 256 * 1024
"""The most one ``data_received`` brings on asyncio's selector loop (its ``max_size``)."""


async def test_messages_waiting_to_be_handled_are_bounded_in_bytes(redis_server: RedisServer) -> None:
    settings = make_settings(make_app(max_messages_per_second=0), redis_url=redis_server.url)
    async with serve(settings) as server:
        sender = await RawSocket.open(server)
        client = server_side(server, sender)
        redis_server.pause()  # joining a channel now waits for Redis: every later message waits its turn
        sender.send_json({"event": "pusher:subscribe", "data": {"channel": "news"}})
        big = client_frame(TEXT, b'"' + b"x" * 90_000 + b'"')
        sender.send(big * 70)
        deadline = time.monotonic() + DEADLINE
        while client.transport.is_reading():
            assert time.monotonic() < deadline, "the server kept reading a socket whose messages wait"
            await asyncio.sleep(0.01)
        queued = sum(len(text or "") for text in client._inbox or ())
        # Reading stops once the bound is passed; the frames of the read in hand are still queued (asyncio reads
        # up to 256 KiB at once), plus the message that was being assembled across reads.
        bound = MAX_QUEUED_BYTES + ASYNCIO_READ_BYTES + 90_002
        assert queued <= bound, f"{queued} bytes of messages wait to be handled"
        await sender.close()
