"""One node's view of the cluster state in Redis: the atomic scripts, the queries and the message bus.

Knows nothing of sockets: it takes app ids, channel names and user ids, and returns ``Change`` records (a cluster
total before and after a script moved it) for ``RedisBroker`` to announce. Commands are never retried by the client
library: a script or a ``PUBLISH`` that might have run must not run twice (a retried ``PUBLISH`` is a duplicate
event, a retried increment a wrong count); after an error the broker re-registers its state instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ...protocol import codec
from ...protocol.connection import Member
from . import redis_scripts

OUTAGE_ERRORS: Final = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError,
    OSError,
)
"""Errors that mean "Redis is unreachable or not ready", not "pusherpy has a bug"."""

Family: TypeAlias = Literal["member", "chan", "user", "conn"]
APPLY_CHUNK: Final = 500
"""Deltas per script call when re-registering a node, so one call never blocks Redis for long."""


@dataclass(frozen=True, slots=True)
class Change:
    """A cluster total moved by a script: a channel's subscriptions, a presence user's sockets, a user's
    signed-in sockets or an app's connections. ``before == 0`` is a first, ``after == 0`` a last."""

    family: str
    app_id: str
    channel: str
    user_id: str
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class Delta:
    family: Family
    field: str
    delta: int
    info: str = ""
    """The presence member's user_info JSON (``member`` only)."""


@dataclass(frozen=True, slots=True)
class JoinReply:
    changes: list[Change]
    members: dict[str, Any]
    """Presence user id -> user_info, cluster-wide, after the join (presence channels only)."""
    cache: tuple[str, float] | None
    """The cache channel's last event and its seconds left, when asked for and present."""


def field_of(app_id: str, channel: str = "", user_id: str = "", *, family: Family) -> str:
    """The node-record field of a family (see ``redis_scripts``)."""
    if family == "conn":
        return f"{app_id}\n"
    if family == "chan":
        return f"{app_id}\n{channel}"
    if family == "member":
        return f"{app_id}\n{channel}\n{user_id}"
    return f"{app_id}\n{user_id}"


def parse_changes(flat: Sequence[Any]) -> list[Change]:
    changes = []
    for index in range(0, len(flat), 4):
        family, field, before, after = flat[index : index + 4]
        app_id, _, rest = field.partition("\n")
        channel, user_id = "", ""
        if family == "chan":
            channel = rest
        elif family == "member":
            channel, _, user_id = rest.partition("\n")
        elif family == "user":
            user_id = rest
        changes.append(Change(family, app_id, channel, user_id, int(before), int(after)))
    return changes


def bus_message(kind: str, node_id: str, app_id: str, first: str, second: str, body: str = "") -> str:
    """One bus message: a JSON header line (kind, sender node, app, two arguments), then the body as is.

    The body (an encoded channel event) is appended untouched, so it crosses Redis without being re-encoded.
    """
    return codec.dumps([kind, node_id, app_id, first, second]) + "\n" + body


def parse_bus_message(data: str) -> tuple[str, str, str, str, str, str]:
    header, _, body = data.partition("\n")
    kind, node_id, app_id, first, second = codec.loads(header)
    return kind, node_id, app_id, first, second, body


class RedisStore:
    """The shared state for one node.

    Args:
        url: ``redis://`` / ``rediss://`` / ``unix://`` URL.
        prefix: namespace of every key and of the bus channel; deployments with different prefixes share nothing.
        node_id: this node's id in the node records.
        timeout: seconds before a command or a connection attempt counts as an outage.
    """

    def __init__(self, url: str, prefix: str, node_id: str, *, timeout: float) -> None:
        self.redis: Redis = Redis.from_url(
            url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self.prefix = prefix
        self.node_id = node_id
        self.timeout = timeout
        self.bus_channel = f"{prefix}:bus"
        self.heartbeat_message = bus_message("h", node_id, "", "", "")
        """Published with each heartbeat; hearing it back proves the bus subscription alive."""
        self._apply = self.redis.register_script(redis_scripts.APPLY)
        self._connect = self.redis.register_script(redis_scripts.CONNECT)
        self._join = self.redis.register_script(redis_scripts.JOIN)
        self._heartbeat = self.redis.register_script(redis_scripts.HEARTBEAT)
        self._reap = self.redis.register_script(redis_scripts.REAP)

    def _app_key(self, app_id: str, *parts: str) -> str:
        return ":".join((self.prefix, "app", app_id, *parts))

    async def close(self) -> None:
        await self.redis.aclose()

    async def reset_connections(self) -> None:
        """Drop idle pooled connections (after Redis restarted, each would fail once); the bus keeps its own."""
        await self.redis.connection_pool.disconnect(inuse_connections=False)

    # -- node lifecycle --------------------------------------------------------------------------------------------

    async def epoch(self) -> str:
        """The id of Redis's current data set: created by the first node to see it, lost when Redis loses its data."""
        key = f"{self.prefix}:epoch"
        await self.redis.set(key, secrets.token_hex(8), nx=True)
        value = await self.redis.get(key)
        return str(value)

    async def heartbeat(self, ttl_seconds: float) -> tuple[bool, list[str]]:
        """Mark this node alive; return (whether it was still registered, the expired nodes)."""
        known, expired = await self._heartbeat(
            args=[self.prefix, self.node_id, int(ttl_seconds * 1000), self.heartbeat_message]
        )
        return bool(known), [node for node in expired if node != self.node_id]

    async def reap(self, node_id: str, ttl_seconds: float, *, retire: bool = False) -> list[Change]:
        """Remove a node that stopped heartbeating (or this node, ``retire``) and all it contributed, once."""
        flat = await self._reap(args=[self.prefix, node_id, int(ttl_seconds * 1000), "1" if retire else "0"])
        return parse_changes(flat)

    async def node_records(self) -> dict[str, dict[str, int]]:
        """This node's records, family -> field -> count, as Redis has them now."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for family in redis_scripts.FAMILIES:
                pipe.hgetall(f"{self.prefix}:node:{self.node_id}:{family}")
            results = await pipe.execute()
        return {
            family: {field: int(count) for field, count in result.items()}
            for family, result in zip(redis_scripts.FAMILIES, results, strict=True)
        }

    # -- changes ---------------------------------------------------------------------------------------------------

    async def apply(self, deltas: Iterable[Delta]) -> list[Change]:
        """Add each delta to this node's record and to the cluster total, atomically per chunk."""
        changes: list[Change] = []
        args: list[str | int] = []
        for delta in deltas:
            args.extend((delta.family, delta.field, delta.delta, delta.info))
            if len(args) >= APPLY_CHUNK * 4:
                changes.extend(parse_changes(await self._apply(args=[self.prefix, self.node_id, *args])))
                args = []
        if args:
            changes.extend(parse_changes(await self._apply(args=[self.prefix, self.node_id, *args])))
        return changes

    async def connect(self, app_id: str, max_connections: int) -> bool:
        """Count a connection unless the app is at its cluster-wide quota."""
        return bool(await self._connect(args=[self.prefix, self.node_id, app_id, max_connections]))

    async def join(
        self, app_id: str, channel: str, member: Member | None, member_limit: int, *, read_cache: bool
    ) -> JoinReply | None:
        """Count a subscription (and a presence socket); None when the presence channel is full."""
        user_id, info = ("", "") if member is None else (member.user_id, codec.dumps(member.user_info))
        limit = member_limit if member is not None else 0
        reply = await self._join(
            args=[self.prefix, self.node_id, app_id, channel, user_id, info, limit, "1" if read_cache else "0"]
        )
        if not reply[0]:
            return None
        _, flat, member_list, cache = reply
        members = {member_list[i]: codec.loads(member_list[i + 1]) for i in range(0, len(member_list), 2)}
        cache_entry = (cache[0], max(int(cache[1]), 0) / 1000) if cache else None
        return JoinReply(parse_changes(flat), members, cache_entry)

    async def publish(self, message: str, *, cache: tuple[str, str, str, float] | None = None) -> None:
        """Send one bus message; with ``cache`` (app id, channel, text, ttl), also keep a cache channel's last event.

        Both go in one round trip.
        """
        if cache is None:
            await self.redis.publish(self.bus_channel, message)
            return
        app_id, channel, text, ttl = cache
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self._app_key(app_id, "cache", channel), text, px=max(int(ttl * 1000), 1))
            pipe.publish(self.bus_channel, message)
            await pipe.execute()

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
