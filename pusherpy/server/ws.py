"""One WebSocket at ``/app/{key}``: checks at connect, then read loop → protocol core → actions.

The handler makes no protocol decisions: the core (``protocol.connection``) decides, this module carries the
actions out through the broker. Every error a client causes becomes one ``pusher:error`` (``error_text``); an
unexpected exception closes only this socket (4200) and is logged as a bug.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from aiohttp import WSMsgType, web

from ..protocol import codec
from ..protocol.apps import AppConfig
from ..protocol.connection import Connection, Join, Leave, Relay, Reply, SignIn, error_text
from ..protocol.errors import ErrorCode, MalformedMessage, ProtocolError
from ..protocol.events import (
    CacheMiss,
    ConnectionEstablished,
    SigninSuccess,
    SubscriptionError,
    SubscriptionSucceeded,
)
from .broker.base import MemberLimitReached
from .client import Client
from .state import STATE, ServerState, close_socket

logger = logging.getLogger(__name__)

SUPPORTED_PROTOCOLS = range(5, 8)


def new_socket_id() -> str:
    """Two random unsigned integers joined by a dot: ``\\d+\\.\\d+``, 66 bits, unguessable."""
    return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}"


def _refusal(app: AppConfig | None, request: web.Request) -> ProtocolError | None:
    """Decide whether a new connection is refused, before any state is created for it."""
    if app is None:
        return ProtocolError("no app has this key", code=ErrorCode.APP_NOT_FOUND, close=True)
    if not app.enabled:
        return ProtocolError("this app is disabled", code=ErrorCode.APP_DISABLED, close=True)
    protocol = request.query.get("protocol")
    if protocol is None:
        logger.info("connection without a protocol version (legacy client) to app %s; treated as 7", app.id)
    elif not protocol.isdigit():
        return ProtocolError(
            f"protocol {protocol[:20]!r} is not a version number", code=ErrorCode.INVALID_VERSION_STRING, close=True
        )
    elif int(protocol) not in SUPPORTED_PROTOCOLS:
        return ProtocolError(
            f"protocol version {protocol} is not supported (5 to 7 are)",
            code=ErrorCode.UNSUPPORTED_PROTOCOL,
            close=True,
        )
    if not app.origin_allowed(request.headers.get("Origin")):
        return ProtocolError("origin not allowed for this app", code=ErrorCode.UNAUTHORIZED, close=True)
    return None


async def _refuse(ws: web.WebSocketResponse, error: ProtocolError) -> web.WebSocketResponse:
    await ws.send_str(error_text(error))
    await close_socket(ws, None, int(error.code or ErrorCode.GENERIC_RECONNECT), error.message)
    return ws


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    """Serve one Pusher connection until it closes; always unregisters it."""
    state = request.app[STATE]
    settings = state.settings
    # aiohttp refuses a message of exactly max_msg_size bytes; max_message_bytes is the largest one accepted.
    ws = web.WebSocketResponse(max_msg_size=settings.max_message_bytes + 1, compress=False, autoping=True)
    await ws.prepare(request)
    app = state.apps_by_key.get(request.match_info["key"])
    refusal = _refusal(app, request)
    if refusal is not None:
        logger.info("refused a connection: %s", refusal.message)
        return await _refuse(ws, refusal)
    assert app is not None
    transport = request.transport
    if transport is None:  # the peer left during the handshake
        return ws
    loop = asyncio.get_running_loop()
    client = Client(
        connection=Connection(new_socket_id(), app),
        ws=ws,
        transport=transport,
        now=loop.time(),
        buffer_limit=settings.send_buffer_limit_bytes,
        on_close=state.close_client,
    )
    if state.shutting_down or not await state.broker.add_client(client):
        code = ErrorCode.GENERIC_RECONNECT if state.shutting_down else ErrorCode.OVER_CONNECTION_QUOTA
        return await _refuse(ws, ProtocolError("over the app's connection quota", code=code, close=True))
    state.metrics.count(app.id, "connections_opened")
    try:
        client.send_text(
            codec.encode(ConnectionEstablished(socket_id=client.socket_id, activity_timeout=app.activity_timeout))
        )
        await _read_loop(state, client, ws, loop)
    finally:
        client.closing = True
        await state.broker.remove_client(client)
        state.metrics.count(app.id, "connections_closed")
    return ws


async def _read_loop(
    state: ServerState, client: Client, ws: web.WebSocketResponse, loop: asyncio.AbstractEventLoop
) -> None:
    metrics, app_id = state.metrics, client.app.id
    async for message in ws:
        client.last_seen = loop.time()
        client.pinged_at = None
        if message.type is WSMsgType.TEXT:
            metrics.count(app_id, "messages_received")
            metrics.count(app_id, "bytes_received", len(message.data))
            try:
                await handle_text(state, client, message.data)
            except Exception:
                logger.exception("bug while handling a message from socket %s", client.socket_id)
                client.send_text(error_text(ProtocolError("internal error; reconnect", close=True)))
                client.close(ErrorCode.GENERIC_RECONNECT, "internal error")
                return
        elif message.type is WSMsgType.BINARY:
            send_error(state, client, MalformedMessage("binary frames are not supported; send JSON text frames"))
        elif message.type is WSMsgType.ERROR:
            logger.info("socket %s: %s", client.socket_id, ws.exception())
            return


def send_error(state: ServerState, client: Client, error: ProtocolError) -> None:
    """The one place a ``ProtocolError`` reaches a client: a ``pusher:error``, then a close when it says so."""
    state.metrics.count(client.app.id, "errors_sent")
    client.send_text(error_text(error))
    if error.close:
        client.close(int(error.code or ErrorCode.GENERIC_RECONNECT), error.message)


async def handle_text(state: ServerState, client: Client, text: str) -> None:
    """Feed one frame to the core and carry out its actions in order."""
    try:
        actions = client.connection.receive_text(text, time.time())
    except ProtocolError as error:
        send_error(state, client, error)
        return
    broker = state.broker
    for action in actions:
        match action:
            case Reply():
                client.send_text(action.text)
            case Join():
                await _join(state, client, action)
            case Leave():
                await broker.leave(client, action.channel)
            case Relay():
                event = action.event
                await broker.publish(client.app, event.channel, codec.encode(event), client.socket_id)
                state.metrics.count(client.app.id, "client_events")
                webhook = {"name": "client_event", "channel": event.channel, "event": event.event}
                webhook.update(data=codec.encode_data(event.data), socket_id=client.socket_id)
                if event.user_id is not None:
                    webhook["user_id"] = event.user_id
                state.webhooks(client.app, webhook)
            case SignIn():
                client.send_text(codec.encode(SigninSuccess(user_data=action.user.user_data)))
                await broker.sign_in(client, action.user)


async def _join(state: ServerState, client: Client, join: Join) -> None:
    try:
        result = await state.broker.join(client, join.channel, join.channel_type, join.member)
    except MemberLimitReached as error:
        client.connection.join_failed(join.channel)
        client.send_text(
            codec.encode(SubscriptionError(channel=join.channel, type="LimitReached", error=str(error), status=4004))
        )
        return
    client.send_text(codec.encode(SubscriptionSucceeded(channel=join.channel, presence=result.presence)))
    if join.channel_type.cached:
        if result.cache is not None:
            client.send_text(result.cache.text)
        else:
            client.send_text(codec.encode(CacheMiss(channel=join.channel)))
