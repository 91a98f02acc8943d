"""One connected socket: the asyncio protocol that owns its transport, and the protocol core's state for it.

pusherpy serves WebSockets with its own lean protocol object (one per connection, ``__slots__``, no task while
idle) rather than aiohttp's request machinery: an idle subscribed socket then costs a few KiB, and a broadcast is
a loop of ``transport.write`` calls with the same pre-built frame. ``write_frame`` is that hot path: it never
awaits, and it closes a socket whose unsent buffer passes ``send_buffer_limit_bytes`` as a slow consumer (4100,
reconnect after a backoff), so one slow reader can never stall the others or grow memory without bound.

Incoming text messages are queued and handled in order by one short-lived task per burst, because handling a
message may await the broker (joining a presence channel on Redis, say).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol

from ..protocol.apps import AppConfig
from ..protocol.connection import Connection
from ..protocol.errors import ErrorCode
from ..protocol.frames import CloseCode, FrameError, FrameParser, Opcode, close_frame, frame, text_frame
from .metrics import Metrics

logger = logging.getLogger(__name__)

CLOSE_GRACE_SECONDS = 2.0
"""How long a closing socket may take to flush before its transport is aborted."""
MAX_QUEUED_MESSAGES = 64
"""Past this many unhandled messages, stop reading from the socket until the queue drains (backpressure)."""


class SocketHandler(Protocol):
    """What a socket hands its Pusher-level work to (``server.ws.PusherHandler``): the socket layer frames bytes,
    the handler decides what they mean. Injected, so this module depends on nothing above it."""

    max_message_bytes: int
    send_buffer_limit_bytes: int
    metrics: Metrics

    async def open(self, client: Client) -> bool:
        """Count and greet a new socket; False when it was refused (and closed)."""
        ...

    async def handle(self, client: Client, text: str | None) -> None:
        """Handle one message (``None``: a binary one)."""
        ...

    def closed(self, client: Client) -> None:
        """The connection is gone: forget the socket."""
        ...


class Client(asyncio.Protocol):
    """A WebSocket connection to one app, after the HTTP upgrade. Hashable by identity.

    Args:
        handler: carries out the Pusher side of the socket (and holds the limits and metrics).
        connection: the protocol core for this socket (socket id, app, subscriptions).
        transport: the upgraded TCP transport; this object becomes its protocol.
        now: the loop's time at connect.
    """

    __slots__ = (
        "app",
        "connection",
        "transport",
        "handler",
        "parser",
        "last_seen",
        "pinged_at",
        "connected_at",
        "closing",
        "registered",
        "_inbox",
        "_worker",
        "_close_timer",
        "_paused",
        "_discarding",
        "__weakref__",
    )

    def __init__(
        self, *, handler: SocketHandler, connection: Connection, transport: asyncio.Transport, now: float
    ) -> None:
        self.app: AppConfig = connection.app
        self.connection = connection
        self.transport = transport
        self.handler = handler
        self.parser = FrameParser(handler.max_message_bytes)
        self.last_seen = now
        self.pinged_at: float | None = None
        self.connected_at = now
        self.closing = False
        self.registered = False
        """True once the broker counts this socket; then it must be removed when the socket ends."""
        self._inbox: deque[str | None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._discarding = False
        """Set once the peer broke the framing: whatever it sends after that is dropped unparsed."""

    @property
    def socket_id(self) -> str:
        return self.connection.socket_id

    # -- writing -----------------------------------------------------------------------------------------------

    def write_frame(self, data: bytes) -> bool:
        """Queue a ready-made frame on the transport without awaiting; False when the socket is gone or dropped."""
        transport = self.transport
        # A transport that is closing (the peer hung up or reset) reports connection_lost only on the next loop
        # turn; writes before that would be dropped anyway, and asyncio logs each one.
        if self.closing or transport.is_closing():
            return False
        if transport.get_write_buffer_size() > self.handler.send_buffer_limit_bytes:
            logger.warning("socket %s of app %s dropped as a slow consumer", self.socket_id, self.app.id)
            self.handler.metrics.count(self.app.id, "slow_consumers_dropped")
            self.close(ErrorCode.OVER_CAPACITY, "slow consumer: send buffer full, reconnect")
            return False
        transport.write(data)
        return True

    def send_text(self, text: str) -> bool:
        """Send one message to this socket only (replies, errors)."""
        data = text_frame(text.encode())
        if not self.write_frame(data):
            return False
        self.handler.metrics.count_sent(self.app.id, 1, len(data))
        return True

    def close(self, code: int, reason: str) -> None:
        """Send a close frame with ``code`` and close the connection; never raises, never awaits.

        The server ends its side of TCP first (RFC 6455 §7.1.1) with a half-close: the close frame and a FIN go
        out, and the socket keeps reading until the peer answers or hangs up. Closing outright with the peer's
        bytes unread would make the kernel send a reset, which can overtake the close frame (the peer would see
        1006 instead of the code). A peer that does neither within ``CLOSE_GRACE_SECONDS`` is aborted.
        """
        if self.closing:
            return
        self.closing = True
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(close_frame(code, reason))
        if transport.can_write_eof():
            transport.write_eof()
            if self._paused:
                self._paused = False
                transport.resume_reading()
        else:
            transport.close()
        self._close_timer = asyncio.get_running_loop().call_later(CLOSE_GRACE_SECONDS, transport.abort)

    # -- reading -----------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        try:
            messages = self.parser.feed(data)
        except FrameError as error:
            logger.info("socket %s broke the WebSocket protocol: %s", self.socket_id, error.reason)
            self._discarding = True
            self.close(error.code, error.reason)
            return
        if self.closing:  # after our close frame only the peer's close matters: it ends the connection
            if any(message.opcode is Opcode.CLOSE for message in messages):
                self.transport.close()
            return
        if not messages:
            return
        self.last_seen = asyncio.get_running_loop().time()
        self.pinged_at = None
        for message in messages:
            opcode = message.opcode
            if opcode is Opcode.TEXT:
                self._queue(message.text)
            elif opcode is Opcode.BINARY:
                self._queue(None)
            elif opcode is Opcode.PING:
                if not self.closing:
                    self.transport.write(frame(Opcode.PONG, message.data))
            elif opcode is Opcode.CLOSE:
                self._peer_closed(message.data)
                return

    def _queue(self, text: str | None) -> None:
        if self.closing:
            return
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(text)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._handle_inbox())
        if len(self._inbox) > MAX_QUEUED_MESSAGES and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def start(self) -> None:
        """Open the socket the Pusher way (quota, greeting); messages that arrive meanwhile wait their turn."""
        self._inbox = deque()
        self._worker = asyncio.get_running_loop().create_task(self._handle_inbox(opening=True))

    async def _handle_inbox(self, opening: bool = False) -> None:
        inbox = self._inbox
        try:
            if opening and not await self.handler.open(self):
                return
            while inbox and not self.closing:
                await self.handler.handle(self, inbox.popleft())
                if self._paused and len(inbox) < MAX_QUEUED_MESSAGES // 2:
                    self._paused = False
                    self.transport.resume_reading()
        except Exception:
            logger.exception("bug while handling a message from socket %s", self.socket_id)
            self.close(ErrorCode.GENERIC_RECONNECT, "internal error; reconnect")
        finally:
            self._worker = None

    def _peer_closed(self, payload: bytes) -> None:
        """Answer the peer's close frame with the same code (RFC 6455 §5.5.1) and end the connection."""
        if self.closing:
            self.transport.close()
            return
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else CloseCode.NORMAL
        if code < 1000 or code in (1004, 1005, 1006, 1015) or 1016 <= code < 3000:
            code = CloseCode.PROTOCOL_ERROR
        self.close(code, "")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._worker is not None:
            self._worker.cancel()
        self.handler.closed(self)

    def pause_writing(self) -> None:
        """Flow control from the transport: nothing to do, ``write_frame`` checks the buffer size itself."""

    def resume_writing(self) -> None:
        """See ``pause_writing``."""
