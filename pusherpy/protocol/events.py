"""Every wire event of Pusher protocol 7, as frozen dataclasses: the only home of wire names.

Nothing here performs I/O. Inbound events (client to server) are built by ``codec.decode``; outbound events
(server to client) are turned into text by ``codec.encode``. Each class carries its wire name in ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeAlias

JsonObject: TypeAlias = dict[str, Any]

PROTOCOL_EVENT_PREFIXES: Final = ("pusher:", "pusher_internal:")
"""Events the protocol reserves (client events start with ``client-``, see ``channels``)."""


# -- client to server ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe:
    """Pusher protocol: pusher:subscribe. ``channel_data`` is kept as the exact string the client sent."""

    name: ClassVar[str] = "pusher:subscribe"
    channel: str
    auth: str | None = None
    channel_data: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribe:
    name: ClassVar[str] = "pusher:unsubscribe"
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """Pusher protocol: pusher:ping, sent by either side; answered with pusher:pong."""

    name: ClassVar[str] = "pusher:ping"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    """The answer to pusher:ping, from either side."""

    name: ClassVar[str] = "pusher:pong"


@dataclass(frozen=True, slots=True, kw_only=True)
class Signin:
    """Pusher protocol: pusher:signin. ``user_data`` is the exact JSON string that was signed."""

    name: ClassVar[str] = "pusher:signin"
    auth: str
    user_data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientEvent:
    """A ``client-*`` event (a whisper). ``data`` is the raw JSON value as the client sent it."""

    name: ClassVar[str] = "client-*"
    event: str
    channel: str
    data: Any


Inbound: TypeAlias = Subscribe | Unsubscribe | Ping | Pong | Signin | ClientEvent


# -- server to client ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionEstablished:
    name: ClassVar[str] = "pusher:connection_established"
    socket_id: str
    activity_timeout: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """Pusher protocol: pusher:error, sent with an object ``data`` as the protocol docs show."""

    name: ClassVar[str] = "pusher:error"
    code: int | None
    message: str
    channel: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionError:
    """``pusher:subscription_error`` on a channel: pusher-js and Echo's ``.error()`` callbacks receive it."""

    name: ClassVar[str] = "pusher:subscription_error"
    channel: str
    type: str
    error: str
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Presence:
    """The member list sent with a presence subscription."""

    ids: list[str]
    hash: dict[str, Any]

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionSucceeded:
    name: ClassVar[str] = "pusher_internal:subscription_succeeded"
    channel: str
    presence: Presence | None = None
    serial: int | None = None
    """On a channel that keeps history: the subscriber's position once any replay is sent (a top-level field)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberAdded:
    name: ClassVar[str] = "pusher_internal:member_added"
    channel: str
    user_id: str
    user_info: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRemoved:
    name: ClassVar[str] = "pusher_internal:member_removed"
    channel: str
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent:
    """An event on a channel, from the HTTP API or a client. ``data`` is the already-encoded data string
    (or, for a relayed client event, the raw JSON value the client sent)."""

    name: ClassVar[str] = "<channel event>"
    event: str
    channel: str
    data: Any
    user_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheMiss:
    name: ClassVar[str] = "pusher:cache_miss"
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SigninSuccess:
    name: ClassVar[str] = "pusher:signin_success"
    user_data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchlistChange:
    """One entry of ``pusher_internal:watchlist_events``: ``name`` is "online" or "offline"."""

    name: str
    user_ids: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchlistEvents:
    name: ClassVar[str] = "pusher_internal:watchlist_events"
    events: list[WatchlistChange] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionCount:
    name: ClassVar[str] = "pusher_internal:subscription_count"
    channel: str
    subscription_count: int


Outbound: TypeAlias = (
    ConnectionEstablished
    | Error
    | SubscriptionError
    | SubscriptionSucceeded
    | MemberAdded
    | MemberRemoved
    | ChannelEvent
    | CacheMiss
    | SigninSuccess
    | WatchlistEvents
    | SubscriptionCount
    | Ping
    | Pong
)
