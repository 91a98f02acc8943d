"""What nodes say to each other on the bus, as typed values; the only code that encodes or decodes them.

A message is one line of JSON header (kind, sender node, app, two arguments), then a body carried as is: an
encoded channel event crosses Redis without being decoded or encoded again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

from ...protocol import codec
from ...protocol.console import LogEntry, entry_fields, entry_from_fields

# -- messages ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelEventMessage:
    """A channel event for the other nodes' subscribers (all but ``except_socket_id``), encoded once by the sender."""

    node_id: str
    app_id: str
    channel: str
    except_socket_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class KeptEventMessage:
    """A channel event of a kept channel and its serial (``text`` already carries it): receivers deliver kept
    channels in serial order (``sequencer``)."""

    node_id: str
    app_id: str
    channel: str
    except_socket_id: str | None
    serial: int
    text: str


@dataclass(frozen=True, slots=True)
class CountMessage:
    """A ``subscription_count`` event and the version of its count (receivers keep only the newest)."""

    node_id: str
    app_id: str
    channel: str
    version: int
    text: str


@dataclass(frozen=True, slots=True)
class WatchlistMessage:
    """A user came online or went offline: the other nodes tell their watchers."""

    node_id: str
    app_id: str
    user_id: str
    online: bool


@dataclass(frozen=True, slots=True)
class TerminateMessage:
    """terminate_connections: the other nodes close the user's signed-in sockets."""

    node_id: str
    app_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ConsoleWatchMessage:
    """A debug console on ``node_id`` watches the app (``watching``; said again every heartbeat, forgotten after the
    node TTL) or no longer does: the other nodes forward the app's entries while it is watched."""

    node_id: str
    app_id: str
    watching: bool


@dataclass(frozen=True, slots=True)
class ConsoleEntriesMessage:
    """Console entries of one app made on ``node_id``, for the nodes that watch it, and how many entries that node
    dropped since its last batch (over its forwarding bound)."""

    node_id: str
    app_id: str
    dropped: int
    entries: tuple[LogEntry, ...]


@dataclass(frozen=True, slots=True)
class HeartbeatMessage:
    """Published on every subscription by its own node; hearing it back proves the subscription alive."""

    node_id: str


BusMessage: TypeAlias = (
    ChannelEventMessage
    | KeptEventMessage
    | CountMessage
    | WatchlistMessage
    | TerminateMessage
    | ConsoleWatchMessage
    | ConsoleEntriesMessage
    | HeartbeatMessage
)
OnMessage = Callable[[BusMessage], Awaitable[None]]


class BadBusMessage(ValueError):
    """A bus message that is not one pusherpy sends (another program publishing on the bus channel, a bug)."""


def encode(message: BusMessage) -> str:
    """A JSON header line (kind, sender node, app, two arguments), then the body as is.

    The body (an encoded channel event) is appended untouched, so it crosses Redis without being re-encoded. A kept
    event's body is its serial, a newline, then the event.
    """
    body = ""
    match message:
        case ChannelEventMessage(node_id, app_id, channel, except_socket_id, text):
            header, body = ["e", node_id, app_id, channel, except_socket_id or ""], text
        case KeptEventMessage(node_id, app_id, channel, except_socket_id, serial, text):
            header, body = ["k", node_id, app_id, channel, except_socket_id or ""], f"{serial}\n{text}"
        case CountMessage(node_id, app_id, channel, version, text):
            header, body = ["c", node_id, app_id, channel, str(version)], text
        case WatchlistMessage(node_id, app_id, user_id, online):
            header = ["w", node_id, app_id, user_id, "online" if online else "offline"]
        case TerminateMessage(node_id, app_id, user_id):
            header = ["t", node_id, app_id, user_id, ""]
        case ConsoleWatchMessage(node_id, app_id, watching):
            header = ["cw", node_id, app_id, "watching" if watching else "stopped", ""]
        case ConsoleEntriesMessage(node_id, app_id, dropped, entries):
            header, body = ["cl", node_id, app_id, str(dropped), ""], codec.dumps([entry_fields(e) for e in entries])
        case HeartbeatMessage(node_id):
            header = ["h", node_id, "", "", ""]
    return codec.dumps(header) + "\n" + body


def decode(data: str) -> BusMessage:
    """The message ``encode`` made.

    Raises:
        BadBusMessage: the text is not a pusherpy bus message.
    """
    header, _, body = data.partition("\n")
    try:
        kind, node_id, app_id, first, second = codec.loads(header)
    except (ValueError, TypeError):
        raise BadBusMessage("header is not a 5-item JSON list") from None
    if not all(isinstance(part, str) for part in (kind, node_id, app_id, first, second)):
        raise BadBusMessage("header items must be strings")
    if kind == "e":
        return ChannelEventMessage(node_id, app_id, first, second or None, body)
    if kind == "k":
        serial, _, text = body.partition("\n")
        if serial.isascii() and serial.isdigit() and len(serial) <= 16:
            return KeptEventMessage(node_id, app_id, first, second or None, int(serial), text)
        raise BadBusMessage("a kept event without a serial")
    if kind == "c" and second.isdigit():
        return CountMessage(node_id, app_id, first, int(second), body)
    if kind == "w" and second in ("online", "offline"):
        return WatchlistMessage(node_id, app_id, first, second == "online")
    if kind == "t":
        return TerminateMessage(node_id, app_id, first)
    if kind == "cw" and first in ("watching", "stopped"):
        return ConsoleWatchMessage(node_id, app_id, first == "watching")
    if kind == "cl" and first.isascii() and first.isdigit() and len(first) <= 16:
        return ConsoleEntriesMessage(node_id, app_id, int(first), _console_entries(app_id, body))
    if kind == "h":
        return HeartbeatMessage(node_id)
    raise BadBusMessage(f"unknown kind {kind[:8]!r}")


def _console_entries(app_id: str, body: str) -> tuple[LogEntry, ...]:
    try:
        items = codec.loads(body)
        if not isinstance(items, list):
            raise ValueError("not a list")
        entries = tuple(entry_from_fields(item) for item in items)
    except (ValueError, TypeError) as error:
        raise BadBusMessage(f"console entries: {str(error)[:80]}") from None
    if any(entry.app_id != app_id for entry in entries):  # the MAC is the header app's: no other app's entries
        raise BadBusMessage("console entries of another app")
    return entries


def routing_key(message: BusMessage) -> str:
    """What picks the bus shard: a Pusher channel (its events stay in order), or ``#user`` for a user's news."""
    match message:
        case ChannelEventMessage(channel=channel) | KeptEventMessage(channel=channel) | CountMessage(channel=channel):
            return channel
        case WatchlistMessage(user_id=user_id) | TerminateMessage(user_id=user_id):
            return "#" + user_id
        case ConsoleWatchMessage(app_id=app_id) | ConsoleEntriesMessage(app_id=app_id):
            return "#console:" + app_id  # one app's entries stay in order
        case HeartbeatMessage():
            return ""
