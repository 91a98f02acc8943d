"""HMAC-SHA256 signatures: channel auth, user auth, HTTP API requests and webhooks.

Shared by the server (which verifies) and the publisher library (which signs), so each formula is written once.
Nothing here performs I/O or reads a clock: timestamps are arguments. Every comparison of a signature is constant
time (``hmac.compare_digest``).

Formulas (Pusher docs, "Auth signatures" and "HTTP API reference"):

- private / encrypted channel: ``HMAC(secret, "{socket_id}:{channel}")``
- presence channel: ``HMAC(secret, "{socket_id}:{channel}:{channel_data}")``, over the exact channel_data string
- user sign-in: ``HMAC(secret, "{socket_id}::user::{user_data}")``
- HTTP API: ``HMAC(secret, "METHOD\\nPATH\\nQUERY")``, QUERY = params except auth_signature, keys lowercased,
  sorted, joined ``k=v&...`` without URL escaping
- webhook: ``HMAC(secret, raw body)``
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

AUTH_VERSION: Final = "1.0"
TIMESTAMP_WINDOW_SECONDS: Final = 600


def hmac_sha256_hex(secret: str, message: str | bytes) -> str:
    """Return the hex HMAC-SHA256 of ``message`` under ``secret``."""
    data = _utf8(message) if isinstance(message, str) else message
    return hmac.new(_utf8(secret), data, hashlib.sha256).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two strings without leaking where they differ."""
    return hmac.compare_digest(_utf8(a), _utf8(b))


def _utf8(text: str) -> bytes:
    """UTF-8 that never raises: a lone surrogate from a hostile query string only makes a signature mismatch."""
    return text.encode("utf-8", "surrogatepass")


def channel_string_to_sign(socket_id: str, channel_name: str, channel_data: str | None = None) -> str:
    if channel_data is None:
        return f"{socket_id}:{channel_name}"
    return f"{socket_id}:{channel_name}:{channel_data}"


def sign_channel(key: str, secret: str, socket_id: str, channel_name: str, channel_data: str | None = None) -> str:
    """Return the ``auth`` value (``key:hexsig``) a client sends in ``pusher:subscribe``."""
    return f"{key}:{hmac_sha256_hex(secret, channel_string_to_sign(socket_id, channel_name, channel_data))}"


def verify_channel_auth(
    key: str, secret: str, auth: str, socket_id: str, channel_name: str, channel_data: str | None = None
) -> bool:
    """Check a subscription's ``auth`` against the raw ``channel_data`` string the client sent."""
    return constant_time_equals(auth, sign_channel(key, secret, socket_id, channel_name, channel_data))


def sign_user(key: str, secret: str, socket_id: str, user_data: str) -> str:
    """Return the ``auth`` value for ``pusher:signin``."""
    return f"{key}:{hmac_sha256_hex(secret, f'{socket_id}::user::{user_data}')}"


def verify_user_auth(key: str, secret: str, auth: str, socket_id: str, user_data: str) -> bool:
    return constant_time_equals(auth, sign_user(key, secret, socket_id, user_data))


def body_md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()  # noqa: S324 - Pusher's protocol, not a security use


def request_string_to_sign(method: str, path: str, params: Mapping[str, str]) -> str:
    """Build ``METHOD\\nPATH\\nQUERY`` from every param except ``auth_signature``."""
    query = "&".join(
        f"{k}={v}" for k, v in sorted((k.lower(), v) for k, v in params.items() if k.lower() != "auth_signature")
    )
    return f"{method.upper()}\n{path}\n{query}"


def sign_request(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """Return the hex ``auth_signature`` of an HTTP API request."""
    return hmac_sha256_hex(secret, request_string_to_sign(method, path, params))


def signed_query(
    key: str,
    secret: str,
    method: str,
    path: str,
    *,
    timestamp: int,
    body: bytes = b"",
    params: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the full query of a signed HTTP API request, ``auth_signature`` included.

    ``body_md5`` is added only for a non-empty body (the official Node SDK does the same).
    """
    query: dict[str, str] = dict(params or {})
    query.update(auth_key=key, auth_timestamp=str(timestamp), auth_version=AUTH_VERSION)
    if body:
        query["body_md5"] = body_md5(body)
    query["auth_signature"] = sign_request(secret, method, path, query)
    return query


def sign_webhook(secret: str, body: bytes) -> str:
    """Return the ``X-Pusher-Signature`` of a webhook body."""
    return hmac_sha256_hex(secret, body)


def verify_webhook_signature(secret: str, signature: str, body: bytes) -> bool:
    return constant_time_equals(signature, sign_webhook(secret, body))
