"""What the debug console shows: one typed ``LogEntry`` per thing that happened to an app, and the preview rule.

Nothing here performs I/O or reads a clock (``at_ms`` is given by the shell). The shell records entries only for
an app a console watches (``server/console/hub.py``); the console page receives them encoded by ``entry_fields``,
and other nodes of a cluster the same fields (``entry_from_fields`` reads them back).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

PREVIEW_CHARS: Final = 500
"""A payload shown in the log is cut to this many characters (the size field still says the whole size)."""


class LogKind(StrEnum):
    """What happened; the value is the name the console page shows and filters on."""

    CONNECTED = "connection_opened"
    DISCONNECTED = "connection_closed"
    SIGNED_IN = "signed_in"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    OCCUPIED = "channel_occupied"
    VACATED = "channel_vacated"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    API_EVENT = "api_event"
    CLIENT_EVENT = "client_event"
    WEBHOOK_SENT = "webhook_sent"
    WEBHOOK_FAILED = "webhook_failed"
    WEBHOOK_RETRIED = "webhook_retried"
    ERROR_SENT = "error_sent"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One line of an app's console log. Fields a kind does not use stay empty (and are left out of the JSON)."""

    kind: LogKind
    app_id: str
    at_ms: int
    """Wall-clock milliseconds when it happened, on the node where it happened."""
    node: str = ""
    """The node (or worker) it happened on, when scaled out."""
    socket_id: str = ""
    channel: str = ""
    event: str = ""
    user_id: str = ""
    origin: str = ""
    size: int | None = None
    """Bytes of the whole payload (``preview`` may be cut)."""
    preview: str = ""
    code: int | None = None
    """A close code, a ``pusher:error`` code, or a webhook endpoint's HTTP status."""
    message: str = ""
    """A close reason, an error message, a webhook URL (redacted) and outcome."""


def preview_of(data: str) -> str:
    """The part of a payload the log shows: at most ``PREVIEW_CHARS`` characters, ``…`` marking a cut."""
    return data if len(data) <= PREVIEW_CHARS else data[: PREVIEW_CHARS - 1] + "…"


def entry_fields(entry: LogEntry) -> dict[str, Any]:
    """The entry as the console page reads it (empty fields left out); encode with ``codec.dumps``."""
    fields: dict[str, Any] = {"kind": entry.kind.value, "app_id": entry.app_id, "at_ms": entry.at_ms}
    for name in ("node", "socket_id", "channel", "event", "user_id", "origin", "preview", "message"):
        value = getattr(entry, name)
        if value:
            fields[name] = value
    if entry.size is not None:
        fields["size"] = entry.size
    if entry.code is not None:
        fields["code"] = entry.code
    return fields


_TEXT_FIELDS: Final = ("app_id", "node", "socket_id", "channel", "event", "user_id", "origin", "preview", "message")
_NUMBER_FIELDS: Final = ("at_ms", "size", "code")


def entry_from_fields(fields: object) -> LogEntry:
    """The entry ``entry_fields`` made (as another node sent it), every field checked.

    Raises:
        ValueError: not such fields: an unknown kind or field, or a field of the wrong type.
    """
    if not isinstance(fields, dict):
        raise ValueError("a log entry must be an object")
    unknown = fields.keys() - {"kind", *_TEXT_FIELDS, *_NUMBER_FIELDS}
    if unknown:
        raise ValueError(f"unknown log entry field {sorted(unknown)[0][:40]!r}")
    kind = LogKind(str(fields.get("kind")))
    for name in _TEXT_FIELDS:
        if not isinstance(fields.get(name, ""), str):
            raise ValueError(f"log entry field {name} must be a string")
    for name in _NUMBER_FIELDS:
        value = fields.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"log entry field {name} must be an integer")
    if "at_ms" not in fields or "app_id" not in fields:
        raise ValueError("a log entry needs app_id and at_ms")
    values = {name: value for name, value in fields.items() if name != "kind"}
    return LogEntry(kind=kind, **values)
