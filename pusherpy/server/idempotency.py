"""Idempotent publishing through the HTTP API: an event (or a batch item) carrying an ``idempotency_key`` already
claimed within the app's ``idempotency_window_seconds`` is answered 200 and not delivered again.

The decision is the broker's (``claim_publish``), so it holds across every node: of any number of publishes with one
key, on any nodes, at once or one after the other within the window, exactly one delivers. A publish that fails
after claiming its key releases it, so that the publisher's retry (same key) is delivered rather than swallowed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..protocol import codec
from ..protocol.apps import AppConfig
from ..protocol.errors import ApiError
from ..protocol.idempotency import idempotency_key_problem
from .state import ServerState

Deliver = Callable[[], Awaitable[dict[str, Any]]]
"""Delivers one event; returns what the event adds to the publish's reply (history: its serials), JSON-able."""


def idempotency_key(item: Mapping[str, Any]) -> str | None:
    """The ``idempotency_key`` of an event or batch item (None without one).

    Raises:
        ApiError: 400 when it is not 1 to 128 characters of ``A-Z a-z 0-9 _ . : -``.
    """
    key = item.get("idempotency_key")
    if key is None:
        return None
    problem = idempotency_key_problem(key)
    if problem is not None:
        raise ApiError(400, problem)
    assert isinstance(key, str)
    return key


async def publish_once(state: ServerState, app: AppConfig, key: str | None, deliver: Deliver) -> dict[str, Any]:
    """Run ``deliver`` unless ``key`` was claimed within the app's window (or always, without a key or window).

    Returns:
        what the event adds to the reply: ``deliver``'s own, or for a repeat the first publish's (empty while that
        one is still being published).
    """
    window = app.idempotency_window_seconds
    if key is None or window <= 0:
        return await deliver()
    claim = await state.broker.claim_publish(app, key, window)
    if not claim.first:
        state.metrics.count(app.id, "api_messages_repeated")
        return _stored_reply(claim.reply)
    try:
        reply = await deliver()
    except BaseException:
        await state.broker.release_publish(app, key)
        raise
    await state.broker.settle_publish(app, key, codec.dumps(reply))
    return reply


def _stored_reply(text: str | None) -> dict[str, Any]:
    """A settled reply read back (from Redis, maybe from another version of pusherpy): an object, or nothing."""
    if not text:
        return {}
    try:
        value = codec.loads(text)
    except (codec.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
