"""Text <-> events: the only code that touches JSON and Pusher's double-encoded ``data``.

Nothing here performs I/O. ``decode`` is total: any text either becomes an inbound event or raises
``MalformedMessage`` with a message fit for the client. orjson is used when installed, the standard library
otherwise; both give the same results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .channels import CLIENT_EVENT_PREFIX
from .errors import MalformedMessage
from .events import (
    PROTOCOL_EVENT_PREFIXES,
    CacheMiss,
    ChannelEvent,
    ClientEvent,
    ConnectionEstablished,
    Error,
    Inbound,
    MemberAdded,
    MemberRemoved,
    Outbound,
    Ping,
    Pong,
    Signin,
    SigninSuccess,
    Subscribe,
    SubscriptionCount,
    SubscriptionError,
    SubscriptionSucceeded,
    Unsubscribe,
    WatchlistEvents,
)

try:
    import orjson

    def dumps(value: Any) -> str:
        """Encode compactly; orjson is several times faster on the broadcast path."""
        return orjson.dumps(value).decode()

    def loads(text: str | bytes) -> Any:
        return orjson.loads(text)

    JSONDecodeError: type[ValueError] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover - exercised when orjson is absent
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def dumps(value: Any) -> str:
        return _encoder.encode(value)

    def loads(text: str | bytes) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as error:  # nested too deep; an integer past int's digit limit
            raise json.JSONDecodeError(str(error), "", 0) from None

    JSONDecodeError = json.JSONDecodeError


def encode_data(data: Any) -> str:
    """Return ``data`` as the string Pusher puts in an event's ``data``: a str passes through."""
    return data if isinstance(data, str) else dumps(data)


# -- decoding --------------------------------------------------------------------------------------------------


def _data_object(message: dict[str, Any], event: str) -> dict[str, Any]:
    """Return a ``pusher:*`` message's data as an object; clients send it as an object or as a JSON string."""
    data = message.get("data")
    if isinstance(data, str):
        try:
            data = loads(data)
        except JSONDecodeError:
            raise MalformedMessage(f"{event}: data is a string but not JSON") from None
    if not isinstance(data, dict):
        raise MalformedMessage(f"{event}: data must be an object")
    return data


def _string_field(data: dict[str, Any], key: str, event: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise MalformedMessage(f"{event}: missing {key!r}")
        return None
    if not isinstance(value, str):
        raise MalformedMessage(f"{event}: {key!r} must be a string")
    return value


def _decode_subscribe(message: dict[str, Any]) -> Subscribe:
    data = _data_object(message, Subscribe.name)
    channel = _string_field(data, "channel", Subscribe.name)
    assert channel is not None
    return Subscribe(
        channel=channel,
        auth=_string_field(data, "auth", Subscribe.name, required=False),
        channel_data=_string_field(data, "channel_data", Subscribe.name, required=False),
    )


def _decode_unsubscribe(message: dict[str, Any]) -> Unsubscribe:
    data = _data_object(message, Unsubscribe.name)
    channel = _string_field(data, "channel", Unsubscribe.name)
    assert channel is not None
    return Unsubscribe(channel=channel)


def _decode_signin(message: dict[str, Any]) -> Signin:
    data = _data_object(message, Signin.name)
    auth = _string_field(data, "auth", Signin.name)
    user_data = _string_field(data, "user_data", Signin.name)
    assert auth is not None and user_data is not None
    return Signin(auth=auth, user_data=user_data)


_DECODERS: dict[str, Callable[[dict[str, Any]], Inbound]] = {
    Subscribe.name: _decode_subscribe,
    Unsubscribe.name: _decode_unsubscribe,
    Signin.name: _decode_signin,
    Ping.name: lambda _message: Ping(),
    Pong.name: lambda _message: Pong(),
}


def decode(text: str | bytes) -> Inbound:
    """Parse one client frame into an inbound event.

    Raises:
        MalformedMessage: the text is not JSON, not an object, has an unknown event or fields of the wrong type.
    """
    try:
        message = loads(text)
    except (JSONDecodeError, UnicodeDecodeError):
        raise MalformedMessage("message is not valid JSON") from None
    if not isinstance(message, dict):
        raise MalformedMessage("message must be a JSON object")
    event = message.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedMessage("message needs an 'event' string")
    decoder = _DECODERS.get(event)
    if decoder is not None:
        return decoder(message)
    if event.startswith(CLIENT_EVENT_PREFIX):
        channel = message.get("channel")
        if not isinstance(channel, str) or not channel:
            raise MalformedMessage(f"{event}: client events need a 'channel' string")
        return ClientEvent(event=event, channel=channel, data=message.get("data"))
    if event.startswith(PROTOCOL_EVENT_PREFIXES):
        raise MalformedMessage(f"unsupported event {event[:64]!r}")
    raise MalformedMessage(f"event {event[:64]!r} is neither a pusher: event nor a client- event")


# -- encoding --------------------------------------------------------------------------------------------------


def _channel_event(event: ChannelEvent) -> dict[str, Any]:
    message: dict[str, Any] = {"event": event.event, "channel": event.channel, "data": event.data}
    if event.user_id is not None:
        message["user_id"] = event.user_id
    return message


def _subscription_succeeded(event: SubscriptionSucceeded) -> dict[str, Any]:
    data = "{}"
    if event.presence is not None:
        presence = {"ids": event.presence.ids, "hash": event.presence.hash, "count": event.presence.count}
        data = dumps({"presence": presence})
    message: dict[str, Any] = {"event": event.name, "channel": event.channel, "data": data}
    if event.serial is not None:
        message["serial"] = event.serial
    return message


def _error(event: Error) -> dict[str, Any]:
    message: dict[str, Any] = {"event": event.name, "data": {"code": event.code, "message": event.message}}
    if event.channel is not None:
        message["channel"] = event.channel
    return message


def _to_message(event: Outbound) -> dict[str, Any]:  # noqa: C901 - one arm per wire event
    match event:
        case ChannelEvent():
            return _channel_event(event)
        case ConnectionEstablished():
            data = {"socket_id": event.socket_id, "activity_timeout": event.activity_timeout}
            return {"event": event.name, "data": dumps(data)}
        case Error():
            return _error(event)
        case SubscriptionError():
            data = {"type": event.type, "error": event.error, "status": event.status}
            return {"event": event.name, "channel": event.channel, "data": dumps(data)}
        case SubscriptionSucceeded():
            return _subscription_succeeded(event)
        case MemberAdded():
            data = {"user_id": event.user_id, "user_info": event.user_info}
            return {"event": event.name, "channel": event.channel, "data": dumps(data)}
        case MemberRemoved():
            return {"event": event.name, "channel": event.channel, "data": dumps({"user_id": event.user_id})}
        case CacheMiss():
            return {"event": event.name, "channel": event.channel, "data": "{}"}
        case SigninSuccess():
            return {"event": event.name, "data": dumps({"user_data": event.user_data})}
        case WatchlistEvents():
            events = [{"name": change.name, "user_ids": change.user_ids} for change in event.events]
            return {"event": event.name, "data": dumps({"events": events})}
        case SubscriptionCount():
            data = {"subscription_count": event.subscription_count}
            return {"event": event.name, "channel": event.channel, "data": dumps(data)}
        case Ping() | Pong():
            return {"event": event.name, "data": "{}"}
    raise TypeError(f"not an outbound event: {event!r}")  # pragma: no cover


def encode(event: Outbound) -> str:
    """Return the wire text of an outbound event, with ``data`` double-encoded as Pusher does."""
    return dumps(_to_message(event))


def with_serial(text: str, serial: int) -> str:
    """An encoded channel event with its history serial as the last top-level field.

    A kept event is encoded once without its serial (before a broker hands one out, and so it is stored once);
    the serial is spliced in here. pusher-js keeps only ``event``, ``channel``, ``data`` and ``user_id`` of an
    envelope, so the extra field reaches apps that read raw frames and disturbs no one else.
    """
    return f'{text[:-1]},"serial":{serial}}}'
