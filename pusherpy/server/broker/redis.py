"""Scale-out: several pusherpy nodes sharing one Redis behave as one server.

``RedisBroker`` = ``LocalNode`` (this node's sockets) + ``RedisStore`` (the shared state) + ``Announcer`` (who is
told what), the same announcer as ``LocalBroker``'s:

- Every first/last decision (channel occupied or vacated, a presence user's first or last socket, a user coming
  online, the member limit, the connection quota) is one Lua script, so exactly one node sees each transition; the
  script's ``Change`` records become the announcer's transitions on that node. Queries read the shared counters,
  never ask other nodes.
- A broadcast is delivered to local subscribers at once, then crosses Redis once (``redis_fanout``): one typed
  message on the bus (``redis_bus``: ``PUBLISH`` on one Redis, ``SPUBLISH`` to the channel's shard on a Redis
  Cluster). Every node holds a constant number of bus subscriptions and delivers what other nodes sent to its own
  sockets.
- Faults (see ``redis_node``): nodes heartbeat; survivors reap a node that stopped. While Redis is unreachable the
  node serves its own sockets alone (``healthy`` is False), then re-registers its local state when Redis is back.

Delivery is at most once across nodes: a publish is answered 200 once it reached this node's sockets and was
handed to the bus, or, while Redis is unreachable, once it reached this node's sockets alone; it is never sent to
the bus twice. See docs/scale-out.md ("What a publish answer means").
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ...protocol.actions import Member, User
from ...protocol.apps import AppConfig
from ...protocol.channels import ChannelType, classify
from ...protocol.errors import ConfigError, MemberLimitReached
from ...protocol.events import Presence
from ...protocol.history import HistoryPage
from ...protocol.idempotency import PublishClaim
from .announcer import Announcer
from .base import (
    NO_CONSOLE,
    Broker,
    BrokerSettings,
    CacheEntry,
    ChannelInfo,
    ConsoleLink,
    ConsoleSink,
    JoinResult,
    WebhookSink,
    listed,
    no_webhooks,
)
from .idempotency import LocalPublishes, RedisPublishes
from .node import LocalNode, SentCounter, initial_watchlist_text, not_counted
from .redis_console import ConsoleRelay
from .redis_fanout import BusFanout
from .redis_kept import KeptChannels
from .redis_kept_reads import kept_join, kept_page
from .redis_messages import (
    BusMessage,
    ChannelEventMessage,
    ConsoleEntriesMessage,
    ConsoleWatchMessage,
    KeptEventMessage,
    TerminateMessage,
)
from .redis_node import NodeLifecycle
from .redis_records import Change, Delta, NodeRecords, field_of, local_records, transitions
from .redis_scripts import Family
from .redis_store import OUTAGE_ERRORS, RedisStore
from .subscriber import Subscriber
from .tasks import TaskSet

T = TypeVar("T")


class RedisBroker(Broker):
    """Channels, presence, users and queries shared by every node on one Redis (``settings.redis_url``).

    Args:
        settings: ``redis_url``, ``redis_prefix``, ``node_heartbeat_seconds``, ``node_ttl_seconds``, cache TTL.
        webhooks: receives the webhooks whose transition this node made.
        node_id: this node's id in Redis and on the bus (random by default).
        count_sent: counts each broadcast once (metrics).
        console: records channel and member transitions of watched apps (this node's or another's consoles).
    """

    def __init__(
        self,
        settings: BrokerSettings,
        webhooks: WebhookSink = no_webhooks,
        *,
        node_id: str | None = None,
        count_sent: SentCounter = not_counted,
        console: ConsoleSink = NO_CONSOLE,
    ) -> None:
        if not settings.redis_url:
            raise ConfigError("redis_url must be set to share state through Redis")
        self._settings = settings
        self._apps = {app.id: app for app in settings.apps}
        self.node = LocalNode(settings.cache_ttl_seconds, count_sent)
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
        self._publishes, self._local_publishes = RedisPublishes(self._store), LocalPublishes()
        self._life = NodeLifecycle(self, self._store, settings)
        self._fanout = BusFanout(self.node, self._life, self.node_id)
        self.announcer = Announcer(self._fanout, webhooks, console=console)
        self.console_relay = ConsoleRelay(
            self.node_id, console, self._fanout.send, settings.node_heartbeat_seconds, settings.node_ttl_seconds
        )
        self._kept = KeptChannels(self.node, self._store.history, self.node_id, self._fanout, self._life)
        self._announcing = TaskSet("announcing a subscription to a kept channel")

    @property
    def healthy(self) -> bool:
        return self._life.healthy

    @property
    def node_name(self) -> str:
        return self.node_id

    @property
    def console_link(self) -> ConsoleLink:
        return self.console_relay

    async def start(self) -> None:
        await self._life.start()
        self.console_relay.start()

    async def stop(self) -> None:
        await self.console_relay.stop()
        await self._life.stop()
        self._kept.close()
        self._announcing.cancel()
        self.announcer.close()
        await self._store.close()

    def local_clients(self) -> list[Subscriber]:
        return self.node.clients()

    def stats(self) -> dict[str, dict[str, Any]]:
        return self.node.stats()

    def counters(self) -> dict[str, int]:
        return {"bus_messages_refused": self._life.bus.refused_count}

    async def claim(self, app: AppConfig, name: str, ttl: float) -> bool | None:
        key, ms = f"{self._store.base(app.id)}:claim:{name}", max(int(ttl * 1000), 1)

        async def shared() -> bool | None:  # SET NX: exactly one node's claim succeeds
            return bool(await self._store.redis.set(key, "1", nx=True, px=ms))

        return await self._query(shared, lambda: None)

    async def claim_publish(self, app: AppConfig, key: str, window: float) -> PublishClaim:
        """Claimed in Redis for the whole cluster; while Redis is unreachable, in this node's memory alone (a retry
        that reaches another node then, or this one once Redis is back, is delivered again)."""
        return await self._query(
            lambda: self._publishes.claim(app.id, key, window),
            lambda: self._local_publishes.claim(app.id, key, window),
        )

    async def settle_publish(self, app: AppConfig, key: str, reply: str) -> None:
        await self._query(
            lambda: self._publishes.settle(app.id, key, reply), lambda: self._local_publishes.settle(app.id, key, reply)
        )

    async def release_publish(self, app: AppConfig, key: str) -> None:
        self._local_publishes.release(app.id, key)
        # While Redis is unreachable its claim stays: released when it is back (else it swallows the retry).
        await self._query(
            lambda: self._publishes.release(app.id, key), lambda: self._publishes.release_later(app.id, key)
        )

    async def receive_bus_message(self, message: BusMessage) -> None:
        if isinstance(message, ConsoleWatchMessage | ConsoleEntriesMessage):
            self.console_relay.receive(message)
            return
        if isinstance(message, KeptEventMessage):
            if message.node_id != self.node_id:
                self._kept.receive(message)
            return
        await self._fanout.receive(message)

    async def reconnected(self) -> None:
        await self._publishes.release_unreleased()

    async def recovered(self) -> None:
        await self.console_relay.refresh()  # watches said while Redis was unreachable were lost
        await self._kept.catch_up(self._settings.apps)

    # -- connections -----------------------------------------------------------------------------------------------

    async def add_client(self, client: Subscriber) -> bool:
        app = client.app
        with self._life.change() as redis:
            if await redis.run(lambda: self._store.connect(app.id, app.max_connections)) is False:
                return False  # the cluster holds the app's quota of connections
            return self.node.add(client, app.max_connections)

    async def remove_client(self, client: Subscriber) -> None:
        await self.leave_all(client)
        user = client.connection.user
        if user is not None:
            await self._sign_out(client, user)
        await self._change(
            client.app,
            lambda: self.node.remove(client),
            [Delta(Family.CONN, field_of(client.app.id, family=Family.CONN), -1)],
        )

    async def connection_count(self, app: AppConfig) -> int:
        return await self._query(
            lambda: self._store.connection_count(app.id), lambda: self.node.connection_count(app.id)
        )

    # -- channels --------------------------------------------------------------------------------------------------

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
        if client in registry.subscribers(channel):  # subscribing again changes nothing
            cache = await self.cache_entry(app, channel) if channel_type.cached else None
            return JoinResult(self.node.presence(app, channel) if channel_type.is_presence else None, cache)
        with self._life.change() as redis:
            reply = await redis.run(
                lambda: self._store.join(
                    app.id, channel, member, app.max_presence_members, read_cache=channel_type.cached
                )
            )
            if reply is None and member is not None:  # this node alone decides while Redis is unreachable
                if registry.would_exceed_members(channel, member, app.max_presence_members):
                    raise MemberLimitReached.for_channel(channel, app.max_presence_members)
            rule = app.history_rule(channel)
            history = await kept_join(self._kept, (app.id, channel), rule, resume_after) if rule is not None else None
            if rule is not None and history is None and resume_after is not None:
                self._kept.strand((app.id, channel), client, resume_after)  # replayed when Redis is back
            registry.join(channel, client, member)  # no await since the replay was decided (Broker.join)
        presence = None
        if channel_type.is_presence:
            members = reply.members if reply is not None else registry.members(channel)
            presence = Presence(ids=list(members), hash=members)
        cache = None
        if channel_type.cached:
            if reply is not None:
                cache = CacheEntry(*reply.cache) if reply.cache is not None else None
            else:
                cache = self.node.cache.get(app.id, channel)
            if cache is None:
                self.announcer.cache_missed(app, channel)
        if reply is not None:
            if rule is not None:  # the replay is sent before anything awaits: announce after that
                self._announcing.spawn(self.announce(reply.changes, except_socket_id=client.socket_id))
            else:
                await self.announce(reply.changes, except_socket_id=client.socket_id)
        return JoinResult(presence, cache, history)

    async def leave(self, client: Subscriber, channel: str) -> None:
        app = client.app
        registry = self.node.registry(app)
        state = registry.channels.get(channel)
        if state is None or client not in state.subscribers:
            return
        member = state.subscribers[client]
        deltas = [Delta(Family.CHAN, field_of(app.id, channel, family=Family.CHAN), -1)]
        if member is not None:
            deltas.insert(0, Delta(Family.MEMBER, field_of(app.id, channel, member.user_id, family=Family.MEMBER), -1))
        await self._change(app, lambda: registry.leave(channel, client), deltas)
        self._kept.unstrand((app.id, channel), client)
        if channel not in registry.channels:
            self._kept.forget((app.id, channel))

    async def publish(
        self, app: AppConfig, channel: str, text: str, except_socket_id: str | None = None, *, keep: bool = True
    ) -> int | None:
        cached = classify(channel).cached
        rule = app.history_rule(channel) if keep else None
        if rule is not None:
            cache = self._store.cache_write(app.id, channel, "", self._settings.cache_ttl_seconds) if cached else None
            serial = await self._kept.publish((app.id, channel), rule, text, except_socket_id, cache=cache)
            if cached:
                self.announcer.cache_written(app.id, channel)
            return serial
        if cached:
            self.announcer.cache_written(app.id, channel)
        self.node.deliver(app.id, channel, text, except_socket_id)
        if not self._life.healthy:
            if cached:
                self.node.cache.put(app.id, channel, text)
            return None
        cache = self._store.cache_write(app.id, channel, text, self._settings.cache_ttl_seconds) if cached else None
        await self._fanout.send(ChannelEventMessage(self.node_id, app.id, channel, except_socket_id, text), cache=cache)
        return None

    async def history(self, app: AppConfig, channel: str, after: int | None, limit: int) -> HistoryPage:
        """From the channel's stream in Redis; 503 while Redis is unreachable (no node has another copy)."""
        rule = app.history_rule(channel)
        if rule is None:
            return HistoryPage((), None, None)
        return await kept_page(self._kept, (app.id, channel), rule, after, limit)

    async def cache_entry(self, app: AppConfig, channel: str) -> CacheEntry | None:
        async def shared() -> CacheEntry | None:
            entry = await self._store.cache_entry(app.id, channel)
            return CacheEntry(*entry) if entry is not None else None

        return await self._query(shared, lambda: self.node.cache.get(app.id, channel))

    # -- users -----------------------------------------------------------------------------------------------------

    async def sign_in(self, client: Subscriber, user: User) -> None:
        app = client.app
        registry = self.node.registry(app)
        again = client in registry.user_sockets(user.id)
        changes: list[Change] | None = None
        with self._life.change() as redis:
            if not again:
                registry.sign_in(user.id, client)
                self.node.watch(app.id, user.watchlist, client)
                field = field_of(app.id, "", user.id, family=Family.USER)
                changes = await redis.run(lambda: self._store.apply(app.id, [Delta(Family.USER, field, 1)]))
            online = await redis.run(lambda: self._store.users_online(app.id, user.watchlist))
        if user.watchlist:
            if online is None:
                online = [bool(registry.user_sockets(user_id)) for user_id in user.watchlist]
            client.send_text(initial_watchlist_text(user.watchlist, online))
        await self.announce(changes or [])

    async def _sign_out(self, client: Subscriber, user: User) -> None:
        app = client.app
        self.node.unwatch(app.id, user.watchlist, client)
        registry = self.node.registry(app)
        if client not in registry.user_sockets(user.id):
            return
        field = field_of(app.id, "", user.id, family=Family.USER)
        await self._change(app, lambda: registry.sign_out(user.id, client), [Delta(Family.USER, field, -1)])

    async def terminate_user(self, app: AppConfig, user_id: str) -> None:
        self.node.terminate(app.id, user_id)
        await self._fanout.send(TerminateMessage(self.node_id, app.id, user_id))

    # -- queries ---------------------------------------------------------------------------------------------------

    async def channel_info(self, app: AppConfig, channel: str) -> ChannelInfo:
        async def shared() -> ChannelInfo:
            return ChannelInfo.of(channel, *await self._store.channel(app.id, channel))

        return await self._query(shared, lambda: self.node.channel_info(app, channel))

    async def channels(self, app: AppConfig, prefix: str = "") -> dict[str, ChannelInfo]:
        async def shared() -> dict[str, ChannelInfo]:
            found = await self._store.channels(app.id, prefix)
            return {name: ChannelInfo.of(name, *totals) for name, totals in found.items() if listed(name)}

        return await self._query(shared, lambda: self.node.channels(app, prefix))

    async def presence_user_ids(self, app: AppConfig, channel: str) -> list[str]:
        return await self._query(
            lambda: self._store.presence_user_ids(app.id, channel),
            lambda: list(self.node.registry(app).members(channel)),
        )

    async def _query(self, shared: Callable[[], Awaitable[T]], local: Callable[[], T]) -> T:
        """Answer from Redis for the whole cluster; from this node alone while Redis is unreachable."""
        if self._life.healthy:
            try:
                return await shared()
            except OUTAGE_ERRORS as error:
                self._life.outage(error)
        return local()

    # -- transitions -----------------------------------------------------------------------------------------------

    async def _change(self, app: AppConfig, local: Callable[[], object], deltas: list[Delta]) -> None:
        """Make a local change and its shared twin (unless Redis is unreachable), then announce what it crossed."""
        with self._life.change() as redis:
            local()
            changes = await redis.run(lambda: self._store.apply(app.id, deltas))
        await self.announce(changes or [])

    async def announce(self, changes: Iterable[Change], *, except_socket_id: str | None = None) -> None:
        """Announce the transitions this node's scripts made (it alone saw them)."""
        for change in changes:
            app = self._apps.get(change.app_id)
            if app is not None:
                user_info = self.node.registry(app).members(change.channel).get(change.user_id)
                await self.announcer.announce(app, transitions(change, user_info, except_socket_id))

    def local_records(self) -> NodeRecords:
        return local_records(self.node, self._settings.apps)
