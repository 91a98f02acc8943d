"""An app's credentials and policy, as plain frozen data.

Nothing here performs I/O. ``server/settings.py`` builds these from TOML, the environment and the CLI, deriving
what it accepts from the fields below (their types, and ``bounded`` for their bounds): a new field is one edit here.
The protocol core reads them to decide what a socket may do.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from .bounds import Bounds, bounded, within
from .history import HistoryRule, rule_for
from .redact import redacted_repr
from .webhooks import WebhookEvent, WebhookName

WEBHOOK_EVENT_TYPES: Final = frozenset(name.value for name in WebhookName)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelFilter:
    """Which channels' webhook events an endpoint gets (soketi's ``channel_name_starts_with/ends_with``).

    A channel passes when its name starts with one of ``starts_with`` (or that is empty) and ends with one of
    ``ends_with`` (or that is empty): the empty filter passes every channel.
    """

    starts_with: tuple[str, ...] = ()
    ends_with: tuple[str, ...] = ()

    def passes(self, channel: str) -> bool:
        return (not self.starts_with or channel.startswith(self.starts_with)) and (
            not self.ends_with or channel.endswith(self.ends_with)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookTarget:
    """Where an app's webhooks go, which of them that endpoint wants, and how it is asked."""

    url: str
    """May carry credentials (``https://user:password@host/path?token=...``): shown redacted, as in logs."""
    event_types: frozenset[str] = WEBHOOK_EVENT_TYPES
    filter: ChannelFilter = ChannelFilter()
    """Only events of channels that pass it are sent here (all channels by default)."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra request headers (an API key for the receiver's gateway), name and value; the values are shown hidden,
    and none may be one that signing or framing owns (``protocol.webhooks.header_problem``)."""
    timeout_seconds: float = bounded(10.0, minimum=0.1, maximum=300.0)
    """How long one request to this endpoint may take, connecting included; then it counts as failed (and is
    retried). A slow endpoint waits on its own queue only: the app's other endpoints are not held up."""

    def wants(self, event: WebhookEvent) -> bool:
        """Whether this endpoint gets the event: its type is one of ``event_types`` and its channel passes."""
        return event.name in self.event_types and self.filter.passes(event.channel)

    def __repr__(self) -> str:
        return redacted_repr(self, urls=("url",), headers=("headers",))


@dataclass(frozen=True, slots=True, kw_only=True)
class AppConfig:
    """One Pusher app: credentials, switches and limits. Limits of 0 mean "no limit"; no number is negative."""

    id: str
    key: str
    secret: str = field(repr=False)
    """Signs and checks every signature of the app; never shown (``repr`` leaves it out)."""
    name: str = ""
    enabled: bool = True
    enable_client_events: bool = True
    enable_user_authentication: bool = True
    authorized_connections_only: bool = False
    """Close a socket that neither signs in nor joins a private/presence channel within ``auth_timeout``."""
    auth_timeout: float = bounded(30.0, minimum=0.1)
    enable_subscription_count: bool = False
    allowed_origins: tuple[str, ...] = bounded(("*",), what="host patterns")
    max_connections: int = 0
    max_presence_members: int = 100
    max_presence_member_size_bytes: int = bounded(1024, minimum=1)
    max_presence_user_id_length: int = bounded(128, minimum=1)
    max_event_payload_kb: int = bounded(10, minimum=1)
    max_client_events_per_second: int = 10
    max_messages_per_second: int = 200
    """Messages of any kind one socket may send per second, WebSocket pings and pongs included (0: no limit).
    Excess messages get a ``pusher:error`` 4301 and are ignored; a socket that keeps sending at twice the limit is
    closed with 4100 (reconnect later). The default lets a page subscribe to all of ``max_channels_per_connection``
    channels at once, twice over."""
    max_api_requests_per_second: int = 0
    """Signed HTTP API requests per second for the app (0: no limit); excess ones get 429 with ``Retry-After``."""
    max_channels_per_connection: int = 100
    """Channels one socket may be subscribed to at once (0: no limit); one more gets a ``pusher:subscription_error``
    (``LimitReached``) and the socket stays up."""
    max_channels_per_trigger: int = bounded(100, minimum=1)
    max_batch_size: int = bounded(10, minimum=1)
    max_watchlist_size: int = 100
    activity_timeout: int = bounded(120, minimum=1)
    """Seconds of silence after which a client pings (sent to it in ``pusher:connection_established``)."""
    ping_interval: int | None = within(None, Bounds(minimum=1))
    """Seconds of silence after which the server pings a socket (Reverb's ``ping_interval``); None: the
    ``activity_timeout``. A socket that then stays silent for ``pong_timeout`` is closed (4201)."""
    idempotency_window_seconds: float = bounded(300.0, maximum=86400.0)
    """Seconds during which a publish repeating an earlier one's ``idempotency_key`` is answered 200 and not
    delivered again (a publisher's retry); 0: off (keys are still checked, never remembered)."""
    webhooks: tuple[WebhookTarget, ...] = field(default_factory=tuple)
    history: tuple[HistoryRule, ...] = field(default_factory=tuple)
    """Channels whose recent events are kept (``[[apps.history]]``) for rewind, resume and the history API."""
    max_history_channels: int = bounded(10_000, minimum=1)
    """Channels with a history record kept at once per app on one node's memory; past it, the least recently
    used record is forgotten (its subscribers' positions then read as unknown)."""

    def history_rule(self, channel: str) -> HistoryRule | None:
        """The ``[[apps.history]]`` entry that keeps ``channel``'s events, or None (most apps: no rules at all)."""
        return rule_for(self.history, channel) if self.history else None

    @property
    def server_ping_after(self) -> int:
        """Seconds of silence before the server pings a socket."""
        return self.activity_timeout if self.ping_interval is None else self.ping_interval

    @property
    def max_event_payload_bytes(self) -> int:
        return self.max_event_payload_kb * 1024

    def origin_allowed(self, origin: str | None) -> bool:
        """Check a browser's ``Origin`` header against ``allowed_origins`` host patterns (``*`` wildcards).

        The host is compared, not the port or scheme (as Reverb does), so a page on another port of an allowed
        host passes; a pattern written as an origin (``http://localhost:3000``) stands for its host. A request
        without an ``Origin`` (not a browser) passes; an ``Origin`` with no readable host does not.
        """
        if "*" in self.allowed_origins or not origin:
            return True
        host = _host_of(origin).lower()
        if not host:
            return False
        return any(fnmatch.fnmatchcase(host, _host_of(pattern).lower()) for pattern in self.allowed_origins)


def _host_of(origin: str) -> str:
    """The host of an origin or of a pattern: ``http://localhost:3000`` and ``localhost`` both give ``localhost``."""
    if "://" not in origin:
        return origin.partition(":")[0] if origin.count(":") == 1 else origin
    try:
        return urlsplit(origin).hostname or ""
    except ValueError:  # a malformed port or IPv6 literal: no host to compare
        return ""
