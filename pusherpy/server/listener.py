"""The first protocol of every TCP connection: WebSocket upgrades to ``/app/{key}`` stay with pusherpy's lean
``Client``, publishes are served by the publish path, and every other request is handed, bytes and all, to aiohttp.

This module does the socket work only: buffering, deadlines, writing answers, handing the transport on. What the
bytes mean is decided by the pure parser in ``http_head`` (limits, RFC 6455 checks). The head must arrive within
``handshake_timeout``; bytes that cannot be HTTP are answered 400 and closed at once. ``PusherSite`` is an aiohttp
``TCPSite`` whose server starts each connection here, so the HTTP API, WebSockets, ``/up`` and ``/metrics`` share
one port; its connections are accepted by pusherpy's own accept loop (``accept``), which reports running out of
file descriptors on either event loop. A connection handed to aiohttp gets a server log that records a malformed
request as the client's fault (DEBUG), not as an ERROR with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .accept import AcceptingServer, listen
from .http_auth import API_RATES, ApiRates
from .http_head import Head, NeedMore, Refusal, parse_head, websocket_upgrade
from .http_reply import refusal_bytes
from .path_prefix import unprefixed
from .publish_path import PublishRoute, publish_route, serve_publish
from .state import STATE, ServerState
from .tls import TlsCertificates
from .upgrade import open_socket

LINGER_SECONDS: Final = 2.0
"""How long a refused connection keeps reading (and discarding) the client's bytes after the answer."""


_CLIENT_FAULTS: Final = (HttpProcessingError, web.RequestPayloadError)
"""What aiohttp raises for a client's malformed head or body (bad framing, a body it cannot decode)."""


class _ClientFaultsAtDebug(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log for the connections handed to it, where a request that aiohttp refuses as malformed
    (the client's bytes, not a bug) is a DEBUG line without a traceback rather than an ERROR with one. Everything
    else, a handler's bug above all, is logged as aiohttp logs it."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if level >= logging.ERROR and isinstance(error, _CLIENT_FAULTS):
            level, kwargs["exc_info"] = logging.DEBUG, None
            msg = f"{msg}: %s"
            args = (*args, " ".join(str(error).split()))
        super().log(level, msg, *args, **kwargs)


class Listener(asyncio.Protocol):
    """Reads request heads, then upgrades to a ``Client``, serves publishes, or becomes aiohttp's request handler.

    Args:
        state: the server's shared state.
        rates: the HTTP API's rate windows (publishes count against them).
        http_factory: aiohttp's protocol factory (``runner.server``) for everything that is not a Pusher socket.
    """

    __slots__ = (
        "_state",
        "_rates",
        "_http_factory",
        "_transport",
        "_buffer",
        "_timer",
        "_busy",
        "_awaiting_body",
        "_refused",
    )

    def __init__(self, state: ServerState, rates: ApiRates, http_factory: Callable[[], asyncio.Protocol]) -> None:
        self._state = state
        self._rates = rates
        self._http_factory = http_factory
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False
        """True while a publish is being served; reading is paused meanwhile, so requests are answered in order."""
        self._awaiting_body = False
        """True once a publish's head is in and its body deadline runs (armed once, not per packet)."""
        self._refused = False
        """True once a refusal was written: the rest of what the client sends is read and dropped."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        timeout = self._state.settings.handshake_timeout
        self._timer = asyncio.get_running_loop().call_later(timeout, self._transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing() or self._refused:
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

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _next_request(self) -> None:
        head = parse_head(self._buffer)
        if isinstance(head, NeedMore):
            return
        if isinstance(head, Refusal):
            self._refuse(head)
            return
        prefix = self._state.settings.path_prefix
        upgrade = websocket_upgrade(head.method, unprefixed(head.target, prefix), head.headers)
        if isinstance(upgrade, Refusal):
            self._refuse(upgrade)
            return
        if upgrade is not None:
            assert self._transport is not None
            self._disarm()
            rest = bytes(self._buffer[head.length :])
            open_socket(self._state, self._transport, upgrade, rest, self._client_ip(head))
            return
        route = publish_route(head.method, head.target, prefix)
        if route is None or not self._take_publish(route, head):
            self._hand_to_aiohttp()

    def _take_publish(self, route: PublishRoute, head: Head) -> bool:
        """Serve a publish here once its body is in; False to leave an unusual request to aiohttp.

        The body's length is the one ``parse_head`` read from the one valid ``Content-Length`` (it refuses every
        ambiguous head), so it is the length any proxy in front used too.
        """
        length = head.content_length
        if length is None or head.chunked or "expect" in head.headers:
            return False
        settings = self._state.settings
        if length > settings.max_request_body_bytes:
            message = f"request body is larger than {settings.max_request_body_bytes} bytes"
            self._refuse(Refusal(status=413, message=message))
            return True
        assert self._transport is not None
        end = head.length + length
        if len(self._buffer) < end:
            if not self._awaiting_body:
                self._awaiting_body = True
                self._arm(settings.request_body_timeout, self._body_too_slow)
            return True
        self._awaiting_body = False
        body = bytes(self._buffer[head.length : end])
        del self._buffer[:end]
        self._disarm()
        self._busy = True
        self._transport.pause_reading()
        self._state.spawn(self._answer_publish(route, body, self._client_ip(head), close=not head.keeps_alive))
        return True

    def _body_too_slow(self) -> None:
        timeout = self._state.settings.request_body_timeout
        self._refuse(Refusal(status=408, message=f"request body not received within {timeout:g} s"))

    def _client_ip(self, head: Head) -> str | None:
        """The client's address: the peer's, or the one a trusted proxy forwarded (``forwarded``)."""
        assert self._transport is not None
        peer = self._transport.get_extra_info("peername")
        return self._state.proxies.client_address(peer[0] if isinstance(peer, tuple) else None, head.headers).ip

    async def _answer_publish(self, route: PublishRoute, body: bytes, client_ip: str | None, *, close: bool) -> None:
        transport = self._transport
        assert transport is not None
        reply = await serve_publish(self._state, self._rates, route, body, client_ip, close=close)
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

    def _hand_to_aiohttp(self) -> None:
        assert self._transport is not None
        self._disarm()
        protocol = self._http_factory()
        if isinstance(protocol, web.RequestHandler):
            # aiohttp calls only debug() and exception() on it, which an adapter has too
            protocol.logger = cast(logging.Logger, _ClientFaultsAtDebug(protocol.logger))
        self._transport.set_protocol(protocol)
        protocol.connection_made(self._transport)
        protocol.data_received(bytes(self._buffer))
        self._buffer.clear()

    def _refuse(self, refusal: Refusal) -> None:
        """Answer a refusal, then close: what follows the refused bytes cannot be trusted to be a request.

        The answer and a FIN go out first and the client's further bytes (the body of a refused publish, say) are
        read and dropped until it hangs up, for at most ``LINGER_SECONDS``: closing with bytes unread would make
        the kernel reset the connection, and a reset can destroy the answer before the client reads it
        (RFC 9112 §9.6).
        """
        transport = self._transport
        assert transport is not None
        self._refused = True
        self._buffer.clear()
        transport.write(refusal_bytes(refusal, close=True))
        if transport.can_write_eof():
            transport.write_eof()
            self._arm(LINGER_SECONDS, transport.abort)
        else:
            self._disarm()
            transport.close()


class PusherSite(web.TCPSite):
    """An aiohttp ``TCPSite`` whose connections start in ``Listener``: one port for sockets and HTTP.

    Args:
        tls: the certificates to serve wss:// and https:// with (each connection gets the context current when it
            is accepted); None: ws:// and http://.
        (the rest): as ``web.TCPSite``.
    """

    def __init__(self, *args: Any, tls: TlsCertificates | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tls = tls

    @property
    def name(self) -> str:
        return super().name.replace("http://", "https://", 1) if self._tls is not None else super().name

    async def start(self) -> None:
        await web.BaseSite.start(self)
        runner = self._runner
        http_factory = runner.server
        assert http_factory is not None and isinstance(runner, web.AppRunner)
        state, rates = runner.app[STATE], runner.app[API_RATES]
        sockets = await listen(
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        tls = self._tls
        server = AcceptingServer(
            sockets,
            lambda: Listener(state, rates, http_factory),
            state.metrics,
            tls=None if tls is None else lambda: tls.context,
            tls_handshake_timeout=state.settings.handshake_timeout,
        )
        await server.start_serving()
        self._server = server
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
