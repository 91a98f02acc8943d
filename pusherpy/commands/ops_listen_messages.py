"""What ``pusherpy listen`` sends and prints, message by message: the subscriptions and sign-in it signs, and the
lines it writes for each message (text for people, one JSON object per line for scripts).

Nothing here does I/O but printing; the connection itself is ``ops_listen.py``'s.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pusherpy.protocol import codec
from pusherpy.protocol.channels import ChannelKind, classify
from pusherpy.publisher.authorization import authenticate_user, authorize_channel
from pusherpy.publisher.config import ClientConfig
from pusherpy.publisher.crypto import decrypt

from .ops_output import print_json


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenOptions:
    """What to subscribe to and how to print it, checked before connecting."""

    config: ClientConfig
    url: str
    channels: tuple[str, ...]
    user_id: str | None
    user_info: Mapping[str, Any]
    signin: bool
    reconnect: bool
    count: int | None
    json: bool


def subscription(options: ListenOptions, channel: str, socket_id: str) -> dict[str, Any]:
    """The ``pusher:subscribe`` data: the channel, signed here when it needs auth (the secret is known)."""
    kind = classify(channel).kind
    if kind in (ChannelKind.PUBLIC, ChannelKind.SERVER_TO_USER):
        return {"channel": channel}
    member = None
    if kind is ChannelKind.PRESENCE:
        member = {"user_id": options.user_id or f"cli-{socket_id}", "user_info": dict(options.user_info)}
    config = options.config
    auth = authorize_channel(
        config.key, config.secret, socket_id, channel, member, master_key=config.encryption_master_key
    )
    fields: dict[str, Any] = {"channel": channel, "auth": auth["auth"]}
    if "channel_data" in auth:
        fields["channel_data"] = auth["channel_data"]
    return fields


def signin(options: ListenOptions, socket_id: str) -> dict[str, Any]:
    """The ``pusher:signin`` data for ``--user-id``, signed here as the app's user authentication endpoint would."""
    user = {"id": options.user_id, "user_info": dict(options.user_info)}
    signed = authenticate_user(options.config.key, options.config.secret, socket_id, user)
    return {"auth": signed["auth"], "user_data": signed["user_data"]}


def message_data(options: ListenOptions, message: Mapping[str, Any]) -> Any:
    """The message's data, decrypted on an encrypted channel, decoded when it is JSON."""
    data = message.get("data")
    channel = message.get("channel")
    key = options.config.encryption_master_key
    if (
        isinstance(channel, str)
        and isinstance(data, str)
        and key is not None
        and classify(channel).kind is ChannelKind.ENCRYPTED
        and not str(message.get("event")).startswith("pusher")
    ):
        try:
            data = decrypt(channel, data, key)
        except ValueError as error:
            return f"<cannot decrypt: {error}>"
    return decoded(data)


def decoded(data: Any) -> Any:
    """Pusher double-encodes ``data``: decode the string when it is JSON, keep it as text otherwise."""
    if isinstance(data, str):
        try:
            return codec.loads(data)
        except (ValueError, TypeError):
            return data
    return data


def emit(options: ListenOptions, message: Mapping[str, Any], data: Any) -> None:
    """Print one message: every one as a JSON line with ``--json``; else channel events only, as a text line."""
    event = str(message.get("event"))
    if options.json:
        line = {key: value for key, value in message.items() if key != "data"}
        line["data"] = data
        print_json(line)
        return
    if event.startswith("pusher:") or event == "pusher_internal:subscription_succeeded":
        return  # said on stderr by status()
    shown = data if isinstance(data, str) else codec.dumps(data)
    user = f" (user {message['user_id']})" if "user_id" in message else ""
    print(f"{time.strftime('%H:%M:%S')} {message.get('channel')} {event}{user} {shown}", flush=True)


def status(options: ListenOptions, text: str) -> None:
    """Say what happened to the connection on stderr (never with ``--json``: stdout has it all)."""
    if not options.json:
        print(text, file=sys.stderr, flush=True)


def error_text(message: Mapping[str, Any]) -> str:
    """``4009 message`` from a ``pusher:error`` or ``pusher:subscription_error`` (soketi's and Reverb's shapes too)."""
    data = decoded(message.get("data"))
    if isinstance(data, dict):
        code = data.get("code") or data.get("status")
        text = data.get("message") or data.get("error") or data.get("type") or ""
        return f"{code} {text}".strip() if code is not None else str(text)
    return str(data)


def shown(url: str) -> str:
    """The WebSocket URL without its query, for messages."""
    return url.split("?", 1)[0]
