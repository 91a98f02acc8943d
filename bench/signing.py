"""Pusher signatures, written here again so the bench never imports the server it measures.

Formulas: PROTOCOL.md 1.8 (channel auth) and 1.9 (HTTP API request signing).
"""

from __future__ import annotations

import hashlib
import hmac
import time


def channel_auth(key: str, secret: str, socket_id: str, channel: str) -> str:
    """Return the ``auth`` field for subscribing ``socket_id`` to a private channel."""
    digest = hmac.new(secret.encode(), f"{socket_id}:{channel}".encode(), hashlib.sha256).hexdigest()
    return f"{key}:{digest}"


def signed_query(key: str, secret: str, method: str, path: str, body: bytes, timestamp: int | None = None) -> str:
    """Return the full query string (with ``auth_signature``) for one HTTP API request.

    The query is already in sorted key order, which is what the signature covers; values need no
    URL escaping (hex digits, digits and the key, which is URL-safe for every server we target).
    """
    ts = int(time.time()) if timestamp is None else timestamp
    params = [("auth_key", key), ("auth_timestamp", str(ts)), ("auth_version", "1.0")]
    if body:
        params.append(("body_md5", hashlib.md5(body).hexdigest()))
    params.sort()
    query = "&".join(f"{k}={v}" for k, v in params)
    to_sign = f"{method}\n{path}\n{query}".encode()
    signature = hmac.new(secret.encode(), to_sign, hashlib.sha256).hexdigest()
    return f"{query}&auth_signature={signature}"
