"""Verify and parse the webhooks a Pusher-compatible server POSTs to an app (Pusher docs: "Webhooks").

A webhook is ``{"time_ms": <ms>, "events": [...]}`` with ``X-Pusher-Key`` (the app key) and
``X-Pusher-Signature`` (hex HMAC-SHA256 of the raw body under the app secret). ``verify_webhook`` checks, in order,
the key, the signature (constant time), the body and the age, and returns typed events or raises a
``WebhookError`` subclass: it never returns an unverified body. The age limit of 300 s is the one
pusher-http-python's ``validate_webhook`` applies, so a body accepted there is accepted here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pusherpy.protocol import codec, signing

from .errors import WebhookBodyInvalid, WebhookKeyMismatch, WebhookSignatureMismatch, WebhookTooOld

DEFAULT_MAX_AGE: Final = 300.0
KEY_HEADER: Final = "X-Pusher-Key"
SIGNATURE_HEADER: Final = "X-Pusher-Signature"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    """One event of a webhook. Fields that an event kind does not carry are None.

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


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookBatch:
    """A verified webhook: when the server built it (``time_ms``, Unix milliseconds) and its events in order."""

    time_ms: int
    events: list[WebhookEvent]


def verify_webhook(
    headers_or_key: Mapping[str, str] | str,
    signature: str | None = None,
    *,
    body: bytes | str,
    key: str,
    secret: str,
    max_age: float = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> WebhookBatch:
    """Verify a webhook request and return its events.

    Pass the request's headers (any mapping; the header names are matched case-insensitively) or the key and
    signature yourself, and always the **raw** body: re-serialized JSON does not match the signature.

    Args:
        headers_or_key: the request headers, or the value of ``X-Pusher-Key``.
        signature: the value of ``X-Pusher-Signature``, when ``headers_or_key`` is a key.
        body: the raw request body.
        key: this app's key.
        secret: this app's secret.
        max_age: the largest allowed distance between ``time_ms`` and now, in seconds.
        now: the current Unix time in seconds; the system clock when None.

    Raises:
        WebhookKeyMismatch: the key is missing or another app's.
        WebhookSignatureMismatch: the signature is missing or does not match the body.
        WebhookBodyInvalid: the body is not a valid webhook.
        WebhookTooOld: ``time_ms`` is more than ``max_age`` seconds from now.
    """
    if isinstance(headers_or_key, str):
        sent_key: str | None = headers_or_key
    else:
        sent_key = _header(headers_or_key, KEY_HEADER)
        signature = _header(headers_or_key, SIGNATURE_HEADER) if signature is None else signature
    if not sent_key:
        raise WebhookKeyMismatch(f"no {KEY_HEADER} header")
    if not signing.constant_time_equals(sent_key, key):
        raise WebhookKeyMismatch(f"{KEY_HEADER} is not this app's key")
    if not signature:
        raise WebhookSignatureMismatch(f"no {SIGNATURE_HEADER} header")
    raw = body.encode() if isinstance(body, str) else body
    if not signing.verify_webhook_signature(secret, signature, raw):
        raise WebhookSignatureMismatch(f"{SIGNATURE_HEADER} does not match the body")
    batch = parse_webhook_body(raw)
    now_ms = (time.time() if now is None else now) * 1000
    if abs(now_ms - batch.time_ms) > max_age * 1000:
        raise WebhookTooOld(f"time_ms {batch.time_ms} is more than {max_age:g} s away from now")
    return batch


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for header, value in headers.items():
        if header.lower() == wanted:
            return value
    return None


def parse_webhook_body(raw: bytes) -> WebhookBatch:
    """Parse a webhook body without checking its signature; use ``verify_webhook`` on untrusted input.

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
