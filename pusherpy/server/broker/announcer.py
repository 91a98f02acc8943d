"""Who is told what when a total crosses a line: the one place that turns transitions into frames and webhooks.

Both brokers feed it typed ``Transition`` values: ``LocalBroker`` from its registry's outcomes, ``RedisBroker``
from the changes its Lua scripts report (in a cluster, exactly one node sees each transition). The announcer
decides the consequences, the same for both:

- ``channel_occupied`` / ``channel_vacated`` webhooks;
- ``pusher_internal:member_added`` to the channel's other sockets and ``member_removed`` to all, with webhooks;
- ``pusher_internal:subscription_count`` (opt-in per app; not for presence channels, whose members are the count,
  nor for ``#server-to-user-`` channels, which are pusher-js's sign-in plumbing), at most every 5 s above 100
  subscribers, with one trailing update when a throttled window ends, so a count never stays stale;
- watchlist ``online`` / ``offline`` to the users' watchers;
- the ``cache_miss`` webhook, once for a burst of subscribers to an empty cache channel;
- the debug console's ``channel_occupied`` / ``channel_vacated`` / ``member_added`` / ``member_removed`` entries,
  when a console watches the app (in a cluster, the one node that saw the transition records it, and the console
  relay carries it to the node that watches).

How a frame reaches every node's sockets is the broker's part (``Fanout``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeAlias

from ...protocol import codec
from ...protocol import webhooks as webhook
from ...protocol.apps import AppConfig
from ...protocol.channels import ChannelKind, classify
from ...protocol.console import LogEntry, LogKind
from ...protocol.events import MemberAdded, MemberRemoved, SubscriptionCount
from .base import NO_CONSOLE, ConsoleSink, WebhookSink, now_ms
from .tasks import TaskSet

CACHE_MISS_WEBHOOK_INTERVAL: Final = 10.0
CACHE_MISS_MEMORY: Final = 10_000
"""At most this many channels' last cache_miss webhook are remembered (then forgotten all at once)."""
SUBSCRIPTION_COUNT_THROTTLE_ABOVE: Final = 100
SUBSCRIPTION_COUNT_THROTTLE_SECONDS: Final = 5.0


# -- transitions ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelOccupied:
    """The channel got its first subscriber (anywhere in the cluster)."""

    channel: str


@dataclass(frozen=True, slots=True)
class ChannelVacated:
    """The channel lost its last subscriber."""

    channel: str


@dataclass(frozen=True, slots=True)
class SubscriptionCountChanged:
    """The channel's subscriber count moved to ``count`` (> 0); ``version`` orders counts made on different nodes."""

    channel: str
    count: int
    version: int


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """A presence user's first socket joined the channel; ``except_socket_id`` is that socket (it is not told)."""

    channel: str
    user_id: str
    user_info: Any
    except_socket_id: str | None


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """A presence user's last socket left the channel."""

    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class UserOnlineChanged:
    """A user signed in on its first socket (``online``) or signed out of its last one."""

    user_id: str
    online: bool


Transition: TypeAlias = (
    ChannelOccupied | ChannelVacated | SubscriptionCountChanged | MemberJoined | MemberLeft | UserOnlineChanged
)


class Fanout(Protocol):
    """How an announcement reaches the sockets of every node: the broker's part."""

    async def broadcast(self, app_id: str, channel: str, text: str, except_socket_id: str | None) -> None:
        """Deliver an encoded channel event to every subscriber but ``except_socket_id``."""

    async def broadcast_count(self, app_id: str, channel: str, text: str, version: int) -> None:
        """Deliver a subscription_count event; receivers drop it if they delivered a newer ``version``."""

    async def broadcast_watchlist(self, app_id: str, user_id: str, online: bool) -> None:
        """Tell every watcher of ``user_id`` that it came online or went offline."""


def counts_subscriptions(app: AppConfig, channel: str) -> bool:
    """Whether subscribers of ``channel`` get ``pusher_internal:subscription_count``."""
    if not app.enable_subscription_count:
        return False
    channel_type = classify(channel)
    return not channel_type.is_presence and channel_type.kind is not ChannelKind.SERVER_TO_USER


class Announcer:
    """Announces transitions: frames through the ``Fanout``, webhooks to the sink.

    Args:
        fanout: delivers frames to every node's sockets.
        webhooks: receives the webhook events.
        clock: seconds, monotonic (throttling and the cache_miss interval); a parameter so tests can move time.
        console: records the transitions of watched apps.
    """

    def __init__(
        self,
        fanout: Fanout,
        webhooks: WebhookSink,
        clock: Callable[[], float] = time.monotonic,
        console: ConsoleSink = NO_CONSOLE,
    ) -> None:
        self._fanout = fanout
        self._webhooks = webhooks
        self._console = console
        self._clock = clock
        self._count_sent_at: dict[tuple[str, str], float] = {}
        self._trailing: dict[tuple[str, str], tuple[SubscriptionCountChanged, asyncio.TimerHandle]] = {}
        self._cache_miss_reported_at: dict[tuple[str, str], float] = {}
        self._tasks = TaskSet("announcing a subscription count")

    async def announce(self, app: AppConfig, transitions: Iterable[Transition]) -> None:
        """Carry out the consequences of transitions of one app, in order."""
        for transition in transitions:
            if self._console.watching(app.id):
                self._log(app.id, transition)
            match transition:
                case ChannelOccupied(channel):
                    self._webhooks(app, webhook.channel_occupied(channel))
                case ChannelVacated(channel):
                    self._webhooks(app, webhook.channel_vacated(channel))
                    self._forget_count(app.id, channel)
                case SubscriptionCountChanged():
                    self._count_changed(app, transition)
                case MemberJoined(channel, user_id, user_info, except_socket_id):
                    text = codec.encode(MemberAdded(channel=channel, user_id=user_id, user_info=user_info))
                    await self._fanout.broadcast(app.id, channel, text, except_socket_id)
                    self._webhooks(app, webhook.member_added(channel, user_id))
                case MemberLeft(channel, user_id):
                    text = codec.encode(MemberRemoved(channel=channel, user_id=user_id))
                    await self._fanout.broadcast(app.id, channel, text, None)
                    self._webhooks(app, webhook.member_removed(channel, user_id))
                case UserOnlineChanged(user_id, online):
                    await self._fanout.broadcast_watchlist(app.id, user_id, online)

    def _log(self, app_id: str, transition: Transition) -> None:
        match transition:
            case ChannelOccupied(channel):
                entry = LogEntry(kind=LogKind.OCCUPIED, app_id=app_id, at_ms=now_ms(), channel=channel)
            case ChannelVacated(channel):
                entry = LogEntry(kind=LogKind.VACATED, app_id=app_id, at_ms=now_ms(), channel=channel)
            case MemberJoined(channel, user_id, _, socket_id):
                entry = LogEntry(
                    kind=LogKind.MEMBER_ADDED,
                    app_id=app_id,
                    at_ms=now_ms(),
                    channel=channel,
                    user_id=user_id,
                    socket_id=socket_id or "",
                )
            case MemberLeft(channel, user_id):
                entry = LogEntry(
                    kind=LogKind.MEMBER_REMOVED, app_id=app_id, at_ms=now_ms(), channel=channel, user_id=user_id
                )
            case _:
                return  # counts and watchlist news are not console entries (the page shows counts itself)
        self._console.record(entry)

    # -- subscription_count ------------------------------------------------------------------------------------

    def _count_changed(self, app: AppConfig, change: SubscriptionCountChanged) -> None:
        if not counts_subscriptions(app, change.channel):
            return
        key = (app.id, change.channel)
        if change.count > SUBSCRIPTION_COUNT_THROTTLE_ABOVE:
            next_at = self._count_sent_at.get(key, float("-inf")) + SUBSCRIPTION_COUNT_THROTTLE_SECONDS
            wait = next_at - self._clock()
            if wait > 0:
                pending = self._trailing.get(key)
                if pending is None:
                    timer = asyncio.get_running_loop().call_later(wait, self._send_trailing, app, key)
                else:
                    timer = pending[1]
                    if pending[0].version > change.version:  # an older count arrived late: keep the newer
                        return
                self._trailing[key] = (change, timer)
                return
        self._cancel_trailing(key)  # sent now: a trailing update would be older
        self._send_count(app, change)

    def _send_trailing(self, app: AppConfig, key: tuple[str, str]) -> None:
        pending = self._trailing.pop(key, None)
        if pending is not None:
            self._send_count(app, pending[0])

    def _send_count(self, app: AppConfig, change: SubscriptionCountChanged) -> None:
        """Record the send, emit the webhook, and deliver on a later loop turn (a new subscriber first gets its
        subscription_succeeded)."""
        key = (app.id, change.channel)
        if change.count > SUBSCRIPTION_COUNT_THROTTLE_ABOVE:  # only a busy channel's last send is needed
            self._count_sent_at[key] = self._clock()
        else:  # and only while busy: on Redis, the vacate that would forget it may happen on another node
            self._count_sent_at.pop(key, None)
        self._webhooks(app, webhook.subscription_count(change.channel, change.count))
        text = codec.encode(SubscriptionCount(channel=change.channel, subscription_count=change.count))
        self._tasks.spawn(self._fanout.broadcast_count(app.id, change.channel, text, change.version))

    def _cancel_trailing(self, key: tuple[str, str]) -> None:
        pending = self._trailing.pop(key, None)
        if pending is not None:
            pending[1].cancel()

    def _forget_count(self, app_id: str, channel: str) -> None:
        key = (app_id, channel)
        self._count_sent_at.pop(key, None)
        self._cancel_trailing(key)

    # -- cache channels ----------------------------------------------------------------------------------------

    def cache_missed(self, app: AppConfig, channel: str) -> None:
        """A subscriber found a cache channel empty: send the ``cache_miss`` webhook unless it was sent for this
        channel in the last ``CACHE_MISS_WEBHOOK_INTERVAL`` seconds and nothing was published since (Pusher
        deduplicates it across clients)."""
        key = (app.id, channel)
        now = self._clock()
        reported_at = self._cache_miss_reported_at.get(key)
        if reported_at is not None and now - reported_at < CACHE_MISS_WEBHOOK_INTERVAL:
            return
        if len(self._cache_miss_reported_at) >= CACHE_MISS_MEMORY:  # bounded: forget old entries rather than grow
            self._cache_miss_reported_at.clear()
        self._cache_miss_reported_at[key] = now
        self._webhooks(app, webhook.cache_miss(channel))

    def cache_written(self, app_id: str, channel: str) -> None:
        """A cache channel got an event: its next miss is news again."""
        self._cache_miss_reported_at.pop((app_id, channel), None)

    # -- tasks -------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel pending trailing counts and deliveries (the broker is stopping)."""
        for _, timer in self._trailing.values():
            timer.cancel()
        self._trailing.clear()
        self._tasks.cancel()

    def remembered(self) -> int:
        """How many channels the announcer holds state for (throttle times, trailing counts, cache misses): zero
        once traffic stopped and channels emptied, which the churn tests check."""
        return len(self._count_sent_at) + len(self._trailing) + len(self._cache_miss_reported_at)
