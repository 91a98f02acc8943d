"""One connected socket as the server sees it: the protocol state plus the means to write to it.

``write_frame`` is the hot path of every broadcast: it hands ready-made frame bytes to the transport without
awaiting, after checking the socket's unsent buffer, so one slow reader can never stall the others or grow memory
without bound; past ``send_buffer_limit`` the socket is closed as a slow consumer (4100, reconnect after backoff).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from ..protocol.apps import AppConfig
from ..protocol.connection import Connection
from ..protocol.errors import ErrorCode
from .frames import text_frame

logger = logging.getLogger(__name__)


class Client:
    """A WebSocket connection to one app. Hashable by identity, so the registry can key channels by it."""

    __slots__ = (
        "app",
        "connection",
        "ws",
        "transport",
        "last_seen",
        "pinged_at",
        "connected_at",
        "closing",
        "_buffer_limit",
        "_on_close",
        "__weakref__",
    )

    def __init__(
        self,
        *,
        connection: Connection,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        now: float,
        buffer_limit: int,
        on_close: Callable[[Client, int, str], None],
    ) -> None:
        self.app: AppConfig = connection.app
        self.connection = connection
        self.ws = ws
        self.transport = transport
        self.last_seen = now
        self.pinged_at: float | None = None
        self.connected_at = now
        self.closing = False
        self._buffer_limit = buffer_limit
        self._on_close = on_close

    @property
    def socket_id(self) -> str:
        return self.connection.socket_id

    def write_frame(self, frame: bytes) -> bool:
        """Queue a ready-made frame on the transport without awaiting; False when the socket is gone or dropped."""
        if self.closing:
            return False
        transport = self.transport
        if transport.is_closing():
            return False
        if transport.get_write_buffer_size() > self._buffer_limit:
            self.close(ErrorCode.OVER_CAPACITY, "slow consumer: send buffer full, reconnect")
            return False
        transport.write(frame)
        return True

    def send_text(self, text: str) -> bool:
        """Send one message to this socket only (replies, errors)."""
        return self.write_frame(text_frame(text.encode()))

    def close(self, code: int, reason: str) -> None:
        """Close the socket with a Pusher close code; never raises, never awaits."""
        if self.closing:
            return
        self.closing = True
        self._on_close(self, code, reason)
