"""This process's sockets: who is connected, subscribed, signed in and watching, and writing frames to them.

``LocalNode`` is the half that every broker shares. It holds no announcement rules (who is told about a first
subscriber, a member joining, a count changing: that is ``Announcer``) and never talks to other nodes (that is the
broker). It answers "which of my sockets?" and writes one encoded frame to each of them: encoded once, the same
bytes to every socket, no awaits.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from ...protocol import codec
from ...protocol.apps import AppConfig
from ...protocol.errors import ErrorCode
from ...protocol.events import Presence, WatchlistChange, WatchlistEvents
from ...protocol.frames import text_frame
from ...protocol.registry import Registry
from .base import CacheEntry, ChannelInfo, listed
from .subscriber import Subscriber

CACHE_PURGE_INTERVAL = 60.0
MAX_REMEMBERED_COUNTS = 10_000
"""Channels whose newest subscription_count a node remembers; past it, the oldest is forgotten."""


@dataclass(frozen=True, slots=True)
class NewestCount:
    """The newest subscription_count of a channel that reached this node, and whether its sockets got it."""

    version: int
    text: str
    delivered_at: int | None
    """The channel's ``joins`` when this node's sockets got it; None while it is not delivered here."""


SentCounter = Callable[[str, int, int], None]
"""Counts a broadcast once: (app id, sockets written to, bytes written in all)."""


def not_counted(app_id: str, messages: int, size: int) -> None:
    """The counter used when nobody collects metrics."""


def watchlist_text(changes: Iterable[tuple[str, list[str]]]) -> str:
    """A ``pusher_internal:watchlist_events`` with the non-empty (``online``/``offline``, user ids) groups."""
    return codec.encode(WatchlistEvents(events=[WatchlistChange(name=n, user_ids=ids) for n, ids in changes if ids]))


def initial_watchlist_text(watchlist: Iterable[str], online: Iterable[bool]) -> str:
    """The ``watchlist_events`` a socket gets right after signing in: who of its watchlist is online, who not."""
    groups: dict[str, list[str]] = {"online": [], "offline": []}
    for user_id, is_online in zip(watchlist, online, strict=True):
        groups["online" if is_online else "offline"].append(user_id)
    return watchlist_text(groups.items())


class LocalCache:
    """Cache channels' last events, kept for ``ttl`` seconds; expired entries are purged as time passes."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[str, float]] = {}
        self._next_purge = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[tuple[str, str]]:
        return list(self._entries)

    def put(self, app_id: str, channel: str, text: str) -> None:
        now = self._clock()
        if now >= self._next_purge:  # reads drop expired entries too, but a channel nobody reads again would stay
            for key in [key for key, (_, expires_at) in self._entries.items() if expires_at <= now]:
                del self._entries[key]
            self._next_purge = now + CACHE_PURGE_INTERVAL
        self._entries[(app_id, channel)] = (text, now + self._ttl)

    def get(self, app_id: str, channel: str) -> CacheEntry | None:
        entry = self._entries.get((app_id, channel))
        if entry is None:
            return None
        text, expires_at = entry
        ttl = expires_at - self._clock()
        if ttl <= 0:
            del self._entries[(app_id, channel)]
            return None
        return CacheEntry(text, ttl)


class LocalNode:
    """Every app's sockets on this node.

    Args:
        cache_ttl: seconds a cache channel's last event is kept (used while this node keeps the cache itself).
        count_sent: counts each broadcast once (metrics).
        clock: seconds, monotonic; a parameter so tests can move time.
    """

    def __init__(
        self, cache_ttl: float, count_sent: SentCounter = not_counted, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.registries: dict[str, Registry[Subscriber]] = {}
        self.cache = LocalCache(cache_ttl, clock)
        self._count_sent = count_sent
        self._clients: dict[str, set[Subscriber]] = {}
        self._watchers: dict[str, dict[str, set[Subscriber]]] = {}
        self._counts: dict[tuple[str, str], NewestCount] = {}
        """The newest subscription_count heard here, per channel (bounded: ``MAX_REMEMBERED_COUNTS``)."""

    def registry(self, app: AppConfig) -> Registry[Subscriber]:
        registry = self.registries.get(app.id)
        if registry is None:
            registry = self.registries[app.id] = Registry()
        return registry

    # -- connections -------------------------------------------------------------------------------------------

    def add(self, client: Subscriber, limit: int = 0) -> bool:
        """Count a socket of its app; False (nothing counted) when this node already holds ``limit`` (0: none)."""
        clients = self._clients.setdefault(client.app.id, set())
        if limit and len(clients) >= limit:
            return False
        clients.add(client)
        return True

    def remove(self, client: Subscriber) -> None:
        clients = self._clients.get(client.app.id)
        if clients is not None:
            clients.discard(client)

    def connection_count(self, app_id: str) -> int:
        return len(self._clients.get(app_id, ()))

    def clients(self) -> list[Subscriber]:
        return [client for clients in self._clients.values() for client in clients]

    def client_counts(self) -> dict[str, int]:
        """App id -> this node's connections."""
        return {app_id: len(clients) for app_id, clients in self._clients.items()}

    # -- delivery ----------------------------------------------------------------------------------------------

    def deliver(
        self,
        app_id: str,
        channel: str,
        text: str,
        except_socket_id: str | None = None,
        skip: Collection[Subscriber] = (),
    ) -> int:
        """Write one event to this node's subscribers of a channel (but ``skip``: sockets whose events are sent to
        them alone for now): encoded once, same bytes to each, no awaits.

        Returns:
            how many sockets it was written to.
        """
        registry = self.registries.get(app_id)
        if registry is None:
            return 0
        state = registry.channels.get(channel)
        if state is None:
            return 0
        frame = text_frame(text.encode())
        delivered = 0
        for client in state.subscribers:
            if client.connection.socket_id != except_socket_id and client not in skip and client.write_frame(frame):
                delivered += 1
        if delivered:  # counted once per broadcast, not once per socket
            self._count_sent(app_id, delivered, delivered * len(frame))
        return delivered

    def deliver_count(self, app_id: str, channel: str, text: str, version: int) -> None:
        """Deliver a subscription_count unless a newer one for the channel was delivered here already.

        Counts made on different nodes can overtake each other on their way; each carries the version its count
        got, and only the newest is kept. A newer count that arrived while this node's first socket of the channel
        was still joining replaces that socket's own, older count, so every socket ends at the cluster's total.
        """
        key = (app_id, channel)
        newest = self._counts.get(key)
        registry = self.registries.get(app_id)
        state = registry.channels.get(channel) if registry is not None else None
        if state is None:
            # Nobody here yet, but a socket of ours may be joining right now: its own (older) count can arrive
            # after this one. Keep the newest, undelivered, so that count can be replaced by it.
            if newest is None or version > newest.version:
                if key not in self._counts and len(self._counts) >= MAX_REMEMBERED_COUNTS:
                    del self._counts[next(iter(self._counts))]  # bounded: forget the oldest channel
                self._counts[key] = NewestCount(version, text, None)
            return
        if newest is not None and version < newest.version:
            # An older count: a socket that joined here after the newest was delivered (its script ran before
            # the newest one's) gets the newest instead; the others already have it.
            late = state.joins - newest.delivered_at if newest.delivered_at is not None else len(state.subscribers)
            if late > 0:
                frame = text_frame(newest.text.encode())
                for client in itertools.islice(reversed(state.subscribers), late):
                    client.write_frame(frame)
                self._counts[key] = NewestCount(newest.version, newest.text, state.joins)
            return
        self._counts[key] = NewestCount(version, text, state.joins)
        self.deliver(app_id, channel, text)

    # -- users -------------------------------------------------------------------------------------------------

    def watch(self, app_id: str, watchlist: Iterable[str], client: Subscriber) -> None:
        watched = self._watchers.setdefault(app_id, {})
        for user_id in watchlist:
            watched.setdefault(user_id, set()).add(client)

    def unwatch(self, app_id: str, watchlist: Iterable[str], client: Subscriber) -> None:
        watched = self._watchers.get(app_id, {})
        for user_id in watchlist:
            watchers = watched.get(user_id)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del watched[user_id]

    def notify_watchers(self, app_id: str, user_id: str, online: bool) -> None:
        """Tell this node's watchers of ``user_id`` that it came online or went offline (one frame, encoded once)."""
        watchers = self._watchers.get(app_id, {}).get(user_id)
        if not watchers:
            return
        frame = text_frame(watchlist_text([("online" if online else "offline", [user_id])]).encode())
        for client in watchers:
            client.write_frame(frame)

    def terminate(self, app_id: str, user_id: str) -> None:
        """Close this node's signed-in sockets of a user (terminate_connections)."""
        registry = self.registries.get(app_id)
        if registry is not None:
            for client in list(registry.user_sockets(user_id)):
                client.close(ErrorCode.UNAUTHORIZED, "connection terminated by the app")

    # -- queries (this node's view; the whole answer when it is the only node) ---------------------------------

    def channel_info(self, app: AppConfig, channel: str) -> ChannelInfo:
        state = self.registry(app).channels.get(channel)
        if state is None:
            return ChannelInfo.of(channel, 0, 0)
        return ChannelInfo.of(channel, state.subscription_count, state.user_count)

    def channels(self, app: AppConfig, prefix: str) -> dict[str, ChannelInfo]:
        return {
            name: ChannelInfo.of(name, state.subscription_count, state.user_count)
            for name, state in self.registry(app).channels.items()
            if name.startswith(prefix) and listed(name)
        }

    def presence(self, app: AppConfig, channel: str) -> Presence:
        members = self.registry(app).members(channel)
        return Presence(ids=list(members), hash=members)

    # -- gauges ------------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-app gauges for /metrics: connections, channels, subscriptions, presence members, signed-in users."""
        stats: dict[str, dict[str, Any]] = {}
        for app_id, clients in self._clients.items():
            registry = self.registries.get(app_id)
            channels = registry.channels if registry else {}
            stats[app_id] = {
                "connections": len(clients),
                "channels": len(channels),
                "subscriptions": sum(state.subscription_count for state in channels.values()),
                "presence_members": sum(state.user_count for state in channels.values()),
                "signed_in_users": len(registry.users) if registry else 0,
            }
        return stats
