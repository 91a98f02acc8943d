"""``GET /apps/{app_id}/channels/{channel_name}/events``: a channel's kept events, for a backend catching up.

A backend that missed events (or a page's backend reloading after ``pusherpy:resume_failed``) asks for the events
after the last serial it has. When they are no longer all kept, the answer is 410 Gone with the channel's position,
never a page with a silent hole: the caller then falls back to its own store.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ..protocol import codec
from ..protocol.errors import ApiError
from ..protocol.history import HistoryPage
from .http_auth import signed_request
from .http_queries import channel_from_path
from .state import STATE

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000


def _serial_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise ApiError(400, f"{name} must be a serial (a non-negative integer)")
    return int(raw)


def _limit_param(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw[:5]) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


async def channel_events(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/channels/{channel_name}/events?after=SERIAL&limit=N"""
    state = request.app[STATE]
    app, _ = await signed_request(request)
    channel = channel_from_path(request)
    after = _serial_param(request.query.get("after"), "after")
    limit = _limit_param(request.query.get("limit"))
    if app.history_rule(channel) is None:
        raise ApiError(404, f"no history is kept for {channel!r} (no [[apps.history]] entry matches it)")
    found = await state.broker.history(app, channel, after, limit)
    if found.gone:
        message = f"events after {after} are no longer kept; reload from your own store"
        return web.json_response({"error": message, **_positions(found)}, status=410)
    events = [_event(entry.serial, entry.published_at, entry.text) for entry in found.events]
    return web.json_response({"events": events, **_positions(found)})


def _positions(found: HistoryPage) -> dict[str, Any]:
    return {"position": found.position, "oldest": found.oldest}


def _event(serial: int, published_at: float, text: str) -> dict[str, Any]:
    envelope = codec.loads(text)
    return {
        "serial": serial,
        "event": envelope.get("event"),
        "data": envelope.get("data"),
        "published_at": int(published_at * 1000),
    }
