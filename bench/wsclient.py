"""A lean Pusher WebSocket client: raw ``asyncio.Protocol`` plus a minimal RFC 6455 framing.

Why not aiohttp or websockets: the load generator must stay far cheaper than the server it measures.
A full client costs a task, a queue and a JSON parse per message; here a TCP read that carries many
frames costs one callback, a header walk per frame and one C-level regex search per frame. JSON is
parsed only for the rare control messages (connection_established, subscription_succeeded, errors).

Wire rules implemented (RFC 6455): client frames are masked, server frames are not; the TCP stream
may split or join frames anywhere; fragmented messages (FIN=0 + continuation) are reassembled; ping
frames get a pong with the same payload; a close frame is echoed. Pusher: ``pusher:ping`` gets a
``pusher:pong`` (PROTOCOL.md 1.1).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import Any, cast

import orjson

#: Timestamp (``time.monotonic_ns()``, one clock for every process on the host) embedded in event
#: data as ``"bench_ts":N``. It may arrive JSON-escaped (``\"bench_ts\":N``) when the server
#: double-encodes ``data``, hence the optional backslashes and quotes.
TS_RE = re.compile(rb'bench_ts\\*"\s*:\s*\\*"?(\d+)')
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: Called for every frame carrying a timestamp when a connection has a handler (client events).
TsHandler = Callable[["PusherConn", bytes, int, int], None]


class Stats:
    """Counters shared by every connection of one fleet; plain attributes, one event loop."""

    __slots__ = ("delivered", "latencies", "errors", "error_samples", "closed", "record", "sample_mask", "tick")

    def __init__(self) -> None:
        self.delivered = 0
        self.latencies: list[int] = []
        self.errors = 0
        self.error_samples: list[str] = []
        self.closed = 0
        self.record = False
        #: keep one latency sample per ``sample_mask + 1`` deliveries (a power of two minus one)
        self.sample_mask = 0
        self.tick = 0

    def error(self, what: str) -> None:
        """Count an error and keep the first few messages for the report."""
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:200])


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """Build one final, masked client frame (RFC 6455 5.2/5.3)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    if n:
        # XOR the whole payload as one big integer: C speed without numpy.
        repeated = (key * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    else:
        masked = b""
    return header + key + masked


class PusherConn(asyncio.Protocol):
    """One client socket: handshake, frame parsing, Pusher control messages, delivery counting."""

    def __init__(self, host: str, port: int, app_key: str, stats: Stats) -> None:
        self.host, self.port, self.app_key, self.stats = host, port, app_key, stats
        loop = asyncio.get_running_loop()
        self.established: asyncio.Future[str] = loop.create_future()
        self.subscriptions: dict[str, asyncio.Future[None]] = {}
        self.socket_id = ""
        self.handler: TsHandler | None = None
        self.transport: asyncio.Transport | None = None
        self._ws_key = base64.b64encode(os.urandom(16))
        self._upgraded = False
        self._buf = b""
        self._frag = bytearray()
        self._frag_op = 0
        self._closed = False

    # --- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only duck-typed ones
        self.transport = cast(asyncio.Transport, transport)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        path = f"/app/{self.app_key}?protocol=7&client=pusherpy-bench&version=1.0&flash=false"
        self.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._ws_key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.stats.closed += 1
        reason = f"connection lost: {exc!r}" if exc else "connection closed by server"
        if not self.established.done():
            self.established.set_exception(ConnectionError(reason))
        for fut in self.subscriptions.values():
            if not fut.done():
                fut.set_exception(ConnectionError(reason))

    def data_received(self, data: bytes) -> None:
        if self._buf:
            data = self._buf + data
            self._buf = b""
        if not self._upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._buf = data
                return
            self._check_handshake(data[:end])
            if self._closed:
                return
            self._upgraded = True
            data = data[end + 4 :]
        self._parse_frames(data)

    # --- framing ----------------------------------------------------------------------------
    def _check_handshake(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 101"):
            self._fail(f"handshake refused: {lines[0].decode(errors='replace')}")
            return
        expected = base64.b64encode(hashlib.sha1(self._ws_key + _GUID).digest())
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-accept" and value.strip() != expected:
                self._fail("bad Sec-WebSocket-Accept")
                return

    def _parse_frames(self, data: bytes) -> None:
        now = time.monotonic_ns()
        pos, size = 0, len(data)
        while size - pos >= 2:
            b0 = data[pos]
            length = data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            if data[pos + 1] & 0x80:  # servers must not mask (RFC 6455 5.1)
                self._fail("masked server frame")
                return
            start = pos + head
            end = start + length
            if end > size:
                break
            opcode = b0 & 0x0F
            if b0 & 0x80 and opcode == OP_TEXT:
                self._on_text(data, start, end, now)
            else:
                self._on_other(b0 & 0x80, opcode, data[start:end], now)
            pos = end
        if pos < size:
            self._buf = data[pos:]

    def _on_other(self, fin: int, opcode: int, payload: bytes, now: int) -> None:
        if opcode in (OP_TEXT, OP_BIN, OP_CONT) and not fin or opcode == OP_CONT:
            if opcode != OP_CONT:
                self._frag_op = opcode
                self._frag.clear()
            self._frag += payload
            if fin:
                whole = bytes(self._frag)
                self._frag.clear()
                if self._frag_op == OP_TEXT:
                    self._on_text(whole, 0, len(whole), now)
            return
        if opcode == OP_PING:
            self.send_frame(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            if not self._closed and self.transport is not None:
                self.send_frame(OP_CLOSE, payload[:2])
                self.transport.close()
        elif opcode == OP_BIN:
            self.stats.error("unexpected binary frame")

    def _on_text(self, data: bytes, start: int, end: int, now: int) -> None:
        at = data.find(b"bench_ts", start, end)
        if at >= 0:
            match: re.Match[bytes] | None
            if self.handler is None:
                # count only: a find() in C is all a delivery costs unless it is a latency sample
                stats = self.stats
                stats.delivered += 1
                if stats.record:
                    stats.tick += 1
                    if not stats.tick & stats.sample_mask:
                        match = TS_RE.match(data, at, end)
                        if match is not None:
                            stats.latencies.append(now - int(match.group(1)))
                return
            match = TS_RE.match(data, at, end)
            if match is not None:
                self.handler(self, data[start:end], int(match.group(1)), now)
            return
        self._on_control(orjson.loads(data[start:end]))

    def _on_control(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            self.stats.error(f"unexpected message: {msg!r}")
            return
        event = msg.get("event")
        data: Any = msg.get("data")
        if isinstance(data, str):
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        if event == "pusher:connection_established":
            if not isinstance(data, dict) or "socket_id" not in data:
                self._fail(f"bad connection_established: {msg!r}")
                return
            self.socket_id = str(data["socket_id"])
            if not self.established.done():
                self.established.set_result(self.socket_id)
        elif event == "pusher_internal:subscription_succeeded":
            fut = self.subscriptions.get(msg.get("channel", ""))
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif event == "pusher:ping":
            self.send_text(b'{"event":"pusher:pong","data":{}}')
        elif event in ("pusher:error", "pusher:subscription_error"):
            self.stats.error(f"{event}: {data}")
            fut = self.subscriptions.get(msg.get("channel", ""))
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError(f"{event}: {data}"))
        # anything else (pusher:pong, cache_miss, subscription_count ...) is ignored

    # --- sending ----------------------------------------------------------------------------
    def send_frame(self, opcode: int, payload: bytes) -> None:
        """Send one masked frame unless the socket is already closed."""
        if self.transport is not None and not self._closed and not self.transport.is_closing():
            self.transport.write(mask_frame(opcode, payload))

    def send_text(self, payload: bytes) -> None:
        """Send one text message."""
        self.send_frame(OP_TEXT, payload)

    def subscribe(self, channel: str, auth: str | None = None) -> asyncio.Future[None]:
        """Send ``pusher:subscribe``; the future resolves on ``subscription_succeeded``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subscriptions[channel] = fut
        data: dict[str, str] = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        self.send_text(orjson.dumps({"event": "pusher:subscribe", "data": data}))
        return fut

    def _fail(self, why: str) -> None:
        self.stats.error(why)
        if not self.established.done():
            self.established.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.abort()

    def abort(self) -> None:
        """Drop the socket at once with a TCP RST.

        Why RST: tearing down 10k sockets politely leaves 10k TIME_WAIT entries that would eat
        the loopback's ephemeral ports for the next step; servers handle a reset peer anyway.
        """
        if self.transport is None or self._closed:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abort()


async def open_conn(
    host: str, port: int, app_key: str, stats: Stats, timeout: float, tls: ssl.SSLContext | None = None
) -> PusherConn:
    """Connect (over TLS when ``tls`` is given: wss://) and wait for ``pusher:connection_established``; raise on
    failure or timeout."""
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(
        loop.create_connection(lambda: PusherConn(host, port, app_key, stats), host, port, ssl=tls), timeout
    )
    try:
        await asyncio.wait_for(asyncio.shield(proto.established), timeout)
    except BaseException:
        proto.abort()
        raise
    return proto
