"""Console entries about one socket, built the same way wherever a socket does something (``ws.py``).

Callers ask ``state.console.watching(app_id)`` first, so nothing here runs for an app nobody watches.
"""

from __future__ import annotations

from ...protocol.console import LogEntry, LogKind, preview_of
from ..broker.base import now_ms
from ..client import Client


def socket_entry(
    kind: LogKind,
    client: Client,
    *,
    user_id: str | None = None,
    channel: str = "",
    event: str = "",
    origin: str = "",
    data: str | None = None,
    code: int | None = None,
    message: str = "",
) -> LogEntry:
    """An entry about ``client``: its socket id, and its user id once it signed in (unless ``user_id`` says
    otherwise, as a presence member's does).

    Args:
        data: a payload, logged as its size in bytes and its ``preview_of``.
    """
    if user_id is None:
        user = client.connection.user
        user_id = user.id if user is not None else ""
    return LogEntry(
        kind=kind,
        app_id=client.app.id,
        at_ms=now_ms(),
        socket_id=client.socket_id,
        user_id=user_id,
        channel=channel,
        event=event,
        origin=origin,
        size=None if data is None else len(data.encode("utf-8", "surrogatepass")),
        preview="" if data is None else preview_of(data),
        code=code,
        message=message,
    )
