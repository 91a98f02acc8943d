"""A minimal HTTP/1.1 keep-alive client for signed ``POST /apps/{id}/events`` publishes.

Why not aiohttp's client: in the many-channels scenario every publish yields only three deliveries,
so the publisher's cost per request is a real share of the load generator's CPU. One request in
flight per connection, Content-Length or chunked responses, reconnect when the server closes.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from typing import cast

import orjson

from bench.signing import signed_query


class _HttpConn(asyncio.Protocol):
    """One keep-alive connection; ``request`` resolves to ``(status, body)``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only duck-typed ones
        self.transport = cast(asyncio.Transport, transport)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"HTTP connection lost: {exc!r}"))

    def request(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self._buf += data
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = buf[:end].split(b"\r\n")
        status = int(head[0].split(b" ", 2)[1])
        length = -1
        chunked = False
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                self.closed = True
        rest = buf[end + 4 :]
        if chunked:
            body = _dechunk(rest)
            if body is None:
                return
        elif length >= 0:
            if len(rest) < length:
                return
            body = rest[:length]
        else:  # no framing: the body runs to connection close; publishes never do this
            self.closed = True
            body = rest
        self._buf = b""
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))


def _dechunk(data: bytes) -> bytes | None:
    """Return the body of a complete chunked payload, or None while it is incomplete."""
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(data[pos:eol].split(b";")[0], 16)
        start = eol + 2
        if size == 0:
            return bytes(out) if data.find(b"\r\n", start) >= 0 else None
        if len(data) < start + size + 2:
            return None
        out += data[start : start + size]
        pos = start + size + 2


class Publisher:
    """A pool of keep-alive connections that publish signed events to one app."""

    def __init__(
        self, host: str, port: int, app_id: str, key: str, secret: str, pool: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self.host, self.port, self.key, self.secret = host, port, key, secret
        self.tls = tls
        self.path = f"/apps/{app_id}/events"
        self.pool_size = pool
        self._idle: deque[_HttpConn] = deque()
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.sent = 0
        self.connects = 0  # > sent/pool means the server refuses keep-alive (soketi: Connection: close)
        self.errors = 0
        self.error_samples: list[str] = []

    async def _acquire(self) -> _HttpConn:
        while True:
            while self._idle:
                conn = self._idle.popleft()
                if not conn.closed:
                    return conn
                self._open -= 1
            if self._open < self.pool_size:
                self._open += 1
                self.connects += 1
                try:
                    _, conn = await asyncio.get_running_loop().create_connection(
                        _HttpConn, self.host, self.port, ssl=self.tls
                    )
                except BaseException:
                    self._open -= 1
                    raise
                return conn
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut

    def _release(self, conn: _HttpConn) -> None:
        if conn.closed:
            self._open -= 1
            if conn.transport is not None:
                conn.transport.close()
        else:
            self._idle.append(conn)
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                break

    def build(self, channels: list[str], event: str, data: str) -> bytes:
        """Return the raw bytes of one signed publish request."""
        body = orjson.dumps({"name": event, "channels": channels, "data": data})
        query = signed_query(self.key, self.secret, "POST", self.path, body)
        return (
            f"POST {self.path}?{query} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def publish(self, channels: list[str], event: str, data: str) -> bool:
        """Publish one event; return True on a 2xx answer. Errors are counted, not raised."""
        raw = self.build(channels, event, data)
        conn = await self._acquire()
        try:
            status, body = await asyncio.wait_for(conn.request(raw), 10.0)
        except (ConnectionError, TimeoutError, OSError) as exc:
            conn.closed = True
            self._note_error(f"publish failed: {exc!r}")
            return False
        finally:
            self._release(conn)
        self.sent += 1
        if not 200 <= status < 300:
            self._note_error(f"HTTP {status}: {body[:200]!r}")
            return False
        return True

    def _note_error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)

    def close(self) -> None:
        """Close every idle connection (in-flight ones close when released)."""
        while self._idle:
            conn = self._idle.popleft()
            if conn.transport is not None:
                conn.transport.close()
        self._open = 0
