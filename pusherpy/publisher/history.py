"""Channel history as the publisher reads it: ``GET /apps/{id}/channels/{channel}/events`` (pusherpy only).

A channel matching one of the server's ``[[apps.history]]`` rules keeps its last events, each with a ``serial``
(strictly increasing per channel). A backend reads them to fill a page that opened late, or to check what a
client missed. Nothing here performs I/O: this module checks the query and types the answer.
"""

from __future__ import annotations

from typing import Any, Final, TypedDict

from pusherpy.protocol import codec

from .errors import InvalidArgument, UnexpectedStatus

DEFAULT_HISTORY_LIMIT: Final = 100
MAX_HISTORY_LIMIT: Final = 1000


class HistoryEvent(TypedDict):
    """One kept event: its serial, name, ``data`` string exactly as subscribers got it, and publish time (ms)."""

    serial: int
    event: str
    data: str
    published_at: int


class ChannelHistory(TypedDict):
    """The answer: ``events`` oldest first; ``position`` the channel's last serial; ``oldest`` the oldest serial
    still kept (None when nothing is)."""

    events: list[HistoryEvent]
    position: int
    oldest: int | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def history_params(after: int | None, limit: int) -> dict[str, str]:
    """Return the query of a history request.

    Raises:
        InvalidArgument: ``after`` is not an int >= 0, or ``limit`` is not 1..1000.
    """
    if after is not None and not (_is_int(after) and after >= 0):
        raise InvalidArgument(f"after={after!r} must be a serial (an integer >= 0) or None")
    if not (_is_int(limit) and 1 <= limit <= MAX_HISTORY_LIMIT):
        raise InvalidArgument(f"limit={limit!r} must be an integer from 1 to {MAX_HISTORY_LIMIT}")
    params = {"limit": str(limit)}
    if after is not None:
        params["after"] = str(after)
    return params


def as_channel_history(value: Any) -> ChannelHistory:
    """Check the answer's shape and return it typed.

    Raises:
        UnexpectedStatus: the server answered 200 with something else (not a pusherpy server with history?).
    """
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("events"), list)
        or not _is_int(value.get("position"))
        or not (value.get("oldest") is None or _is_int(value.get("oldest")))
    ):
        raise UnexpectedStatus(200, f"not a channel history answer: {codec.dumps(value)[:200]}")
    events: list[HistoryEvent] = []
    for event in value["events"]:
        if (
            not isinstance(event, dict)
            or not _is_int(event.get("serial"))
            or not isinstance(event.get("event"), str)
            or not isinstance(event.get("data"), str)
            or not _is_int(event.get("published_at"))
        ):
            raise UnexpectedStatus(200, f"not a history event: {codec.dumps(event)[:200]}")
        events.append(
            {
                "serial": event["serial"],
                "event": event["event"],
                "data": event["data"],
                "published_at": event["published_at"],
            }
        )
    return {"events": events, "position": value["position"], "oldest": value.get("oldest")}
