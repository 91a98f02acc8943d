"""One node's view of the cluster state in Redis: the atomic scripts, the queries and the node registry.

Knows nothing of sockets: it takes app ids, channel names and user ids, and returns ``Change`` records (a cluster
total before and after a script moved it) for ``RedisBroker`` to announce. Commands are never retried by the client
library: a script or a ``PUBLISH`` that might have run must not run twice (a retried ``PUBLISH`` is a duplicate
event, a retried increment a wrong count); after an error the broker re-registers its state instead.

The same keys and scripts serve one Redis and a Redis Cluster (``cluster=True``): each app's keys share a hash tag
(see ``redis_scripts``), so every script touches one slot, and a node's records are kept per app.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Any, Final

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ...protocol import codec
from ...protocol.actions import Member
from ...protocol.errors import MemberLimitReached
from ...protocol.redact import redacted_url
from . import redis_scripts
from .redis_bus import DEFAULT_SHARDS, Bus, ShardedBus, SingleBus
from .redis_bus_mac import BusMac
from .redis_clients import redis_client
from .redis_history import RedisHistory
from .redis_messages import OnMessage
from .redis_records import Change, Delta, JoinReply, parse_changes
from .redis_subscription import OnOutage

OUTAGE_ERRORS: Final = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError,
    redis_errors.ClusterError,
    redis_errors.TryAgainError,
    redis_errors.AskError,
    redis_errors.RedisClusterException,
    OSError,
)
"""Errors that mean "Redis is unreachable or not ready" (or a cluster is failing over), not "pusherpy has a bug"."""


class WrongRedisMode(redis_errors.ConnectionError):
    """``redis_url`` names a Redis Cluster node but ``redis_cluster`` is off (or the reverse): the node cannot use
    it, so it serves alone, as in an outage, and says why."""


APPLY_CHUNK: Final = 500
"""Deltas per script call when re-registering a node, so one call never blocks Redis for long."""


class RedisStore:
    """The shared state for one node.

    Args:
        url: ``redis://`` / ``rediss://`` / ``unix://`` URL (of any primary, for a cluster).
        prefix: namespace of every key and of the bus; deployments with different prefixes share nothing.
        node_id: this node's id in the registry; ``register_new_id`` replaces it after the node was reaped.
        app_ids: the apps every node serves (a dead node's records are removed app by app).
        timeout: seconds before a command or a connection attempt counts as an outage.
        cluster: use Redis Cluster, with the bus on sharded pub/sub over ``shards`` channels.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        node_id: str,
        app_ids: Iterable[str],
        *,
        timeout: float,
        cluster: bool = False,
        shards: int = DEFAULT_SHARDS,
    ) -> None:
        options: dict[str, Any] = {
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 0),
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        self.redis: Redis | RedisCluster
        self.redis = redis_client(url, cluster=cluster, timeout=timeout, options=options)
        self.url = url
        self.cluster = cluster
        self.shards = shards
        self.prefix = prefix
        self.node_id = node_id
        self.app_ids = list(app_ids)
        self.timeout = timeout
        self._incarnation = 0
        self._cluster_ready = False
        self._nodes_key, self._dead_key = f"{{{prefix}}}:nodes", f"{{{prefix}}}:dead"
        self._apply = self.redis.register_script(redis_scripts.APPLY)
        self._connect = self.redis.register_script(redis_scripts.CONNECT)
        self._join = self.redis.register_script(redis_scripts.JOIN)
        self._reap = self.redis.register_script(redis_scripts.REAP)
        self._heartbeat = self.redis.register_script(redis_scripts.HEARTBEAT)
        self._mark_dead = self.redis.register_script(redis_scripts.MARK_DEAD)
        self.history = RedisHistory(self.redis, self.base)

    def base(self, app_id: str) -> str:
        """The hash-tagged stem of every key of an app: one slot per app."""
        return f"{{{self.prefix}:{app_id}}}"

    def _app_key(self, app_id: str, *parts: str) -> str:
        return ":".join((self.base(app_id), *parts))

    def bus(self, mac: BusMac, on_message: OnMessage, on_outage: OnOutage) -> Bus:
        """A new bus for this store's Redis (not yet open), its messages signed and checked with ``mac``."""
        common = (self.node_id, mac, on_message, on_outage, self.timeout)
        if isinstance(self.redis, RedisCluster):
            return ShardedBus(self.redis, self.url, self.prefix, self.shards, *common)
        return SingleBus(self.redis, self.url, self.prefix, *common)

    async def close(self) -> None:
        await self.redis.aclose()

    async def reset_connections(self) -> None:
        """Drop idle pooled connections (after Redis restarted, each would fail once); the bus keeps its own."""
        if isinstance(self.redis, RedisCluster):
            # Re-read the slot map: the primaries may have changed meanwhile (a failover). initialize() does that
            # only the first time; after that the nodes manager must be asked directly.
            if self._cluster_ready:
                await self.redis.nodes_manager.initialize()
            else:
                await self.redis.initialize()
                self._cluster_ready = True
        else:
            await self.redis.connection_pool.disconnect(inuse_connections=False)

    async def check_mode(self) -> None:
        """Refuse a Redis Cluster node addressed as one Redis: keys would land on whatever slot its node owns."""
        if isinstance(self.redis, RedisCluster):
            return  # a plain Redis addressed as a cluster fails in initialize(): "Cluster mode is not enabled"
        info = await self.redis.info("cluster")
        if info.get("cluster_enabled"):
            raise WrongRedisMode(
                f"the Redis at {redacted_url(self.url)} is a Redis Cluster node: set redis_cluster = true "
                "(--redis-cluster, PUSHERPY_REDIS_CLUSTER=true)"
            )

    # -- node lifecycle --------------------------------------------------------------------------------------------

    async def epochs(self, app_ids: Sequence[str] | None = None) -> dict[str, str]:
        """The id of each app's current data set (of ``app_ids``, else of every app served): made by the first node
        to see it, lost when Redis loses the app's keys (a restart without persistence; on a cluster, of the shard
        that holds the app)."""
        token = secrets.token_hex(8)
        app_ids = self.app_ids if app_ids is None else app_ids
        async with self.redis.pipeline(transaction=False) as pipe:
            for app_id in app_ids:
                pipe.set(self._app_key(app_id, "epoch"), token, nx=True)
                pipe.get(self._app_key(app_id, "epoch"))
            results = await pipe.execute()
        return {app_id: str(results[2 * index + 1]) for index, app_id in enumerate(app_ids)}

    async def current_epochs(self) -> dict[str, str | None]:
        """Each app's epoch as Redis has it now (None: its data is gone), without making new ones."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for app_id in self.app_ids:
                pipe.get(self._app_key(app_id, "epoch"))
            results = await pipe.execute()
        return dict(zip(self.app_ids, results, strict=True))

    async def heartbeat(self, ttl_seconds: float, *, register: bool = False) -> tuple[bool, list[str], list[str]]:
        """Mark this node alive (``register``: also when it is new); return (whether it is registered, the nodes
        whose heartbeat expired, the nodes being reaped)."""
        registered, expired, dead = await self._heartbeat(
            keys=[self._nodes_key, self._dead_key],
            args=[self.node_id, int(ttl_seconds * 1000), "1" if register else "0"],
        )
        return bool(registered), [node for node in expired if node != self.node_id], list(dead)

    def new_node_id(self) -> str:
        """Take a new id for this node: the old one was reaped (or lost) and is never registered again."""
        self._incarnation += 1
        root = self.node_id.partition(".")[0]
        self.node_id = f"{root}.{self._incarnation}"
        return self.node_id

    async def mark_dead(self, node_id: str, ttl_seconds: float | None) -> bool:
        """Move a node whose heartbeat is older than ``ttl_seconds`` (``None``: any node) to the dead set, once."""
        ttl = 0 if ttl_seconds is None else max(int(ttl_seconds * 1000), 1)
        return bool(await self._mark_dead(keys=[self._nodes_key, self._dead_key], args=[node_id, ttl]))

    async def reap(self, node_id: str) -> list[Change]:
        """Remove everything a dead node contributed, app by app, then forget it. Safe to repeat, from any node."""
        changes: list[Change] = []
        for app_id in self.app_ids:
            changes.extend(parse_changes(await self._reap(keys=[self.base(app_id)], args=[node_id])))
        await self.redis.srem(self._dead_key, node_id)
        return changes

    async def node_records(self) -> dict[str, dict[str, dict[str, int]]]:
        """This node's records as Redis has them now: app -> family -> field -> count."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for app_id in self.app_ids:
                for family in redis_scripts.FAMILIES:
                    pipe.hgetall(self._app_key(app_id, "node", self.node_id, family))
            results = iter(await pipe.execute())
        return {
            app_id: {
                family: {field: int(count) for field, count in next(results).items()}
                for family in redis_scripts.FAMILIES
            }
            for app_id in self.app_ids
        }

    # -- changes ---------------------------------------------------------------------------------------------------

    async def apply(self, app_id: str, deltas: Iterable[Delta]) -> list[Change]:
        """Add each delta (all of one app) to this node's record and to the app's total, atomically per chunk."""
        changes: list[Change] = []
        args: list[str | int] = []
        for delta in deltas:
            args.extend((delta.family, delta.field, delta.delta, delta.info))
            if len(args) >= APPLY_CHUNK * 4:
                changes.extend(await self._apply_chunk(app_id, args))
                args = []
        if args:
            changes.extend(await self._apply_chunk(app_id, args))
        return changes

    async def _apply_chunk(self, app_id: str, args: list[str | int]) -> list[Change]:
        return parse_changes(await self._apply(keys=[self.base(app_id)], args=[self.node_id, *args]))

    async def connect(self, app_id: str, max_connections: int) -> bool:
        """Count a connection unless the app is at its cluster-wide quota."""
        return bool(await self._connect(keys=[self.base(app_id)], args=[self.node_id, app_id, max_connections]))

    async def join(
        self, app_id: str, channel: str, member: Member | None, member_limit: int, *, read_cache: bool
    ) -> JoinReply:
        """Count a subscription (and a presence socket); ``MemberLimitReached`` when the presence channel is full."""
        user_id, info = ("", "") if member is None else (member.user_id, codec.dumps(member.user_info))
        limit = member_limit if member is not None else 0
        reply = await self._join(
            keys=[self.base(app_id)],
            args=[self.node_id, app_id, channel, user_id, info, limit, "1" if read_cache else "0"],
        )
        if not reply[0]:
            raise MemberLimitReached.for_channel(channel, member_limit)
        _, flat, member_list, cache = reply
        members = {member_list[i]: codec.loads(member_list[i + 1]) for i in range(0, len(member_list), 2)}
        cache_entry = (cache[0], max(int(cache[1]), 0) / 1000) if cache else None
        return JoinReply(parse_changes(flat), members, cache_entry)

    def cache_write(self, app_id: str, channel: str, text: str, ttl: float) -> tuple[str, str, int]:
        """What the bus sets beside a cache channel's event: (key, last event, ms to keep it)."""
        return self._app_key(app_id, "cache", channel), text, max(int(ttl * 1000), 1)

    # -- queries ---------------------------------------------------------------------------------------------------

    async def connection_count(self, app_id: str) -> int:
        return int(await self.redis.get(self._app_key(app_id, "connections")) or 0)

    async def channel(self, app_id: str, channel: str) -> tuple[int, int]:
        """(subscription count, presence user count) of one channel."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._app_key(app_id, "channels"), channel)
            pipe.hlen(self._app_key(app_id, "presence", channel))
            subscriptions, users = await pipe.execute()
        return int(subscriptions or 0), int(users)

    async def channels(self, app_id: str, prefix: str) -> dict[str, tuple[int, int]]:
        """Occupied channels starting with ``prefix``: name -> (subscription count, presence user count)."""
        found: dict[str, int] = {}
        pattern = "".join(f"\\{char}" if char in "\\*?[]" else char for char in prefix) + "*"
        async for name, count in self.redis.hscan_iter(self._app_key(app_id, "channels"), match=pattern):
            found[name] = int(count)
        presence = [name for name in found if name.startswith("presence-")]
        users: dict[str, int] = {}
        if presence:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in presence:
                    pipe.hlen(self._app_key(app_id, "presence", name))
                users = dict(zip(presence, map(int, await pipe.execute()), strict=True))
        return {name: (count, users.get(name, 0)) for name, count in found.items()}

    async def presence_user_ids(self, app_id: str, channel: str) -> list[str]:
        return [str(user_id) for user_id in await self.redis.hkeys(self._app_key(app_id, "presence", channel))]

    async def cache_entry(self, app_id: str, channel: str) -> tuple[str, float] | None:
        key = self._app_key(app_id, "cache", channel)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            text, pttl = await pipe.execute()
        if text is None or int(pttl) <= 0:
            return None
        return str(text), int(pttl) / 1000

    async def users_online(self, app_id: str, user_ids: Sequence[str]) -> list[bool]:
        """Whether each user is signed in on some node."""
        if not user_ids:
            return []
        counts = await self.redis.hmget(self._app_key(app_id, "users"), list(user_ids))
        return [bool(count) for count in counts]
