"""A raw WebSocket client on ``asyncio.open_connection``: it sends what no client library would (unmasked frames,
reserved bits, lying length headers, broken UTF-8) and reads the server's frames and close codes as they are."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from typing import Any

from pusherpy.protocol import signing
from tests.helpers import DEADLINE, RunningServer

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    declared_length: int | None = None,
) -> bytes:
    """One client frame (RFC 6455 §5.2), masked unless told otherwise; ``declared_length`` lies in the header."""
    length = len(payload) if declared_length is None else declared_length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


def upgrade_request(server: RunningServer, *, key: str | None = None, origin: str | None = None) -> bytes:
    path = f"/app/{key or server.app.key}?protocol=7&client=js&version=8.4.0"
    extra = f"Origin: {origin}\r\n" if origin else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


class RawSocket:
    """One TCP connection speaking WebSocket by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.socket_id = ""

    @classmethod
    async def open(
        cls,
        server: RunningServer,
        *,
        receive_buffer: int | None = None,
        key: str | None = None,
        origin: str | None = None,
        established: bool = True,
    ) -> RawSocket:
        """Connect, upgrade and (when ``established``) read ``pusher:connection_established``.

        Args:
            receive_buffer: a small ``SO_RCVBUF`` makes a client that never reads fill up quickly.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (server.host, server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        raw = cls(reader, writer)
        writer.write(upgrade_request(server, key=key, origin=origin))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
        assert head.startswith(b"HTTP/1.1 101"), head
        if established:
            greeting = await raw.next_message()
            assert greeting["event"] == "pusher:connection_established", greeting
            raw.socket_id = greeting["data"]["socket_id"]
        return raw

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def send_json(self, message: Any) -> None:
        self.send(client_frame(TEXT, json.dumps(message).encode()))

    async def next_frame(self, timeout: float = DEADLINE) -> tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the next server frame."""
        first, second = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        assert not second & 0x80, "server frames must not be masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await asyncio.wait_for(self.reader.readexactly(2), timeout))
        elif length == 127:
            (length,) = struct.unpack("!Q", await asyncio.wait_for(self.reader.readexactly(8), timeout))
        payload = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        return bool(first & 0x80), first & 0x0F, payload

    async def next_message(self, timeout: float = DEADLINE) -> dict[str, Any]:
        """The next text frame, decoded (inner ``data`` string included); fails on any other frame."""
        _, opcode, payload = await self.next_frame(timeout)
        assert opcode == TEXT, (opcode, payload)
        return decode(payload)

    async def expect_close(self, timeout: float = DEADLINE) -> tuple[int, list[dict[str, Any]]]:
        """Read until the server's close frame; return its code and the text messages before it."""
        before: list[dict[str, Any]] = []
        while True:
            _, opcode, payload = await self.next_frame(timeout)
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, before
            if opcode == TEXT:
                before.append(decode(payload))

    async def expect_eof(self, timeout: float = DEADLINE) -> bytes:
        """Read until the server closes TCP (or resets it); return what came before."""
        data = bytearray()
        try:
            while chunk := await asyncio.wait_for(self.reader.read(65536), timeout):
                data += chunk
        except ConnectionResetError:
            pass
        return bytes(data)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def decode(payload: bytes) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(payload)
    if isinstance(message.get("data"), str):
        try:
            message["data"] = json.loads(message["data"])
        except ValueError:
            pass
    return message


async def http_exchange(server: RunningServer, request: bytes, *, timeout: float = DEADLINE) -> tuple[int, bytes]:
    """Send raw bytes on a fresh TCP connection; return the status and the whole response (read until EOF)."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        response = bytearray()
        try:
            while chunk := await asyncio.wait_for(reader.read(65536), timeout):
                response += chunk
        except ConnectionResetError:
            pass
    finally:
        writer.close()
    return status_of(bytes(response)), bytes(response)


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response[9:12])


async def read_response(reader: asyncio.StreamReader, timeout: float = DEADLINE) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body: (status, lower-cased headers, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), timeout)
    return int(lines[0][9:12]), headers, body


def signed_post(server: RunningServer, path: str, body_length: int, *, chunked: bool = False) -> bytes:
    """The head of a signed POST whose body is still to come (signature over an empty body: it is never checked)."""
    query = "&".join(
        f"{k}={v}"
        for k, v in signing.signed_query(
            server.app.key, server.app.secret, "POST", path, timestamp=int(time.time())
        ).items()
    )
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_length}"
    return (
        f"POST {path}?{query} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    ).encode()
