"""The broker seam: the only code that knows whether other nodes exist.

Everything a socket or the HTTP API does that reaches beyond one socket goes through a ``Broker``: joining and
leaving channels (with presence), publishing, the channel and user queries, sign-in and terminating a user's
connections. ``LocalBroker`` keeps all of it in this process; ``RedisBroker`` shares it across nodes. Every method
answers for the whole cluster.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeAlias

from ...protocol.actions import Member, User
from ...protocol.apps import AppConfig
from ...protocol.channels import ChannelType, classify
from ...protocol.console import LogEntry
from ...protocol.errors import ApiError
from ...protocol.events import Presence
from ...protocol.history import HistoryJoin, HistoryPage
from ...protocol.idempotency import PublishClaim
from ...protocol.webhooks import WebhookEvent
from .subscriber import Subscriber


class BrokerSettings(Protocol):
    """What a broker reads of the server's settings. ``server.settings.Settings`` has these and more; naming them
    here keeps the broker below the server shell (it imports nothing from it)."""

    @property
    def apps(self) -> tuple[AppConfig, ...]: ...
    @property
    def cache_ttl_seconds(self) -> float: ...
    @property
    def redis_url(self) -> str | None: ...
    @property
    def redis_prefix(self) -> str: ...
    @property
    def redis_cluster(self) -> bool: ...
    @property
    def redis_bus_shards(self) -> int: ...
    @property
    def cluster_secret(self) -> str | None: ...
    @property
    def node_heartbeat_seconds(self) -> float: ...
    @property
    def node_ttl_seconds(self) -> float: ...


WebhookSink: TypeAlias = Callable[[AppConfig, WebhookEvent], None]
"""Receives webhook events as they happen on this node."""


def no_webhooks(app: AppConfig, event: WebhookEvent) -> None:
    """The sink used when webhooks are off."""


class ConsoleSink(Protocol):
    """The debug console as the broker sees it (``server/console/hub.py``'s ``ConsoleHub``), so the broker records
    what it alone decides (channel occupied, member added, …) without importing the shell."""

    def watching(self, app_id: str) -> bool:
        """Whether the app's entries are wanted (by a console here or on another node); ask before building one."""
        ...

    def record(self, entry: LogEntry) -> None: ...

    def receive(self, app_id: str, entries: Sequence[LogEntry], dropped: int) -> None:
        """Entries another node made for an app watched here, and how many of them that node dropped."""
        ...


class _NoConsole:
    """The console of a broker built without one: nobody watches."""

    def watching(self, app_id: str) -> bool:
        return False

    def record(self, entry: LogEntry) -> None:
        """Nothing is recorded."""

    def receive(self, app_id: str, entries: Sequence[LogEntry], dropped: int) -> None:
        """Nothing is watched here."""


NO_CONSOLE: Final[ConsoleSink] = _NoConsole()


class ConsoleLink(Protocol):
    """How a node's console reaches the other nodes (the Redis broker's ``redis_console.ConsoleRelay``)."""

    def watched_elsewhere(self, app_id: str) -> bool:
        """Whether a console on another node watches the app now."""
        ...

    def watch_changed(self, app_id: str, watched: bool) -> None:
        """This node started watching an app (its first console) or stopped (its last console left)."""
        ...

    def forward(self, entry: LogEntry) -> None:
        """Send one of this node's entries to the nodes that watch its app (batched, bounded; never raises)."""
        ...


def now_ms() -> int:
    """Wall-clock milliseconds: a console entry's ``at_ms``."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    occupied: bool
    subscription_count: int
    user_count: int | None = None
    """Distinct presence users; None for channels that are not presence channels."""

    @classmethod
    def of(cls, channel: str, subscriptions: int, users: int) -> ChannelInfo:
        """What the HTTP API reports for a channel with these totals: a user count for presence channels only."""
        return cls(subscriptions > 0, subscriptions, users if classify(channel).is_presence else None)


def listed(channel: str) -> bool:
    """Whether ``GET /channels`` lists a channel: the server's own ``#server-to-user-`` channels stay hidden."""
    return not channel.startswith("#")


class HistoryUnavailable(ApiError):
    """503: the channel keeps history and the broker cannot reach the shared store that hands out its serials (Redis),
    so its event is refused rather than delivered without a serial nobody can resume from."""

    def __init__(self) -> None:
        super().__init__(503, "history needs Redis; retry", retry_after=1)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cache channel's last event, as sent to subscribers, and its seconds left to live."""

    text: str
    ttl: float


@dataclass(frozen=True, slots=True)
class JoinResult:
    presence: Presence | None
    cache: CacheEntry | None
    history: HistoryJoin | None = None
    """On a channel that keeps history: the subscriber's position and what it is sent before live events."""


class Broker(abc.ABC):
    """Channels, presence, publishing and queries, cluster-wide."""

    @property
    def healthy(self) -> bool:
        """False while the broker cannot reach its shared state (the node still serves its own sockets)."""
        return True

    async def start(self) -> None:
        """Connect to shared state and start background tasks."""

    async def stop(self) -> None:
        """Stop background tasks and disconnect; called after every socket is closed."""

    @abc.abstractmethod
    async def add_client(self, client: Subscriber) -> bool:
        """Count a new connection; False when the app is over its connection quota (nothing was counted)."""

    @abc.abstractmethod
    async def remove_client(self, client: Subscriber) -> None:
        """Forget a closed connection: leave all its channels and sign it out."""

    @abc.abstractmethod
    async def join(
        self,
        client: Subscriber,
        channel: str,
        channel_type: ChannelType,
        member: Member | None,
        resume_after: int | None = None,
    ) -> JoinResult:
        """Subscribe a socket; sends member_added to the others on a user's first socket.

        On a channel that keeps history (``app.history_rule``), the result's ``history`` says what the socket is
        sent first: the events after ``resume_after`` (or the rule's rewind when it is None), or why they cannot
        be. The socket must become a live subscriber in the same step (no await in between) as that replay is
        decided, and the caller sends the replay before it awaits anything: then no live event is missed,
        doubled or sent ahead of the replay.

        Raises:
            MemberLimitReached: the presence channel is full (a ``ProtocolError``).
        """

    @abc.abstractmethod
    async def leave(self, client: Subscriber, channel: str) -> None:
        """Unsubscribe a socket; sends member_removed when it was the user's last socket."""

    async def leave_all(self, client: Subscriber) -> None:
        """Leave every channel a closing socket is on (the first step of ``remove_client``)."""
        for channel in list(client.connection.channels):
            client.connection.channels.pop(channel, None)
            await self.leave(client, channel)

    @abc.abstractmethod
    async def publish(
        self, app: AppConfig, channel: str, text: str, except_socket_id: str | None = None, *, keep: bool = True
    ) -> int | None:
        """Deliver an encoded channel event to every subscriber but ``except_socket_id``, once.

        On a channel that keeps history (and unless ``keep`` is False, as for client events), the event is kept
        and gets its serial, which is returned and spliced into what subscribers get (``codec.with_serial``);
        otherwise None.
        """

    @abc.abstractmethod
    async def history(self, app: AppConfig, channel: str, after: int | None, limit: int) -> HistoryPage:
        """The kept events of ``channel`` after position ``after`` (None: the latest), at most ``limit``."""

    @abc.abstractmethod
    async def claim_publish(self, app: AppConfig, key: str, window: float) -> PublishClaim:
        """Claim an ``idempotency_key`` of ``app`` for ``window`` seconds, cluster-wide: ``first`` for exactly one
        of any number of concurrent claims (it delivers, then calls ``settle_publish`` or ``release_publish``); a
        repeat within the window gets the first's settled reply, or None while that is not known."""

    @abc.abstractmethod
    async def settle_publish(self, app: AppConfig, key: str, reply: str) -> None:
        """Store the reply (JSON text) of a key's first publish, for its repeats; the window is not extended."""

    @abc.abstractmethod
    async def release_publish(self, app: AppConfig, key: str) -> None:
        """Forget the claim of a key whose first publish failed, so that the publisher's retry is delivered."""

    @abc.abstractmethod
    async def sign_in(self, client: Subscriber, user: User) -> None:
        """Record a signed-in socket, send its watchlist's state and tell watchers it came online."""

    @abc.abstractmethod
    async def terminate_user(self, app: AppConfig, user_id: str) -> None:
        """Close every signed-in connection of a user."""

    @abc.abstractmethod
    async def connection_count(self, app: AppConfig) -> int: ...

    @abc.abstractmethod
    async def channel_info(self, app: AppConfig, channel: str) -> ChannelInfo: ...

    @abc.abstractmethod
    async def channels(self, app: AppConfig, prefix: str = "") -> dict[str, ChannelInfo]:
        """Every occupied channel whose name starts with ``prefix``."""

    @abc.abstractmethod
    async def presence_user_ids(self, app: AppConfig, channel: str) -> list[str]: ...

    @abc.abstractmethod
    async def cache_entry(self, app: AppConfig, channel: str) -> CacheEntry | None: ...

    @abc.abstractmethod
    def local_clients(self) -> list[Subscriber]:
        """The sockets connected to this node (for pings, shutdown and metrics)."""

    @property
    def node_name(self) -> str:
        """This node's name in a cluster (stamped on console entries); empty when this is the only node."""
        return ""

    @property
    def console_link(self) -> ConsoleLink | None:
        """How the console reaches other nodes; None when there are none."""
        return None

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-app gauges of this node for /metrics (connections, channels, subscriptions)."""
        return {}

    def counters(self) -> dict[str, int]:
        """Node-wide counters for /metrics, by name (``bus_messages_refused`` becomes
        ``pusherpy_bus_messages_refused_total``): what no app can be blamed for."""
        return {}

    async def claim(self, app: AppConfig, name: str, ttl: float) -> bool | None:
        """Claim ``name`` of ``app`` for ``ttl`` seconds across the cluster: True for the first claim, False while
        an earlier one holds; None when there is no cluster to ask (the caller decides on this node alone)."""
        return None
