"""Verify and parse the webhooks a Pusher-compatible server POSTs to an app (Pusher docs: "Webhooks").

A webhook is ``{"time_ms": <ms>, "events": [...]}`` with ``X-Pusher-Key`` (the app key) and
``X-Pusher-Signature`` (hex HMAC-SHA256 of the raw body under the app secret). ``verify_webhook`` checks, in order,
the key, the signature (constant time), the body and the age, and returns typed events or raises a
``WebhookError`` subclass: it never returns an unverified body. The age limit of 300 s is the one
pusher-http-python's ``validate_webhook`` applies, so a body accepted there is accepted here.

The event types, the header names and the body parser live in ``pusherpy.protocol.webhooks``, shared with the
server that sends webhooks; they are re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final

from pusherpy.protocol import signing
from pusherpy.protocol.webhooks import KEY_HEADER, SIGNATURE_HEADER, WebhookBatch, WebhookEvent, parse_batch

from .errors import WebhookKeyMismatch, WebhookSignatureMismatch, WebhookTooOld

__all__ = [
    "DEFAULT_MAX_AGE",
    "KEY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookBatch",
    "WebhookEvent",
    "parse_webhook_body",
    "verify_webhook",
]

DEFAULT_MAX_AGE: Final = 300.0


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
    batch = parse_batch(raw)
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
    return parse_batch(raw)
