"""Accepting a WebSocket upgrade to ``/app/{key}``: answer 101, then hand the transport to a lean ``Client``.

Upgrades arrive by two doors. Nearly all are the first request of a connection, and the listener accepts them
before aiohttp sees anything (the fast path). A client that pools connections (an ``aiohttp.ClientSession``
doing ``GET /up`` then ``ws_connect``) sends its upgrade on a connection aiohttp already serves; aiohttp's
``/app/{key}`` route (``serve_upgrade``) takes that connection back from aiohttp and opens the same ``Client``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from aiohttp import web

from ..protocol.connection import Connection, error_text
from ..protocol.errors import ErrorCode
from ..protocol.frames import close_frame, text_frame
from .client import Client
from .http_head import Refusal, WebSocketUpgrade, websocket_upgrade
from .http_reply import refusal_response
from .path_prefix import unprefixed
from .state import STATE, ServerState
from .ws import new_socket_id, refusal

logger = logging.getLogger(__name__)

UPGRADE_REQUIRED: Final = Refusal(
    status=426,
    message="connect with a WebSocket: ws://host:port/app/{key}?protocol=7",
    headers=(("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")),
)


def open_socket(
    state: ServerState, transport: asyncio.Transport, upgrade: WebSocketUpgrade, rest: bytes, client_ip: str | None
) -> None:
    """Answer 101 and make a ``Client`` the transport's protocol (or refuse the app with a Pusher close).

    Args:
        rest: bytes the client sent after its head (frames), fed to the new socket.
        client_ip: the client's address as ``forwarded`` believes it, for the log.
    """
    transport.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + upgrade.accept.encode() + b"\r\n\r\n"
    )
    app = state.apps_by_key.get(upgrade.app_key)
    refused = refusal(app, upgrade.query, upgrade.origin)
    if refused is not None or app is None:
        assert refused is not None
        logger.info("refused a connection from %s: %s", client_ip, refused.message)
        transport.write(text_frame(error_text(refused).encode()))
        transport.write(close_frame(int(refused.code or ErrorCode.GENERIC_RECONNECT), refused.message))
        transport.close()
        return
    connection = Connection(new_socket_id(), app)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("socket %s of app %s opened from %s", connection.socket_id, app.id, client_ip)
    now = asyncio.get_running_loop().time()
    client = Client(handler=state.socket_handler, connection=connection, transport=transport, now=now)
    transport.set_protocol(client)
    client.start(upgrade.origin)
    if rest:
        client.data_received(rest)


async def serve_upgrade(request: web.Request) -> web.StreamResponse:
    """``GET /app/{key}`` when it reaches aiohttp: an upgrade on a kept-alive connection becomes a Pusher socket;
    a plain GET gets 426 (connect with a WebSocket)."""
    prefix = request.app[STATE].settings.path_prefix
    upgrade = websocket_upgrade(request.method, unprefixed(request.raw_path, prefix), request.headers)
    if upgrade is None:
        return refusal_response(UPGRADE_REQUIRED)
    if isinstance(upgrade, Refusal):
        return refusal_response(upgrade)
    transport = request.transport
    if transport is not None and not transport.is_closing():  # else the client has already left
        _release(request.protocol, transport)
        open_socket(request.app[STATE], transport, upgrade, b"", request.remote)
    return web.Response(status=101)  # for aiohttp's access log only: aiohttp no longer writes to this connection


def _release(protocol: web.RequestHandler, transport: asyncio.Transport) -> None:
    """Make aiohttp let go of a connection as if the peer had left, but leave the connection open.

    aiohttp then forgets it (no keep-alive timer, not among the connections it closes at shutdown) and writes
    nothing more on it; its reading, paused or not, is ours again. The client sent nothing after its upgrade
    request, as RFC 6455 §4.1 asks, so no bytes are left in aiohttp's buffer.
    """
    protocol.transport = None  # so that aiohttp's own close, below, does not close the socket we keep
    protocol.connection_lost(None)
    if not transport.is_reading():
        transport.resume_reading()
