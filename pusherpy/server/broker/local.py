"""The in-process broker: one node, all state in memory. The default; needs no Redis.

``LocalBroker`` = ``LocalNode`` (this process's sockets) + ``Announcer`` (who is told what). Transitions come from
the registry's outcomes; a broadcast is delivered to this node's sockets and goes nowhere else.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from ...protocol import codec
from ...protocol.actions import Member, User
from ...protocol.apps import AppConfig
from ...protocol.channels import ChannelType, classify
from ...protocol.errors import MemberLimitReached
from ...protocol.history import HistoryJoin, HistoryPage, page, plan_join
from ...protocol.idempotency import MAX_KEYS_PER_APP, PublishClaim
from ...protocol.registry import JoinOutcome, LeaveOutcome
from .announcer import (
    Announcer,
    ChannelOccupied,
    ChannelVacated,
    MemberJoined,
    MemberLeft,
    SubscriptionCountChanged,
    Transition,
    UserOnlineChanged,
)
from .base import (
    NO_CONSOLE,
    Broker,
    BrokerSettings,
    CacheEntry,
    ChannelInfo,
    ConsoleSink,
    JoinResult,
    WebhookSink,
    no_webhooks,
)
from .idempotency import LocalPublishes
from .local_history import LocalHistory
from .node import LocalNode, SentCounter, initial_watchlist_text, not_counted
from .subscriber import Subscriber


class LocalBroker(Broker):
    """All apps' channels, presence, users and cache in this process.

    Args:
        settings: for the cache lifetime.
        webhooks: receives webhook events (channel_occupied, member_added, ...).
        clock: seconds, monotonic; a parameter so tests can move time.
        count_sent: counts each broadcast once (metrics).
        wall_clock: seconds since the epoch, for history (serials and ages are wall-clock values).
        idempotency_keys: keys remembered per app (``MAX_KEYS_PER_APP``); the oldest are dropped past it.
        console: records channel and member transitions of watched apps.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        webhooks: WebhookSink = no_webhooks,
        clock: Callable[[], float] = time.monotonic,
        count_sent: SentCounter = not_counted,
        wall_clock: Callable[[], float] = time.time,
        idempotency_keys: int = MAX_KEYS_PER_APP,
        console: ConsoleSink = NO_CONSOLE,
    ) -> None:
        self.node = LocalNode(settings.cache_ttl_seconds, count_sent, clock)
        self.kept = LocalHistory()
        self._wall_clock = wall_clock
        self.publishes = LocalPublishes(clock, idempotency_keys)
        self.announcer = Announcer(self, webhooks, clock, console)
        self._versions = itertools.count(1)
        """Versions of this node's subscription counts: one node delivers its own counts in order."""

    async def stop(self) -> None:
        self.announcer.close()

    # -- the fanout: this node's sockets are all there is --------------------------------------------------------

    async def broadcast(self, app_id: str, channel: str, text: str, except_socket_id: str | None) -> None:
        self.node.deliver(app_id, channel, text, except_socket_id)

    async def broadcast_count(self, app_id: str, channel: str, text: str, version: int) -> None:
        self.node.deliver_count(app_id, channel, text, version)

    async def broadcast_watchlist(self, app_id: str, user_id: str, online: bool) -> None:
        self.node.notify_watchers(app_id, user_id, online)

    # -- connections -------------------------------------------------------------------------------------------

    async def add_client(self, client: Subscriber) -> bool:
        return self.node.add(client, client.app.max_connections)

    async def remove_client(self, client: Subscriber) -> None:
        await self.leave_all(client)
        user = client.connection.user
        if user is not None:
            await self._sign_out(client, user)
        self.node.remove(client)

    async def connection_count(self, app: AppConfig) -> int:
        return self.node.connection_count(app.id)

    def local_clients(self) -> list[Subscriber]:
        return self.node.clients()

    # -- channels ----------------------------------------------------------------------------------------------

    async def join(
        self,
        client: Subscriber,
        channel: str,
        channel_type: ChannelType,
        member: Member | None,
        resume_after: int | None = None,
    ) -> JoinResult:
        app = client.app
        registry = self.node.registry(app)
        already = client in registry.subscribers(channel)  # subscribing again changes nothing
        history = None
        if not already:
            if member is not None and registry.would_exceed_members(channel, member, app.max_presence_members):
                raise MemberLimitReached.for_channel(channel, app.max_presence_members)
            history = self._history_join(app, channel, resume_after)  # decided as the socket joins: no await
            outcome = registry.join(channel, client, member)
            await self.announcer.announce(app, self._joined(app, channel, outcome, member, client.socket_id))
        presence = self.node.presence(app, channel) if channel_type.is_presence else None
        cache = None
        if channel_type.cached:
            cache = self.node.cache.get(app.id, channel)
            if cache is None and not already:
                self.announcer.cache_missed(app, channel)
        return JoinResult(presence, cache, history)

    def _history_join(self, app: AppConfig, channel: str, resume_after: int | None) -> HistoryJoin | None:
        rule = app.history_rule(channel)
        if rule is None:
            return None
        now = self._wall_clock()
        return plan_join(self.kept.record(app, channel, rule, now), rule, resume_after, now)

    def _joined(
        self, app: AppConfig, channel: str, outcome: JoinOutcome, member: Member | None, socket_id: str
    ) -> list[Transition]:
        transitions: list[Transition] = []
        if outcome.occupied:
            transitions.append(ChannelOccupied(channel))
        if outcome.member_added and member is not None:
            transitions.append(MemberJoined(channel, member.user_id, member.user_info, socket_id))
        transitions.append(self._count(app, channel))
        return transitions

    def _count(self, app: AppConfig, channel: str) -> SubscriptionCountChanged:
        count = self.node.registry(app).channels[channel].subscription_count
        return SubscriptionCountChanged(channel, count, next(self._versions))

    async def leave(self, client: Subscriber, channel: str) -> None:
        app = client.app
        outcome = self.node.registry(app).leave(channel, client)
        await self.announcer.announce(app, self._left(app, channel, outcome))

    def _left(self, app: AppConfig, channel: str, outcome: LeaveOutcome) -> list[Transition]:
        transitions: list[Transition] = []
        if outcome.removed_user_id is not None:
            transitions.append(MemberLeft(channel, outcome.removed_user_id))
        if outcome.vacated:
            transitions.append(ChannelVacated(channel))
        elif outcome.left:
            transitions.append(self._count(app, channel))
        return transitions

    async def publish(
        self, app: AppConfig, channel: str, text: str, except_socket_id: str | None = None, *, keep: bool = True
    ) -> int | None:
        serial = None
        rule = app.history_rule(channel) if keep else None
        if rule is not None:
            serial = self.kept.append(app, channel, rule, text, self._wall_clock())
            text = codec.with_serial(text, serial)
        if classify(channel).cached:
            self.node.cache.put(app.id, channel, text)
            self.announcer.cache_written(app.id, channel)
        self.node.deliver(app.id, channel, text, except_socket_id)
        return serial

    async def history(self, app: AppConfig, channel: str, after: int | None, limit: int) -> HistoryPage:
        rule = app.history_rule(channel)
        record = None if rule is None else self.kept.existing(app, channel, rule, self._wall_clock())
        return page(record, after, limit)

    async def cache_entry(self, app: AppConfig, channel: str) -> CacheEntry | None:
        return self.node.cache.get(app.id, channel)

    async def claim_publish(self, app: AppConfig, key: str, window: float) -> PublishClaim:
        return self.publishes.claim(app.id, key, window)

    async def settle_publish(self, app: AppConfig, key: str, reply: str) -> None:
        self.publishes.settle(app.id, key, reply)

    async def release_publish(self, app: AppConfig, key: str) -> None:
        self.publishes.release(app.id, key)

    # -- users -------------------------------------------------------------------------------------------------

    async def sign_in(self, client: Subscriber, user: User) -> None:
        app = client.app
        registry = self.node.registry(app)
        came_online = False
        if client not in registry.user_sockets(user.id):  # signing in again changes nothing but the reply
            came_online = registry.sign_in(user.id, client)
            self.node.watch(app.id, user.watchlist, client)
        if user.watchlist:
            online = [bool(registry.user_sockets(user_id)) for user_id in user.watchlist]
            client.send_text(initial_watchlist_text(user.watchlist, online))
        if came_online:
            await self.announcer.announce(app, [UserOnlineChanged(user.id, True)])

    async def _sign_out(self, client: Subscriber, user: User) -> None:
        app = client.app
        self.node.unwatch(app.id, user.watchlist, client)
        if self.node.registry(app).sign_out(user.id, client):
            await self.announcer.announce(app, [UserOnlineChanged(user.id, False)])

    async def terminate_user(self, app: AppConfig, user_id: str) -> None:
        self.node.terminate(app.id, user_id)

    # -- queries -----------------------------------------------------------------------------------------------

    async def channel_info(self, app: AppConfig, channel: str) -> ChannelInfo:
        return self.node.channel_info(app, channel)

    async def channels(self, app: AppConfig, prefix: str = "") -> dict[str, ChannelInfo]:
        return self.node.channels(app, prefix)

    async def presence_user_ids(self, app: AppConfig, channel: str) -> list[str]:
        return list(self.node.registry(app).members(channel))

    def stats(self) -> dict[str, dict[str, Any]]:
        return self.kept.gauges(self.publishes.gauges(self.node.stats()))
