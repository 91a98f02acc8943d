"""Scale-out: several pusherpy nodes sharing one Redis behave as one server.

``RedisBroker`` composes a ``LocalBroker`` (this node's sockets: its registry, and ``deliver``, which writes one
encoded frame to the local subscribers of a channel) with the shared state in Redis (``RedisStore``):

- Every first/last decision (channel occupied or vacated, a presence user's first or last socket, a user coming
  online, the member limit, the connection quota) is one Lua script, so exactly one node sees each transition and
  announces it: it publishes member_added / member_removed / subscription_count to the channel and emits the
  webhook. Queries read the shared counters, never ask other nodes.
- A broadcast is delivered to local subscribers at once, then crosses Redis once: one message on the bus
  (``redis_bus``: ``PUBLISH`` on one Redis, ``SPUBLISH`` to the channel's shard on a Redis Cluster) carrying the
  encoded event, channel, app id, excluded socket id and sender node id. Every node holds a constant number of
  bus subscriptions and delivers what other nodes sent with ``LocalBroker.deliver``.
- ``subscription_count`` events carry the version their script gave the count; every node delivers a channel's
  counts in version order and drops one that arrives after a newer one.
- Faults (see ``redis_node``): nodes heartbeat; survivors reap a node that stopped. While Redis is unreachable the
  node serves its own sockets alone (``healthy`` is False), then re-registers its local state when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ...protocol import codec
from ...protocol.apps import AppConfig
from ...protocol.channels import ChannelType, classify
from ...protocol.connection import Member, User
from ...protocol.errors import ConfigError, ErrorCode
from ...protocol.events import MemberAdded, MemberRemoved, Presence, SubscriptionCount
from ..client import Client
from ..settings import Settings
from .base import Broker, CacheEntry, ChannelInfo, JoinResult, MemberLimitReached, WebhookSink, no_webhooks
from .local import SUBSCRIPTION_COUNT_THROTTLE_ABOVE, SUBSCRIPTION_COUNT_THROTTLE_SECONDS, LocalBroker
from .redis_node import NodeLifecycle
from .redis_scripts import FAMILIES
from .redis_store import OUTAGE_ERRORS, Change, Delta, RedisStore, bus_message, field_of, parse_bus_message
from .redis_watchers import Watchers, initial_state

logger = logging.getLogger(__name__)

T = TypeVar("T")

EVENT, COUNT, WATCHLIST, TERMINATE = "e", "c", "w", "t"
"""Bus message kinds: a channel event, a subscription_count event (with its version), a user going online/offline,
a terminate_connections request (and "h", a node's heartbeat, which only its sender reads)."""


def _full(app: AppConfig, channel: str) -> MemberLimitReached:
    return MemberLimitReached(f"{channel} has reached its limit of {app.max_presence_members} members")


def _user_field(app: AppConfig, user: User) -> str:
    return field_of(app.id, "", user.id, family="user")


class RedisBroker(Broker):
    """Channels, presence, users and queries shared by every node on one Redis (``settings.redis_url``).

    Args:
        settings: ``redis_url``, ``redis_prefix``, ``node_heartbeat_seconds``, ``node_ttl_seconds``, cache TTL.
        webhooks: receives the webhooks whose transition this node made.
        node_id: this node's id in Redis and on the bus (random by default).
    """

    def __init__(self, settings: Settings, webhooks: WebhookSink = no_webhooks, *, node_id: str | None = None) -> None:
        if not settings.redis_url:
            raise ConfigError("redis_url must be set to share state through Redis")
        self._settings = settings
        self._webhooks = webhooks
        self._apps = settings.app_by_id()
        self._local = LocalBroker(settings)
        self.node_id = node_id or secrets.token_hex(6)
        timeout = max(0.5, min(2.0, settings.node_heartbeat_seconds * 2))
        self._store = RedisStore(
            settings.redis_url,
            settings.redis_prefix,
            self.node_id,
            self._apps,
            timeout=timeout,
            cluster=settings.redis_cluster,
            shards=settings.redis_bus_shards,
        )
        self._watchers = Watchers()
        self._node = NodeLifecycle(self, self._store, settings)
        self._count_sent_at: dict[tuple[str, str], float] = {}
        self._count_versions: dict[tuple[str, str], int] = {}
        """The newest subscription_count version delivered here, per channel with local subscribers."""
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def healthy(self) -> bool:
        return self._node.healthy

    async def start(self) -> None:
        await self._node.start()

    async def stop(self) -> None:
        await self._node.stop()
        for task in list(self._tasks):
            task.cancel()
        await self._store.close()

    def local_clients(self) -> list[Client]:
        return self._local.local_clients()

    def stats(self) -> dict[str, dict[str, Any]]:
        return self._local.stats()

    # -- connections -----------------------------------------------------------------------------------------------

    async def add_client(self, client: Client) -> bool:
        app = client.app
        shared = self._node.begin()
        try:
            if shared:
                try:
                    if not await self._store.connect(app.id, app.max_connections):
                        return False
                except OUTAGE_ERRORS as error:
                    self._node.outage(error)
            return await self._local.add_client(client)
        finally:
            self._node.end(shared)

    async def remove_client(self, client: Client) -> None:
        await self.leave_all(client)
        user = client.connection.user
        if user is not None:
            await self._sign_out(client, user)
        shared = self._node.begin()
        try:
            await self._local.remove_client(client)
            if shared:
                await self._apply(client.app.id, [Delta("conn", field_of(client.app.id, family="conn"), -1)])
        finally:
            self._node.end(shared)

    async def connection_count(self, app: AppConfig) -> int:
        return await self._query(
            lambda: self._store.connection_count(app.id), lambda: self._local.connection_count(app)
        )

    # -- channels --------------------------------------------------------------------------------------------------

    async def join(self, client: Client, channel: str, channel_type: ChannelType, member: Member | None) -> JoinResult:
        app = client.app
        registry = self._local.registry(app)
        if client in registry.subscribers(channel):  # subscribing again changes nothing
            return await self._rejoin(app, channel, channel_type)
        shared = self._node.begin()
        reply = None
        try:
            if shared:
                try:
                    reply = await self._store.join(
                        app.id, channel, member, app.max_presence_members, read_cache=channel_type.cached
                    )
                    if reply is None:
                        raise _full(app, channel)
                except OUTAGE_ERRORS as error:
                    self._node.outage(error)
            if reply is None and member is not None:
                if registry.would_exceed_members(channel, member, app.max_presence_members):
                    raise _full(app, channel)
            registry.join(channel, client, member)
        finally:
            self._node.end(shared)
        presence = None
        if channel_type.is_presence:
            members = reply.members if reply is not None else registry.members(channel)
            presence = Presence(ids=list(members), hash=members)
        cache = None
        if channel_type.cached:
            if reply is not None:
                cache = CacheEntry(*reply.cache) if reply.cache is not None else None
            else:
                cache = await self._local.cache_entry(app, channel)
            if cache is None and self._local.cache_miss_is_news(app, channel):
                self._webhooks(app, {"name": "cache_miss", "channel": channel})
        if reply is not None:
            await self.announce(reply.changes, except_socket_id=client.socket_id)
        return JoinResult(presence, cache)

    async def _rejoin(self, app: AppConfig, channel: str, channel_type: ChannelType) -> JoinResult:
        presence = None
        if channel_type.is_presence:
            members = self._local.registry(app).members(channel)
            presence = Presence(ids=list(members), hash=members)
        return JoinResult(presence, await self.cache_entry(app, channel) if channel_type.cached else None)

    async def leave(self, client: Client, channel: str) -> None:
        app = client.app
        registry = self._local.registry(app)
        state = registry.channels.get(channel)
        if state is None or client not in state.subscribers:
            return
        member = state.subscribers[client]
        shared = self._node.begin()
        changes: list[Change] = []
        try:
            registry.leave(channel, client)
            if shared:
                deltas = [Delta("chan", field_of(app.id, channel, family="chan"), -1)]
                if member is not None:
                    deltas.insert(0, Delta("member", field_of(app.id, channel, member.user_id, family="member"), -1))
                changes = await self._apply(app.id, deltas)
        finally:
            self._node.end(shared)
        await self.announce(changes)

    async def publish(self, app: AppConfig, channel: str, text: str, except_socket_id: str | None = None) -> None:
        if not self._node.healthy:
            await self._local.publish(app, channel, text, except_socket_id)
            return
        ttl = self._settings.cache_ttl_seconds if classify(channel).cached else None
        await self._broadcast(app.id, channel, text, except_socket_id, cache_ttl=ttl)

    async def _broadcast(
        self, app_id: str, channel: str, text: str, except_socket_id: str | None, *, cache_ttl: float | None = None
    ) -> None:
        """Deliver here at once, then send one bus message for the other nodes."""
        self._local.deliver(app_id, channel, text, except_socket_id)
        message = bus_message(EVENT, self.node_id, app_id, channel, except_socket_id or "", text)
        cache = self._store.cache_write(app_id, channel, text, cache_ttl) if cache_ttl is not None else None
        await self._send_bus(message, channel, cache=cache)

    async def cache_entry(self, app: AppConfig, channel: str) -> CacheEntry | None:
        async def shared() -> CacheEntry | None:
            entry = await self._store.cache_entry(app.id, channel)
            return CacheEntry(*entry) if entry is not None else None

        return await self._query(shared, lambda: self._local.cache_entry(app, channel))

    # -- users -----------------------------------------------------------------------------------------------------

    async def sign_in(self, client: Client, user: User) -> None:
        app = client.app
        registry = self._local.registry(app)
        again = client in registry.user_sockets(user.id)
        shared = self._node.begin()
        changes: list[Change] = []
        online: list[bool] | None = None
        try:
            registry.sign_in(user.id, client)
            if not again:
                self._watchers.add(app.id, user.watchlist, client)
            if shared:
                try:
                    if not again:
                        changes = await self._store.apply(app.id, [Delta("user", _user_field(app, user), 1)])
                    online = await self._store.users_online(app.id, user.watchlist)
                except OUTAGE_ERRORS as error:
                    self._node.outage(error)
        finally:
            self._node.end(shared)
        if user.watchlist:
            if online is None:
                online = [bool(registry.user_sockets(user_id)) for user_id in user.watchlist]
            client.send_text(initial_state(user.watchlist, online))
        await self.announce(changes)

    async def _sign_out(self, client: Client, user: User) -> None:
        app = client.app
        self._watchers.remove(app.id, user.watchlist, client)
        registry = self._local.registry(app)
        if client not in registry.user_sockets(user.id):
            return
        shared = self._node.begin()
        changes: list[Change] = []
        try:
            registry.sign_out(user.id, client)
            if shared:
                changes = await self._apply(app.id, [Delta("user", _user_field(app, user), -1)])
        finally:
            self._node.end(shared)
        await self.announce(changes)

    async def terminate_user(self, app: AppConfig, user_id: str) -> None:
        await self._local.terminate_user(app, user_id)
        await self._send_bus(bus_message(TERMINATE, self.node_id, app.id, user_id, ""), "#" + user_id)

    # -- queries ---------------------------------------------------------------------------------------------------

    async def channel_info(self, app: AppConfig, channel: str) -> ChannelInfo:
        async def shared() -> ChannelInfo:
            subscriptions, users = await self._store.channel(app.id, channel)
            return ChannelInfo(subscriptions > 0, subscriptions, users if classify(channel).is_presence else None)

        return await self._query(shared, lambda: self._local.channel_info(app, channel))

    async def channels(self, app: AppConfig, prefix: str = "") -> dict[str, ChannelInfo]:
        async def shared() -> dict[str, ChannelInfo]:
            found = await self._store.channels(app.id, prefix)
            return {
                name: ChannelInfo(True, subscriptions, users if classify(name).is_presence else None)
                for name, (subscriptions, users) in found.items()
                if not name.startswith("#")
            }

        return await self._query(shared, lambda: self._local.channels(app, prefix))

    async def presence_user_ids(self, app: AppConfig, channel: str) -> list[str]:
        return await self._query(
            lambda: self._store.presence_user_ids(app.id, channel), lambda: self._local.presence_user_ids(app, channel)
        )

    async def _query(self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]) -> T:
        """Answer from Redis for the whole cluster; from this node alone while Redis is unreachable."""
        if self._node.healthy:
            try:
                return await shared()
            except OUTAGE_ERRORS as error:
                self._node.outage(error)
        return await local()

    # -- announcing transitions ------------------------------------------------------------------------------------

    async def _apply(self, app_id: str, deltas: list[Delta]) -> list[Change]:
        try:
            return await self._store.apply(app_id, deltas)
        except OUTAGE_ERRORS as error:
            self._node.outage(error)
            return []

    async def announce(self, changes: Iterable[Change], *, except_socket_id: str | None = None) -> None:
        """Tell the cluster about the transitions this node's scripts made (it alone saw them)."""
        for change in changes:
            app = self._apps.get(change.app_id)
            if app is None:
                continue
            first, last = change.before <= 0 < change.after, change.after <= 0 < change.before
            if change.family == "chan":
                if first:
                    self._webhooks(app, {"name": "channel_occupied", "channel": change.channel})
                elif last:
                    self._webhooks(app, {"name": "channel_vacated", "channel": change.channel})
                    self._count_sent_at.pop((app.id, change.channel), None)
                if change.after > 0 and change.after != change.before:
                    self._subscription_count_changed(app, change.channel, change.after, change.version)
            elif change.family == "member" and (first or last):
                await self._announce_member(app, change, first, except_socket_id)
            elif change.family == "user" and (first or last):
                await self.watchlist_change(app.id, change.user_id, "online" if first else "offline")

    async def _announce_member(self, app: AppConfig, change: Change, added: bool, except_socket_id: str | None) -> None:
        channel, user_id = change.channel, change.user_id
        if added:
            user_info = self._local.registry(app).members(channel).get(user_id)
            text = codec.encode(MemberAdded(channel=channel, user_id=user_id, user_info=user_info))
            await self._broadcast(app.id, channel, text, except_socket_id)
            self._webhooks(app, {"name": "member_added", "channel": channel, "user_id": user_id})
        else:
            await self._broadcast(app.id, channel, codec.encode(MemberRemoved(channel=channel, user_id=user_id)), None)
            self._webhooks(app, {"name": "member_removed", "channel": channel, "user_id": user_id})

    def _subscription_count_changed(self, app: AppConfig, channel: str, count: int, version: int) -> None:
        """Send the cluster-wide ``subscription_count`` (opt-in, non-presence), at most every 5 s above 100.

        Sent on the next loop turn, so a new subscriber gets its subscription_succeeded first.
        """
        if not app.enable_subscription_count or classify(channel).is_presence:
            return
        key, now = (app.id, channel), time.monotonic()
        if count > SUBSCRIPTION_COUNT_THROTTLE_ABOVE:
            if now - self._count_sent_at.get(key, -SUBSCRIPTION_COUNT_THROTTLE_SECONDS) < 5.0:
                return
        self._count_sent_at[key] = now
        text = codec.encode(SubscriptionCount(channel=channel, subscription_count=count))
        self._spawn(self._broadcast_count(app.id, channel, text, version))
        self._webhooks(app, {"name": "subscription_count", "channel": channel, "subscription_count": count})

    async def _broadcast_count(self, app_id: str, channel: str, text: str, version: int) -> None:
        self._deliver_count(app_id, channel, text, version)
        await self._send_bus(bus_message(COUNT, self.node_id, app_id, channel, str(version), text), channel)

    def _deliver_count(self, app_id: str, channel: str, text: str, version: int) -> None:
        """Deliver a subscription_count unless a newer one for the channel was delivered here already."""
        key = (app_id, channel)
        app = self._apps.get(app_id)
        if app is None or not self._local.registry(app).subscribers(channel):
            self._count_versions.pop(key, None)  # nobody here to tell; keeps the map as small as the channels
            return
        if version < self._count_versions.get(key, 0):
            return
        self._count_versions[key] = version
        self._local.deliver(app_id, channel, text, None)

    async def watchlist_change(self, app_id: str, user_id: str, state: str) -> None:
        self._watchers.notify(app_id, user_id, state)
        await self._send_bus(bus_message(WATCHLIST, self.node_id, app_id, user_id, state), "#" + user_id)

    async def _send_bus(self, message: str, key: str, *, cache: tuple[str, str, int] | None = None) -> None:
        """Send one message to the other nodes, on the bus channel for ``key`` (a channel or ``#user``)."""
        if not self._node.healthy:
            return
        try:
            await self._node.bus.publish(message, key, cache=cache)
        except OUTAGE_ERRORS as error:
            self._node.outage(error)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        async def run() -> None:
            await coroutine

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what the node lifecycle needs -----------------------------------------------------------------------------

    async def receive_bus_message(self, data: str) -> None:
        """Carry out another node's bus message on this node's sockets; our own were handled when sent."""
        kind, node_id, app_id, first, second, body = parse_bus_message(data)
        if node_id == self.node_id:
            return
        if kind == EVENT:
            self._local.deliver(app_id, first, body, second or None)
        elif kind == COUNT:
            self._deliver_count(app_id, first, body, int(second))
        elif kind == WATCHLIST:
            self._watchers.notify(app_id, first, second)
        elif kind == TERMINATE:
            app = self._apps.get(app_id)
            if app is not None:
                for client in list(self._local.registry(app).user_sockets(first)):
                    client.close(ErrorCode.UNAUTHORIZED, "connection terminated by the app")

    def local_records(self) -> dict[str, dict[str, dict[str, tuple[int, str]]]]:
        """What this node contributes, app -> family -> field -> (count, user_info JSON), from its local state."""
        all_records: dict[str, dict[str, dict[str, tuple[int, str]]]] = {}
        for app in self._settings.apps:
            records: dict[str, dict[str, tuple[int, str]]] = {family: {} for family in FAMILIES}
            all_records[app.id] = records
            registry = self._local.registry(app)
            for channel, state in registry.channels.items():
                records["chan"][field_of(app.id, channel, family="chan")] = (state.subscription_count, "")
                for user_id, presence_user in state.members.items():
                    key = field_of(app.id, channel, user_id, family="member")
                    records["member"][key] = (len(presence_user.sockets), codec.dumps(presence_user.user_info))
            for user_id, sockets in registry.users.items():
                records["user"][field_of(app.id, "", user_id, family="user")] = (len(sockets), "")
        for client in self._local.local_clients():  # every client's app is one of the settings' apps
            connections = all_records[client.app.id]["conn"]
            key = field_of(client.app.id, family="conn")
            connections[key] = (connections.get(key, (0, ""))[0] + 1, "")
        return all_records
