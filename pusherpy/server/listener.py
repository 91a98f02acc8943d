"""The first protocol of every TCP connection: WebSocket upgrades to ``/app/{key}`` stay with pusherpy's lean
``Client``; every other request is handed, bytes and all, to aiohttp.

The request head is read under limits (size, and a deadline so a connection that trickles its head is cut), and
the upgrade is checked as RFC 6455 §4.2 asks. ``PusherSite`` is an aiohttp ``TCPSite`` whose server starts each
connection here, so the HTTP API, WebSockets, ``/up`` and ``/metrics`` share one port.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Callable
from typing import Final, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from aiohttp import web

from ..protocol.connection import Connection, error_text
from ..protocol.errors import ErrorCode
from .client import Client
from .frames import close_frame, text_frame
from .publish_path import publish_route, response, serve_publish
from .state import STATE, ServerState
from .ws import new_socket_id, refusal

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES: Final = 8192
MAX_HEADERS: Final = 64
MAX_REQUEST_LINE_BYTES: Final = 8190
_WEBSOCKET_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _WEBSOCKET_GUID).digest()).decode()  # noqa: S324


def _http_error(status: int, message: str, extra: str = "") -> bytes:
    """A refusal from the listener: JSON ``{"error": message}``, then the connection closes."""
    return response(status, {"error": message}, close=True, extra=extra)


class Listener(asyncio.Protocol):
    """Reads one request head, then either upgrades to a ``Client`` or becomes aiohttp's request handler.

    Args:
        state: the server's shared state.
        http_factory: aiohttp's protocol factory (``runner.server``) for everything that is not a Pusher socket.
    """

    __slots__ = ("_state", "_http_factory", "_transport", "_buffer", "_timer", "_busy", "_awaiting_body")

    def __init__(self, state: ServerState, http_factory: Callable[[], asyncio.Protocol]) -> None:
        self._state = state
        self._http_factory = http_factory
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False
        self._awaiting_body = False
        """True once a publish's head is in and its body deadline runs (armed once, not per packet)."""
        """True while a publish is being served; reading is paused meanwhile, so requests are answered in order."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        timeout = self._state.settings.handshake_timeout
        self._timer = asyncio.get_running_loop().call_later(timeout, self._transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        if not self._buffer and self._timer is None:  # the first bytes of a request after a keep-alive pause
            self._arm(self._state.settings.handshake_timeout, self._transport.abort)
        self._buffer += data
        if not self._busy:
            self._next_request()

    def _arm(self, seconds: float, action: Callable[[], object]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, action)

    def _next_request(self) -> None:
        # The limits hold however the bytes arrive: a head sent in one packet is measured like a trickled one.
        if self._buffer.find(b"\r\n", 0, MAX_REQUEST_LINE_BYTES + 2) < 0:
            if len(self._buffer) >= MAX_REQUEST_LINE_BYTES + 2:
                self._refuse(_http_error(414, "request line too long"))
            return
        end = self._buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
        if end < 0:
            if len(self._buffer) >= MAX_HEAD_BYTES + 4:
                self._refuse(_http_error(431, "request head too large"))
            return
        head = bytes(self._buffer[:end]).decode("latin-1")
        lines = head.split("\r\n")
        if len(lines) - 1 > MAX_HEADERS:
            self._refuse(_http_error(431, "too many headers"))
            return
        parts = lines[0].split(" ")
        if len(parts) == 3 and parts[0] == "GET" and parts[1].startswith("/app/") and self._wants_websocket(lines):
            self._upgrade(parts[1], lines[1:], bytes(self._buffer[end + 4 :]))
            return
        route = publish_route(parts[0], parts[1]) if len(parts) == 3 else None
        if route is None or not self._take_publish(route, parts[2], lines[1:], end + 4):
            self._hand_to_aiohttp()

    def _take_publish(
        self, route: tuple[str, str, dict[str, str], bool], version: str, header_lines: list[str], body_start: int
    ) -> bool:
        """Serve a publish here once its body is in; False to leave an unusual request to aiohttp."""
        headers = _parse_headers(header_lines)
        if headers is None or "transfer-encoding" in headers or "expect" in headers:
            return False
        length_text = headers.get("content-length", "")
        if not length_text.isdigit():
            return False
        settings = self._state.settings
        length = int(length_text)
        if length > settings.max_request_body_bytes:
            self._refuse(_http_error(413, f"request body is larger than {settings.max_request_body_bytes} bytes"))
            return True
        assert self._transport is not None
        if len(self._buffer) < body_start + length:
            if not self._awaiting_body:
                self._awaiting_body = True
                self._arm(settings.request_body_timeout, self._body_too_slow)
            return True
        self._awaiting_body = False
        body = bytes(self._buffer[body_start : body_start + length])
        del self._buffer[: body_start + length]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        connection = headers.get("connection", "").lower()
        close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        self._busy = True
        self._transport.pause_reading()
        self._state.spawn(self._answer_publish(route, body, close))
        return True

    def _body_too_slow(self) -> None:
        timeout = self._state.settings.request_body_timeout
        self._refuse(_http_error(408, f"request body not received within {timeout:g} s"))

    async def _answer_publish(self, route: tuple[str, str, dict[str, str], bool], body: bytes, close: bool) -> None:
        transport = self._transport
        assert transport is not None
        reply = await serve_publish(self._state, route, body, close=close)
        self._busy = False
        if transport.is_closing():
            return
        transport.write(reply)
        if close:
            transport.close()
            return
        transport.resume_reading()
        self._arm(self._state.settings.http_keepalive_timeout, transport.close)
        if self._buffer:  # a pipelined request already arrived
            self._arm(self._state.settings.handshake_timeout, transport.abort)
            self._next_request()

    @staticmethod
    def _wants_websocket(lines: list[str]) -> bool:
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "upgrade" and value.strip().lower() == "websocket":
                return True
        return False

    def _hand_to_aiohttp(self) -> None:
        assert self._transport is not None
        if self._timer is not None:
            self._timer.cancel()
        protocol = self._http_factory()
        self._transport.set_protocol(protocol)
        protocol.connection_made(self._transport)
        protocol.data_received(bytes(self._buffer))
        self._buffer.clear()

    def _refuse(self, response: bytes) -> None:
        assert self._transport is not None
        if self._timer is not None:
            self._timer.cancel()
        self._transport.write(response)
        self._transport.close()

    def _upgrade(self, target: str, header_lines: list[str], rest: bytes) -> None:
        headers = _parse_headers(header_lines)
        if headers is None:
            self._refuse(_http_error(400, "malformed header line"))
            return
        key = headers.get("sec-websocket-key", "")
        if headers.get("sec-websocket-version") != "13":
            version = "Sec-WebSocket-Version: 13\r\n"
            self._refuse(_http_error(426, "WebSocket version 13 required", version))
            return
        if len(key) != 24 or "upgrade" not in headers.get("connection", "").lower():
            self._refuse(_http_error(400, "invalid WebSocket upgrade request"))
            return
        url = urlsplit(target)
        app_key = unquote(url.path[len("/app/") :]).strip("/")
        query = dict(parse_qsl(url.query))
        transport = self._transport
        assert transport is not None
        if self._timer is not None:
            self._timer.cancel()
        transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
        )
        state = self._state
        app = state.apps_by_key.get(app_key)
        refused = refusal(app, query, headers.get("origin"))
        if refused is not None or app is None:
            assert refused is not None
            logger.info("refused a connection: %s", refused.message)
            transport.write(text_frame(error_text(refused).encode()))
            transport.write(close_frame(int(refused.code or ErrorCode.GENERIC_RECONNECT), refused.message))
            transport.close()
            return
        client = Client(
            handler=state.socket_handler, connection=Connection(new_socket_id(), app), transport=transport, now=_now()
        )
        transport.set_protocol(client)
        client.start()
        if rest:
            client.data_received(rest)


def _parse_headers(lines: list[str]) -> dict[str, str] | None:
    """Header lines as a dict with lowercased names; None when a line is malformed."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            return None
        headers[name.strip().lower()] = value.strip()
    return headers


def _now() -> float:
    return asyncio.get_running_loop().time()


class PusherSite(web.TCPSite):
    """An aiohttp ``TCPSite`` whose connections start in ``Listener``: one port for sockets and HTTP."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        runner = self._runner
        http_factory = runner.server
        assert http_factory is not None and isinstance(runner, web.AppRunner)
        state = runner.app[STATE]
        self._server = await loop.create_server(
            lambda: Listener(state, http_factory),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
