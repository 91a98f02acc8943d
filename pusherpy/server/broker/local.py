"""The in-process broker: one node, all state in memory. The default; needs no Redis.

``LocalBroker`` is also the local half of ``RedisBroker``: ``deliver`` writes one encoded frame to this node's
subscribers of a channel, and the presence / watchlist bookkeeping of local sockets lives here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ...protocol import codec
from ...protocol.apps import AppConfig
from ...protocol.channels import ChannelKind, ChannelType, classify
from ...protocol.connection import Member, User
from ...protocol.errors import ErrorCode
from ...protocol.events import (
    MemberAdded,
    MemberRemoved,
    Presence,
    SubscriptionCount,
    WatchlistChange,
    WatchlistEvents,
)
from ...protocol.registry import ChannelState, Registry
from ..client import Client
from ..frames import text_frame
from ..settings import Settings
from .base import (
    Broker,
    CacheEntry,
    ChannelInfo,
    JoinResult,
    MemberLimitReached,
    WebhookSink,
    no_webhooks,
)

CACHE_MISS_WEBHOOK_INTERVAL = 10.0
CACHE_PURGE_INTERVAL = 60.0
SUBSCRIPTION_COUNT_THROTTLE_ABOVE = 100
SUBSCRIPTION_COUNT_THROTTLE_SECONDS = 5.0


class LocalBroker(Broker):
    """All apps' channels, presence, users and cache in this process.

    Args:
        settings: for the cache lifetime.
        webhooks: receives webhook events (channel_occupied, member_added, ...).
        clock: seconds, monotonic; a parameter so tests can move time.
    """

    def __init__(
        self,
        settings: Settings,
        webhooks: WebhookSink = no_webhooks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._webhooks = webhooks
        self._clock = clock
        self._registries: dict[str, Registry[Client]] = {}
        self._clients: dict[str, set[Client]] = {}
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self._watchers: dict[str, dict[str, set[Client]]] = {}
        self._count_sent_at: dict[tuple[str, str], float] = {}
        self._count_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._cache_miss_reported_at: dict[tuple[str, str], float] = {}
        self._next_cache_purge = 0.0

    def registry(self, app: AppConfig) -> Registry[Client]:
        registry = self._registries.get(app.id)
        if registry is None:
            registry = self._registries[app.id] = Registry()
        return registry

    # -- delivery ----------------------------------------------------------------------------------------------

    def deliver(self, app_id: str, channel: str, text: str, except_socket_id: str | None = None) -> int:
        """Write one event to this node's subscribers of a channel: encoded once, same bytes to each, no awaits.

        Returns:
            how many sockets it was written to.
        """
        registry = self._registries.get(app_id)
        if registry is None:
            return 0
        state = registry.channels.get(channel)
        if state is None:
            return 0
        frame = text_frame(text.encode())
        delivered = 0
        for client in state.subscribers:
            if client.connection.socket_id != except_socket_id and client.write_frame(frame):
                delivered += 1
        if delivered:  # counted once per broadcast, not once per socket
            client.state.metrics.count_sent(app_id, delivered, delivered * len(frame))
        return delivered

    # -- connections -------------------------------------------------------------------------------------------

    async def add_client(self, client: Client) -> bool:
        clients = self._clients.setdefault(client.app.id, set())
        if client.app.max_connections and len(clients) >= client.app.max_connections:
            return False
        clients.add(client)
        return True

    async def remove_client(self, client: Client) -> None:
        await self.leave_all(client)
        user = client.connection.user
        if user is not None:
            self._sign_out(client, user)
        clients = self._clients.get(client.app.id)
        if clients is not None:
            clients.discard(client)

    async def connection_count(self, app: AppConfig) -> int:
        return len(self._clients.get(app.id, ()))

    def local_clients(self) -> list[Client]:
        return [client for clients in self._clients.values() for client in clients]

    # -- channels ----------------------------------------------------------------------------------------------

    async def join(self, client: Client, channel: str, channel_type: ChannelType, member: Member | None) -> JoinResult:
        app = client.app
        registry = self.registry(app)
        if member is not None and registry.would_exceed_members(channel, member, app.max_presence_members):
            raise MemberLimitReached(f"{channel} has reached its limit of {app.max_presence_members} members")
        outcome = registry.join(channel, client, member)
        if outcome.occupied:
            self._webhooks(app, {"name": "channel_occupied", "channel": channel})
        if outcome.member_added and member is not None:
            added = codec.encode(MemberAdded(channel=channel, user_id=member.user_id, user_info=member.user_info))
            self.deliver(app.id, channel, added, except_socket_id=client.socket_id)
            self._webhooks(app, {"name": "member_added", "channel": channel, "user_id": member.user_id})
        presence = None
        if channel_type.is_presence:
            members = registry.members(channel)
            presence = Presence(ids=list(members), hash=members)
        cache = None
        if channel_type.cached:
            cache = self._cache_entry(app, channel)
            if cache is None and self.cache_miss_is_news(app, channel):
                self._webhooks(app, {"name": "cache_miss", "channel": channel})
        self._subscription_count_changed(app, channel, channel_type)
        return JoinResult(presence, cache)

    async def leave(self, client: Client, channel: str) -> None:
        app = client.app
        outcome = self.registry(app).leave(channel, client)
        if outcome.removed_user_id is not None:
            removed = codec.encode(MemberRemoved(channel=channel, user_id=outcome.removed_user_id))
            self.deliver(app.id, channel, removed)
            self._webhooks(app, {"name": "member_removed", "channel": channel, "user_id": outcome.removed_user_id})
        if outcome.vacated:
            self._webhooks(app, {"name": "channel_vacated", "channel": channel})
            self._forget_count(app, channel)
        else:
            self._subscription_count_changed(app, channel, classify(channel))

    def _subscription_count_changed(self, app: AppConfig, channel: str, channel_type: ChannelType) -> None:
        """Send ``pusher_internal:subscription_count`` (opt-in, non-presence), at most every 5 s above 100.

        A change that falls inside the 5 s is not lost: one trailing update goes out when the 5 s are over, with
        the count as it is then. Sent on the next loop turn, so a new subscriber gets its subscription_succeeded
        first.
        """
        if not app.enable_subscription_count or channel_type.is_presence:
            return
        if channel_type.kind is ChannelKind.SERVER_TO_USER:  # internal to pusher-js's sign-in, not a channel to count
            return
        state = self.registry(app).channels.get(channel)
        if state is None:
            return
        key = (app.id, channel)
        if state.subscription_count > SUBSCRIPTION_COUNT_THROTTLE_ABOVE:
            wait = (
                self._count_sent_at.get(key, -SUBSCRIPTION_COUNT_THROTTLE_SECONDS) + SUBSCRIPTION_COUNT_THROTTLE_SECONDS
            )
            wait -= self._clock()
            if wait > 0:
                if key not in self._count_timers:
                    loop = asyncio.get_running_loop()
                    self._count_timers[key] = loop.call_later(wait, self._send_trailing_count, app, channel)
                return
        text = self._send_count(app, channel, state)
        asyncio.get_running_loop().call_soon(self.deliver, app.id, channel, text)

    def _send_count(self, app: AppConfig, channel: str, state: ChannelState[Client]) -> str:
        """Record the send and emit the webhook; return the event text for the channel's subscribers."""
        count = state.subscription_count
        self._count_sent_at[(app.id, channel)] = self._clock()
        self._webhooks(app, {"name": "subscription_count", "channel": channel, "subscription_count": count})
        return codec.encode(SubscriptionCount(channel=channel, subscription_count=count))

    def _send_trailing_count(self, app: AppConfig, channel: str) -> None:
        self._count_timers.pop((app.id, channel), None)
        state = self.registry(app).channels.get(channel)
        if state is not None:
            self.deliver(app.id, channel, self._send_count(app, channel, state))

    def _forget_count(self, app: AppConfig, channel: str) -> None:
        self._count_sent_at.pop((app.id, channel), None)
        timer = self._count_timers.pop((app.id, channel), None)
        if timer is not None:
            timer.cancel()

    async def publish(self, app: AppConfig, channel: str, text: str, except_socket_id: str | None = None) -> None:
        if classify(channel).cached:
            now = self._clock()
            if now >= self._next_cache_purge:
                self._purge_expired_cache(now)
            self._cache[(app.id, channel)] = (text, now + self._settings.cache_ttl_seconds)
            self._cache_miss_reported_at.pop((app.id, channel), None)
        self.deliver(app.id, channel, text, except_socket_id)

    def _purge_expired_cache(self, now: float) -> None:
        """Drop expired cache entries (reads drop them too, but a channel nobody reads again would stay)."""
        for key in [key for key, (_, expires_at) in self._cache.items() if expires_at <= now]:
            del self._cache[key]
        self._next_cache_purge = now + CACHE_PURGE_INTERVAL

    def cache_miss_is_news(self, app: AppConfig, channel: str) -> bool:
        """Whether a cache miss deserves a ``cache_miss`` webhook: once for a burst of subscribers to an empty cache
        channel (Pusher deduplicates it across clients), again only after a publish or ``CACHE_MISS_WEBHOOK_INTERVAL``
        later."""
        key = (app.id, channel)
        now = self._clock()
        reported_at = self._cache_miss_reported_at.get(key)
        if reported_at is not None and now - reported_at < CACHE_MISS_WEBHOOK_INTERVAL:
            return False
        if len(self._cache_miss_reported_at) > 10_000:  # bounded: forget old entries rather than grow
            self._cache_miss_reported_at.clear()
        self._cache_miss_reported_at[key] = now
        return True

    def _cache_entry(self, app: AppConfig, channel: str) -> CacheEntry | None:
        entry = self._cache.get((app.id, channel))
        if entry is None:
            return None
        text, expires_at = entry
        ttl = expires_at - self._clock()
        if ttl <= 0:
            del self._cache[(app.id, channel)]
            return None
        return CacheEntry(text, ttl)

    async def cache_entry(self, app: AppConfig, channel: str) -> CacheEntry | None:
        return self._cache_entry(app, channel)

    # -- users -------------------------------------------------------------------------------------------------

    async def sign_in(self, client: Client, user: User) -> None:
        app = client.app
        registry = self.registry(app)
        came_online = registry.sign_in(user.id, client)
        watchers = self._watchers.setdefault(app.id, {})
        for watched in user.watchlist:
            watchers.setdefault(watched, set()).add(client)
        if user.watchlist:
            online = [uid for uid in user.watchlist if registry.user_sockets(uid)]
            offline = [uid for uid in user.watchlist if not registry.user_sockets(uid)]
            changes = [WatchlistChange(name=n, user_ids=ids) for n, ids in (("online", online), ("offline", offline))]
            client.send_text(codec.encode(WatchlistEvents(events=[c for c in changes if c.user_ids])))
        if came_online:
            self._notify_watchers(app, user.id, "online")

    def _sign_out(self, client: Client, user: User) -> None:
        app = client.app
        watchers = self._watchers.get(app.id, {})
        for watched in user.watchlist:
            entry = watchers.get(watched)
            if entry is not None:
                entry.discard(client)
                if not entry:
                    del watchers[watched]
        if self.registry(app).sign_out(user.id, client):
            self._notify_watchers(app, user.id, "offline")

    def _notify_watchers(self, app: AppConfig, user_id: str, state: str) -> None:
        watchers = self._watchers.get(app.id, {}).get(user_id)
        if not watchers:
            return
        frame = text_frame(
            codec.encode(WatchlistEvents(events=[WatchlistChange(name=state, user_ids=[user_id])])).encode()
        )
        for watcher in watchers:
            watcher.write_frame(frame)

    async def terminate_user(self, app: AppConfig, user_id: str) -> None:
        for client in list(self.registry(app).user_sockets(user_id)):
            client.close(ErrorCode.UNAUTHORIZED, "connection terminated by the app")

    # -- queries -----------------------------------------------------------------------------------------------

    async def channel_info(self, app: AppConfig, channel: str) -> ChannelInfo:
        state = self.registry(app).channels.get(channel)
        presence = classify(channel).is_presence
        if state is None:
            return ChannelInfo(False, 0, 0 if presence else None)
        return ChannelInfo(True, state.subscription_count, state.user_count if presence else None)

    async def channels(self, app: AppConfig, prefix: str = "") -> dict[str, ChannelInfo]:
        result: dict[str, ChannelInfo] = {}
        for name, state in self.registry(app).channels.items():
            if name.startswith(prefix) and not name.startswith("#"):
                presence = classify(name).is_presence
                result[name] = ChannelInfo(True, state.subscription_count, state.user_count if presence else None)
        return result

    async def presence_user_ids(self, app: AppConfig, channel: str) -> list[str]:
        return list(self.registry(app).members(channel))

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-app gauges for /metrics: connections, channels, subscriptions, presence members, signed-in users."""
        stats: dict[str, dict[str, Any]] = {}
        for app_id, clients in self._clients.items():
            registry = self._registries.get(app_id)
            channels = registry.channels if registry else {}
            stats[app_id] = {
                "connections": len(clients),
                "channels": len(channels),
                "subscriptions": sum(state.subscription_count for state in channels.values()),
                "presence_members": sum(state.user_count for state in channels.values()),
                "signed_in_users": len(registry.users) if registry else 0,
            }
        return stats
