"""Webhook events and batches, and their one encoding (Pusher docs: "Webhooks").

Nothing here performs I/O or reads a clock. The server's sender builds events with the constructors below and sends
``encode_batch`` of them; the publisher's ``verify_webhook`` checks the signature and then calls ``parse_batch`` on the
same bytes. So the header names, the event names and the body shape are written here once, for both sides.

A body is ``{"time_ms": <Unix ms>, "events": [...]}``; each event carries ``name`` and ``channel``, then only the
fields its kind has, in the order Pusher documents them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from . import codec
from .errors import WebhookBodyInvalid

KEY_HEADER: Final = "X-Pusher-Key"
"""The request header that carries the app key."""
SIGNATURE_HEADER: Final = "X-Pusher-Signature"
"""The request header that carries the hex HMAC-SHA256 of the raw body under the app secret."""

RESERVED_HEADERS: Final = frozenset(
    name.lower()
    for name in (
        KEY_HEADER,
        SIGNATURE_HEADER,
        "Content-Type",
        "Content-Length",
        "Content-Encoding",
        "Transfer-Encoding",
        "Host",
        "Connection",
        "Upgrade",
        "TE",
        "Trailer",
        "Expect",
    )
)
"""Headers an endpoint's extra ``headers`` may not set: the sender writes them, and another value would break the
signature check (the key, the signature, the body's type, length or encoding) or the request itself."""
MAX_EXTRA_HEADERS: Final = 20
MAX_HEADER_VALUE_CHARS: Final = 4096
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP header name (RFC 9110 §5.1: a token)."""


def header_problem(name: str, value: str) -> str | None:
    """Why an extra webhook request header cannot be sent as given, or None when it can.

    The value is never quoted back: it is often a credential.
    """
    if not _TOKEN.fullmatch(name):
        return f"{name!r} is not a header name"
    if name.lower() in RESERVED_HEADERS:
        return f"{name!r} is set by pusherpy (it signs and frames each request) and cannot be replaced"
    if len(value) > MAX_HEADER_VALUE_CHARS:
        return f"the value of {name!r} is longer than {MAX_HEADER_VALUE_CHARS} characters"
    if any(ord(char) < 0x20 and char != "\t" or ord(char) == 0x7F for char in value):
        return f"the value of {name!r} holds a control character (a line break would end the header)"
    if not value.isascii():
        return f"the value of {name!r} is not ASCII"
    return None


class WebhookName(StrEnum):
    """The webhook kinds Pusher sends; the only list of their names."""

    CHANNEL_OCCUPIED = "channel_occupied"
    CHANNEL_VACATED = "channel_vacated"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    CLIENT_EVENT = "client_event"
    CACHE_MISS = "cache_miss"
    SUBSCRIPTION_COUNT = "subscription_count"


_WIRE_ORDER: Final = ("event", "data", "socket_id", "user_id", "subscription_count")
"""The optional fields in the order Pusher's docs list them (after ``name`` and ``channel``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    """One event of a webhook. Fields that an event kind does not carry are None.

    Build one with the constructor of its kind (``channel_occupied(...)``, ``client_event(...)``); a parsed body
    may hold names this version does not know, kept as they came for forward compatibility.

    Attributes:
        name: ``channel_occupied``, ``channel_vacated``, ``member_added``, ``member_removed``, ``client_event``,
            ``cache_miss`` or ``subscription_count`` (unknown names are kept, for forward compatibility).
        channel: the channel the event is about.
        user_id: the member (``member_*``) or the sender of a client event on a presence channel.
        event: the client event's name (``client_event``).
        data: the client event's data as a string (``client_event``).
        socket_id: the sender of a client event (``client_event``).
        subscription_count: the channel's connection count (``subscription_count``).
    """

    name: str
    channel: str
    user_id: str | None = None
    event: str | None = None
    data: str | None = None
    socket_id: str | None = None
    subscription_count: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the event as its JSON object: the fields it carries (None left out), in Pusher's wire order."""
        result: dict[str, Any] = {"name": self.name, "channel": self.channel}
        for field in _WIRE_ORDER:
            value = getattr(self, field)
            if value is not None:
                result[field] = value
        return result


def channel_occupied(channel: str) -> WebhookEvent:
    """The channel got its first subscriber."""
    return WebhookEvent(name=WebhookName.CHANNEL_OCCUPIED.value, channel=channel)


def channel_vacated(channel: str) -> WebhookEvent:
    """The channel lost its last subscriber."""
    return WebhookEvent(name=WebhookName.CHANNEL_VACATED.value, channel=channel)


def member_added(channel: str, user_id: str) -> WebhookEvent:
    """A user's first socket joined the presence channel."""
    return WebhookEvent(name=WebhookName.MEMBER_ADDED.value, channel=channel, user_id=user_id)


def member_removed(channel: str, user_id: str) -> WebhookEvent:
    """A user's last socket left the presence channel."""
    return WebhookEvent(name=WebhookName.MEMBER_REMOVED.value, channel=channel, user_id=user_id)


def cache_miss(channel: str) -> WebhookEvent:
    """A socket subscribed to a cache channel that has no cached event."""
    return WebhookEvent(name=WebhookName.CACHE_MISS.value, channel=channel)


def subscription_count(channel: str, count: int) -> WebhookEvent:
    """The channel's connection count changed to ``count``."""
    return WebhookEvent(name=WebhookName.SUBSCRIPTION_COUNT.value, channel=channel, subscription_count=count)


def client_event(channel: str, event: str, data: str, socket_id: str, user_id: str | None) -> WebhookEvent:
    """A socket sent a client event; ``user_id`` is the sender's on a presence channel, else None."""
    return WebhookEvent(
        name=WebhookName.CLIENT_EVENT.value,
        channel=channel,
        event=event,
        data=data,
        socket_id=socket_id,
        user_id=user_id,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookBatch:
    """A verified webhook: when the server built it (``time_ms``, Unix milliseconds) and its events in order."""

    time_ms: int
    events: list[WebhookEvent]


def encode_batch(batch: WebhookBatch) -> bytes:
    """Return the body to sign and send: the exact bytes ``parse_batch`` reads back."""
    return codec.dumps({"time_ms": batch.time_ms, "events": [event.to_json() for event in batch.events]}).encode()


def parse_batch(raw: bytes) -> WebhookBatch:
    """Parse a webhook body without checking its signature (``verify_webhook`` checks it first).

    Raises:
        WebhookBodyInvalid: the body is not ``{"time_ms": int, "events": [{"name", "channel", ...}]}``.
    """
    try:
        parsed = codec.loads(raw)
    except (ValueError, TypeError):
        raise WebhookBodyInvalid("body is not JSON") from None
    if not isinstance(parsed, dict):
        raise WebhookBodyInvalid("body must be a JSON object")
    time_ms = parsed.get("time_ms")
    if not isinstance(time_ms, int) or isinstance(time_ms, bool):
        raise WebhookBodyInvalid("'time_ms' must be an integer")
    events = parsed.get("events")
    if not isinstance(events, list):
        raise WebhookBodyInvalid("'events' must be a list")
    return WebhookBatch(time_ms=time_ms, events=[_event(item, index) for index, item in enumerate(events)])


def _event(item: Any, index: int) -> WebhookEvent:
    if not isinstance(item, dict):
        raise WebhookBodyInvalid(f"events[{index}] must be an object")
    name, channel = item.get("name"), item.get("channel")
    if not isinstance(name, str) or not name or not isinstance(channel, str) or not channel:
        raise WebhookBodyInvalid(f"events[{index}] needs 'name' and 'channel' strings")
    count = item.get("subscription_count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
        raise WebhookBodyInvalid(f"events[{index}].subscription_count must be an integer")
    data = item.get("data")
    return WebhookEvent(
        name=name,
        channel=channel,
        user_id=_optional_text(item, "user_id", index),
        event=_optional_text(item, "event", index),
        # Pusher sends client event data as the string the client sent; an object is re-encoded so the type holds.
        data=None if data is None else codec.encode_data(data),
        socket_id=_optional_text(item, "socket_id", index),
        subscription_count=count,
    )


def _optional_text(item: dict[str, Any], field: str, index: int) -> str | None:
    value = item.get(field)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # some servers send numeric user ids
    if not isinstance(value, str):
        raise WebhookBodyInvalid(f"events[{index}].{field} must be a string")
    return value
