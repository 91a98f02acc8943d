"""The Pusher side of one WebSocket: checks at connect, then each message → protocol core → actions.

This module makes no protocol decisions: the core (``protocol.connection``) decides, and this module carries the
actions out through the broker. Every error a client causes becomes one ``pusher:error`` (``send_error``); an
unexpected exception closes only that socket (4200) and is logged as a bug (``Client``).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping

from ..protocol import codec, webhooks
from ..protocol.actions import AnswerPing, Join, Leave, Relay, Reply, SignIn
from ..protocol.apps import AppConfig
from ..protocol.connection import error_text, subscription_error_text
from ..protocol.console import LogKind
from ..protocol.errors import (
    AppDisabled,
    ErrorCode,
    InvalidVersionString,
    MalformedMessage,
    OverQuota,
    ProtocolError,
    Unauthorized,
    UnknownApp,
    UnsupportedProtocol,
)
from ..protocol.events import CacheMiss, ConnectionEstablished, Pong, SigninSuccess, SubscriptionSucceeded
from ..protocol.frames import text_frame
from ..protocol.history import resume_failed_text
from .client import Client
from .console.taps import socket_entry
from .metrics import Metrics
from .state import ServerState

logger = logging.getLogger(__name__)

SUPPORTED_PROTOCOLS = range(5, 8)
PONG_FRAME = text_frame(codec.encode(Pong()).encode())
"""``pusher:pong``, framed once."""


def new_socket_id() -> str:
    """Two random unsigned integers joined by a dot: ``\\d+\\.\\d+``, 66 bits, unguessable."""
    return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}"


def refusal(app: AppConfig | None, query: Mapping[str, str], origin: str | None) -> ProtocolError | None:
    """Decide whether a new connection is refused, before any state is created for it."""
    if app is None:
        return UnknownApp("no app has this key", close=True)
    if not app.enabled:
        return AppDisabled("this app is disabled", close=True)
    protocol = query.get("protocol")
    if protocol is None:
        logger.info("connection without a protocol version (legacy client) to app %s; treated as 7", app.id)
    elif not (protocol.isascii() and protocol.isdigit()):  # isdigit() alone takes "²", which int() refuses
        message = f"protocol {protocol[:20]!r} is not a version number"
        return InvalidVersionString(message, close=True)
    elif len(protocol) > 3 or int(protocol) not in SUPPORTED_PROTOCOLS:
        message = f"protocol version {protocol[:20]} is not supported (5 to 7 are)"
        return UnsupportedProtocol(message, close=True)
    if not app.origin_allowed(origin):
        return Unauthorized("origin not allowed for this app", close=True)
    return None


async def open_client(state: ServerState, client: Client, origin: str | None = None) -> bool:
    """Count a new socket against its app's quota and greet it; False when it was refused and closed."""
    app = client.app
    if state.shutting_down:
        send_error(state, client, ProtocolError("server shutting down", close=True))
        return False
    if not await state.broker.add_client(client):
        send_error(state, client, OverQuota("over the app's connection quota", close=True))
        return False
    client.registered = True
    if client.closing:  # the peer left while the broker was counting it
        client.connection_lost(None)
        return False
    state.metrics.count(app.id, "connections_opened")
    if state.console.watching(app.id):
        state.console.record(socket_entry(LogKind.CONNECTED, client, origin=origin or ""))
    client.send_text(
        codec.encode(ConnectionEstablished(socket_id=client.socket_id, activity_timeout=app.activity_timeout))
    )
    return True


def send_error(state: ServerState, client: Client, error: ProtocolError) -> None:
    """The one place a ``ProtocolError`` reaches a client: a ``pusher:error``, then a close when it says so."""
    state.metrics.count(client.app.id, "errors_sent")
    if state.console.watching(client.app.id):
        code = None if error.code is None else int(error.code)
        channel = error.channel or ""  # a refused subscription's channel
        entry = socket_entry(LogKind.ERROR_SENT, client, channel=channel, code=code, message=error.message)
        state.console.record(entry)
    if error.error_frame:
        client.send_text(error_text(error))
    subscription_error = subscription_error_text(error)
    if subscription_error is not None:
        client.send_text(subscription_error)
    if error.close:
        client.close(int(error.code or ErrorCode.GENERIC_RECONNECT), error.message)


async def handle_message(state: ServerState, client: Client, text: str | None) -> None:
    """Handle one client message (``None`` for a binary one): feed the core, carry out its actions in order."""
    metrics, app_id = state.metrics, client.app.id
    metrics.count(app_id, "messages_received")
    try:
        if text is None:
            client.connection.count_message(time.time())
            raise MalformedMessage("binary frames are not supported; send JSON text frames")
        metrics.count(app_id, "bytes_received", len(text))
        actions = client.connection.receive_text(text, time.time())
    except ProtocolError as error:
        send_error(state, client, error)
        return
    broker = state.broker
    for action in actions:
        match action:
            case Reply():
                client.send_text(action.text)
            case AnswerPing():
                client.send_pong(PONG_FRAME)
            case Join():
                await _join(state, client, action)
            case Leave():
                if state.console.watching(app_id):  # before the vacate it may cause
                    state.console.record(socket_entry(LogKind.UNSUBSCRIBED, client, channel=action.channel))
                await broker.leave(client, action.channel)
            case Relay():
                event = action.event
                await broker.publish(client.app, event.channel, codec.encode(event), client.socket_id, keep=False)
                metrics.count(app_id, "client_events")
                data = codec.encode_data(event.data)
                webhook = webhooks.client_event(event.channel, event.event, data, client.socket_id, event.user_id)
                state.webhooks(client.app, webhook)
                if state.console.watching(app_id):
                    kind, channel = LogKind.CLIENT_EVENT, event.channel
                    entry = socket_entry(kind, client, channel=channel, event=event.event, data=data)
                    state.console.record(entry)
            case SignIn():
                client.send_text(codec.encode(SigninSuccess(user_data=action.user.user_data)))
                await broker.sign_in(client, action.user)
                if state.console.watching(app_id):
                    state.console.record(socket_entry(LogKind.SIGNED_IN, client))


async def _join(state: ServerState, client: Client, join: Join) -> None:
    try:
        result = await state.broker.join(client, join.channel, join.channel_type, join.member, join.resume_after)
    except ProtocolError as error:  # refused cluster-wide (the presence channel is full)
        client.connection.join_failed(join.channel)
        send_error(state, client, error)
        return
    history = result.history
    position = history.position if history is not None else None
    client.send_text(
        codec.encode(SubscriptionSucceeded(channel=join.channel, presence=result.presence, serial=position))
    )
    if state.console.watching(client.app.id):
        user_id = join.member.user_id if join.member is not None else None
        state.console.record(socket_entry(LogKind.SUBSCRIBED, client, channel=join.channel, user_id=user_id))
    if history is not None:  # sent before anything awaits, so before any live event (Broker.join)
        if history.failed is not None:
            client.send_text(resume_failed_text(join.channel, history.failed))
        for text in history.replay:
            client.send_text(text)
    if join.channel_type.cached:
        if result.cache is not None:
            client.send_text(result.cache.text)
        else:
            client.send_text(codec.encode(CacheMiss(channel=join.channel)))


class PusherHandler:
    """The Pusher side of every socket of one server (``client.SocketHandler``): one instance, shared."""

    __slots__ = ("_state", "max_message_bytes", "send_buffer_limit_bytes", "metrics")

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self.max_message_bytes = state.settings.max_message_bytes
        self.send_buffer_limit_bytes = state.settings.send_buffer_limit_bytes
        self.metrics: Metrics = state.metrics

    async def open(self, client: Client, origin: str | None) -> bool:
        self._state.clients.add(client)
        return await open_client(self._state, client, origin)

    async def handle(self, client: Client, text: str | None) -> None:
        await handle_message(self._state, client, text)

    def count_control(self, client: Client) -> bool:
        self.metrics.count(client.app.id, "messages_received")
        try:
            client.connection.count_message(time.time())
        except ProtocolError as error:
            send_error(self._state, client, error)
            return False
        return True

    def closing(self, client: Client, code: int, reason: str) -> None:
        console = self._state.console
        if client.registered and console.watching(client.app.id):
            console.record(socket_entry(LogKind.DISCONNECTED, client, code=code, message=reason))

    def closed(self, client: Client) -> None:
        state = self._state
        state.clients.discard(client)
        if client.registered:
            client.registered = False
            state.spawn(_unregister(state, client))


async def _unregister(state: ServerState, client: Client) -> None:
    await state.broker.remove_client(client)
    state.metrics.count(client.app.id, "connections_closed")
