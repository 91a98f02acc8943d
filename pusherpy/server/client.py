"""One connected socket: the asyncio protocol that owns its transport, and the protocol core's state for it.

pusherpy serves WebSockets with its own lean protocol object (one per connection, ``__slots__``, no task while
idle) rather than aiohttp's request machinery: an idle subscribed socket then costs a few KiB, and a broadcast is
a loop of ``transport.write`` calls with the same pre-built frame. ``write_frame`` is that hot path: it never
awaits, and it closes a socket whose unsent buffer passes ``send_buffer_limit_bytes`` as a slow consumer (4100,
reconnect after a backoff), so one slow reader can never stall the others or grow memory without bound.

Incoming text messages are queued and handled in order by one short-lived task per burst, because handling a
message may await the broker (joining a presence channel on Redis, say). The queue is bounded by count and by
bytes: past either, the socket is not read until the queue drains.

Control frames cost like messages: each counts toward the socket's message rate, and a ping is answered through
``write_frame`` like everything else, so the send-buffer limit holds for pongs too. At most one pong waits in the
send buffer: while it waits, further pings are not answered again (RFC 6455 §5.5.3 lets a pong answer several
pings), so a peer that pings without reading cannot make the server hold a pong per ping.
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
MAX_QUEUED_BYTES = 256 * 1024
"""Past this many bytes of unhandled messages, stop reading too: 64 messages of the largest size would be megabytes.
One message is always taken, whatever its size, so ``max_message_bytes`` may be larger than this."""


class SocketHandler(Protocol):
    """What a socket hands its Pusher-level work to (``server.ws.PusherHandler``): the socket layer frames bytes,
    the handler decides what they mean. Injected, so this module depends on nothing above it."""

    max_message_bytes: int
    send_buffer_limit_bytes: int
    metrics: Metrics

    async def open(self, client: Client, origin: str | None) -> bool:
        """Count and greet a new socket (``origin``: its ``Origin`` header); False when it was refused (and
        closed)."""
        ...

    async def handle(self, client: Client, text: str | None) -> None:
        """Handle one message (``None``: a binary one)."""
        ...

    def count_control(self, client: Client) -> bool:
        """Count a control frame (ping, pong) toward the socket's message rate; False when it is over the limit
        (the handler has told the client, or closed it)."""
        ...

    def closing(self, client: Client, code: int, reason: str) -> None:
        """The socket is being closed with ``code`` (by the server, or answering the peer's close; 1006 when the
        connection was lost without one): the one moment the code is known."""
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
        "partial_since",
        "connected_at",
        "closing",
        "registered",
        "_inbox",
        "_inbox_bytes",
        "_worker",
        "_close_timer",
        "_paused",
        "_discarding",
        "_pong_pending",
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
        self.partial_since: float | None = None
        """When the peer began a frame or fragmented message it has not finished; the sweeper closes a socket
        that leaves one unfinished too long (a trickle of fragments between pings would keep it alive forever)."""
        self.connected_at = now
        self.closing = False
        self.registered = False
        """True once the broker counts this socket; then it must be removed when the socket ends."""
        self._inbox: deque[str | None] | None = None
        self._inbox_bytes = 0
        self._worker: asyncio.Task[None] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._discarding = False
        """Set once the peer broke the framing: whatever it sends after that is dropped unparsed."""
        self._pong_pending = False
        """True when the last pong went into a send buffer that had not drained when it was written."""

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
        return self._write_counted(text_frame(text.encode()))

    def _write_counted(self, data: bytes) -> bool:
        """``write_frame`` for one socket's own frame, counted as sent to it (a broadcast counts its own)."""
        if not self.write_frame(data):
            return False
        self.handler.metrics.count_sent(self.app.id, 1, len(data))
        return True

    def send_pong(self, data: bytes) -> bool:
        """Send a pong frame (a WebSocket pong, or ``pusher:pong``), unless the last pong still waits to be sent.

        A send buffer that is not empty means the peer is not reading: the pong already waiting there answers this
        ping too. Returns False when nothing was written.
        """
        transport = self.transport
        if self._pong_pending and transport.get_write_buffer_size():
            return False
        if not self._write_counted(data):
            return False
        self._pong_pending = transport.get_write_buffer_size() > 0
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
        self.handler.closing(self, code, reason)
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
        if self.parser.mid_message:
            if self.partial_since is None:
                self.partial_since = asyncio.get_running_loop().time()
        else:
            self.partial_since = None
        if not messages:
            return
        self.last_seen = asyncio.get_running_loop().time()
        self.pinged_at = None
        handler = self.handler
        for message in messages:
            opcode = message.opcode
            if self.closing:  # after our close frame (sent earlier, or just now for a control frame over the rate
                # limit) only the peer's close matters: it ends the connection
                if opcode is Opcode.CLOSE:
                    self.transport.close()
                    return
                continue
            if opcode is Opcode.TEXT:
                self._queue(message.text)
            elif opcode is Opcode.BINARY:
                self._queue(None)
            elif opcode is Opcode.PING:
                if handler.count_control(self):
                    self.send_pong(frame(Opcode.PONG, message.data))
            elif opcode is Opcode.PONG:
                handler.count_control(self)
            elif opcode is Opcode.CLOSE:
                self._peer_closed(message.data)
                return

    def _queue(self, text: str | None) -> None:
        if self.closing:
            return
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(text)
        if text is not None:
            self._inbox_bytes += len(text)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._handle_inbox())
        if (len(self._inbox) > MAX_QUEUED_MESSAGES or self._inbox_bytes > MAX_QUEUED_BYTES) and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def start(self, origin: str | None) -> None:
        """Open the socket the Pusher way (quota, greeting); messages that arrive meanwhile wait their turn.

        Args:
            origin: the upgrade's ``Origin`` header, for the handler's greeting only (not kept per socket).
        """
        self._inbox = deque()
        self._worker = asyncio.get_running_loop().create_task(self._handle_inbox(opening=True, origin=origin))

    async def _handle_inbox(self, opening: bool = False, origin: str | None = None) -> None:
        inbox = self._inbox
        try:
            if opening and not await self.handler.open(self, origin):
                return
            while inbox and not self.closing:
                text = inbox.popleft()
                if text is not None:
                    self._inbox_bytes -= len(text)
                await self.handler.handle(self, text)
                drained = len(inbox) < MAX_QUEUED_MESSAGES // 2 and self._inbox_bytes < MAX_QUEUED_BYTES // 2
                if self._paused and drained:
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
        if not self.closing:  # gone without a close frame
            self.closing = True
            self.handler.closing(self, CloseCode.ABNORMAL, "connection lost")
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._worker is not None:
            self._worker.cancel()
        self.handler.closed(self)

    def pause_writing(self) -> None:
        """Flow control from the transport: nothing to do, ``write_frame`` checks the buffer size itself."""

    def resume_writing(self) -> None:
        """See ``pause_writing``."""
