"""The message bus between nodes: a constant number of Redis pub/sub subscriptions per node, whatever it serves.

Two shapes, one interface:

- ``SingleBus`` (one Redis): one channel, ``pusherpy:bus`` (the prefix, then ``:bus``); ``PUBLISH`` to send, one
  ``SUBSCRIBE`` per node.
- ``ShardedBus`` (Redis Cluster): ``shards`` channels ``{pusherpy:bus:N}`` spread over the cluster's slots,
  ``SPUBLISH`` to send and one ``SSUBSCRIBE`` per shard channel on the primary that owns it. A message goes to the
  shard of its Pusher channel, so one channel's events keep their order while the pub/sub load spreads over the
  cluster's primaries (classic ``PUBLISH`` in a cluster is copied to every primary; sharded pub/sub stays on one
  shard).

Every message of one node is heard back by that node too: heartbeats published to every subscription prove each
one alive. Losing a subscription's connection, or Redis moving a shard channel elsewhere (``sunsubscribe``), is
reported as an outage; the node re-opens the bus when it recovers.

Every message about an app is signed with the app's bus key (``redis_bus_mac``; heartbeats carry nothing to act
on) and subscriptions read raw bytes, which are checked before anything is done with them. Messages without a
valid MAC, and messages that are not pusherpy's, are dropped, counted (``refused_count``, in /metrics) and logged at
most once a minute of each kind.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import Any, Final, Protocol
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import SlotNotCoveredError

from .redis_bus_mac import BusMac, ForgedBusMessage
from .redis_messages import BadBusMessage, BusMessage, HeartbeatMessage, OnMessage, routing_key
from .redis_subscription import OnOutage, Subscription

logger = logging.getLogger(__name__)

DEFAULT_SHARDS: Final = 16
BAD_MESSAGE_LOG_INTERVAL: Final = 60.0
"""Undecodable or refused bus messages are counted; at most one of each is logged per this many seconds."""


class CountedWarning:
    """A warning that can repeat at message rate: counted every time, logged at most once per interval."""

    def __init__(self, text: str) -> None:
        self._text = text
        self.count = 0
        self._logged_at = float("-inf")

    def record(self, error: Exception) -> None:
        self.count += 1
        now = asyncio.get_running_loop().time()
        if now - self._logged_at >= BAD_MESSAGE_LOG_INTERVAL:
            self._logged_at = now
            logger.warning("%s (%s); %d so far", self._text, error, self.count)


class Bus(Protocol):
    """What the node needs from the bus."""

    @property
    def heard_at(self) -> float:
        """Loop time when the quietest subscription last heard something."""

    async def open(self) -> None:
        """Subscribe and wait for Redis to confirm, so no message sent after this returns is missed."""

    async def close(self) -> None: ...

    @property
    def open_now(self) -> bool:
        """True while every subscription's reader is running."""

    def channel_for(self, key: str) -> str:
        """The bus channel that carries messages about ``key`` (a Pusher channel or user)."""

    async def heartbeat(self) -> None:
        """Publish the heartbeat message on every subscription, so each is heard from."""

    async def publish(self, message: BusMessage, *, cache: tuple[str, str, int] | None = None) -> None:
        """Send ``message`` on the channel for its routing key; with ``cache`` (key, value, ms), also set that key,
        in the same round trip."""

    @property
    def refused_messages(self) -> CountedWarning:
        """Messages Redis answered with an error other than an outage (counted, logged now and then)."""

    @property
    def refused_count(self) -> int:
        """Messages heard on the bus and dropped: without a valid MAC, or not pusherpy's at all."""


class _BusBase:
    """Subscriptions, heartbeats and publishing, for either shape: ``channels`` and ``_sharded`` say which."""

    channels: list[str]

    def __init__(
        self,
        client: Redis | RedisCluster,
        sharded: bool,
        node_id: str,
        mac: BusMac,
        on_message: OnMessage,
        on_outage: OnOutage,
        timeout: float,
    ) -> None:
        self._client = client
        self._sharded = sharded
        self._mac = mac
        self._heartbeat = mac.seal(HeartbeatMessage(node_id))
        self._on_message = on_message
        self._on_outage = on_outage
        self._timeout = timeout
        self._subscriptions: list[Subscription] = []
        self.forged_messages = CountedWarning(
            "dropped bus messages without a valid MAC: a node with another cluster_secret or other app secrets "
            "shares this Redis and redis_prefix, or someone is forging events"
        )
        self.bad_messages = CountedWarning("dropped messages on the bus that are not pusherpy's (or another version's)")
        self.refused_messages = CountedWarning("Redis refused a bus message or its cache write")

    @property
    def refused_count(self) -> int:
        return self.forged_messages.count + self.bad_messages.count

    @property
    def heard_at(self) -> float:
        return min((subscription.heard_at for subscription in self._subscriptions), default=0.0)

    @property
    def open_now(self) -> bool:
        return bool(self._subscriptions) and all(
            subscription.reader is not None and not subscription.reader.done() for subscription in self._subscriptions
        )

    async def _start(self, subscriptions: list[Subscription]) -> None:
        self._subscriptions = subscriptions
        try:
            for subscription in subscriptions:
                await subscription.subscribe(self._timeout)
        except BaseException:
            await self.close()
            raise
        loop = asyncio.get_running_loop()
        for subscription in subscriptions:
            subscription.reader = loop.create_task(
                subscription.read(self._receive, self._on_outage, self._heartbeat),
                name="pusherpy-bus-reader",
            )

    async def close(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            await subscription.close()

    def channel_for(self, key: str) -> str:
        if len(self.channels) == 1:
            return self.channels[0]  # the publish hot path on one Redis: no hashing
        # crc32, not hash(): every process must pick the same shard for a channel.
        return self.channels[zlib.crc32(key.encode()) % len(self.channels)]

    def _send(self, target: Any, channel: str, message: bytes) -> Any:
        """Queue or run a ``PUBLISH`` (``SPUBLISH`` when sharded) on a client or a pipeline."""
        return (target.spublish if self._sharded else target.publish)(channel, message)

    async def heartbeat(self) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for channel in self.channels:
                self._send(pipe, channel, self._heartbeat)
            await pipe.execute()

    async def publish(self, message: BusMessage, *, cache: tuple[str, str, int] | None = None) -> None:
        channel, data = self.channel_for(routing_key(message)), self._mac.seal(message)
        if cache is None:
            await self._send(self._client, channel, data)
            return
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(cache[0], cache[1], px=cache[2])
            self._send(pipe, channel, data)
            await pipe.execute()

    async def _receive(self, raw: bytes) -> None:
        try:
            message = self._mac.open(raw)
        except ForgedBusMessage as error:
            self.forged_messages.record(error)
            return
        except BadBusMessage as error:
            self.bad_messages.record(error)
            return
        if message is not None:
            await self._on_message(message)


def _reader(url: str, timeout: float, *, address: tuple[str, int] | None = None, **options: Any) -> Redis:
    """A client of its own for one subscription, built from ``url`` (credentials, TLS and its query options) and
    pointed at ``address`` when given. It reads bytes, so a message is checked before it is decoded, and never
    reconnects silently: a dropped subscription must be reported at once."""
    if address is not None:
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        netloc = f"{credentials}@{host}:{address[1]}" if credentials else f"{host}:{address[1]}"
        url = urlunsplit(parts._replace(netloc=netloc))
    return Redis.from_url(
        url, decode_responses=False, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), **options
    )


class SingleBus(_BusBase):
    """One channel on one Redis."""

    def __init__(
        self,
        redis: Redis,
        url: str,
        prefix: str,
        node_id: str,
        mac: BusMac,
        on_message: OnMessage,
        on_outage: OnOutage,
        timeout: float,
    ) -> None:
        super().__init__(redis, False, node_id, mac, on_message, on_outage, timeout)
        self._url = url
        self.channels = [f"{prefix}:bus"]

    async def open(self) -> None:
        client = _reader(self._url, self._timeout, socket_timeout=self._timeout)
        await self._start([Subscription(client.pubsub(), self.channels, sharded=False, owner=client)])


class ShardedBus(_BusBase):
    """``shards`` sharded channels on a Redis Cluster, each read on the primary that owns its slot."""

    def __init__(
        self,
        cluster: RedisCluster,
        url: str,
        prefix: str,
        shards: int,
        node_id: str,
        mac: BusMac,
        on_message: OnMessage,
        on_outage: OnOutage,
        timeout: float,
    ) -> None:
        super().__init__(cluster, True, node_id, mac, on_message, on_outage, timeout)
        self._cluster = cluster
        self._url = url
        self._prefix = prefix
        self._shards_key = f"{{{prefix}}}:bus-shards"
        self.channels = self._channels(shards)

    def _channels(self, shards: int) -> list[str]:
        # The whole name is the hash tag, so the shards land on different slots (and primaries).
        return [f"{{{self._prefix}:bus:{index}}}" for index in range(shards)]

    async def open(self) -> None:
        await self._cluster.initialize()
        # Every node must pick the same shard for a channel: the first node's shard count is the cluster's.
        await self._cluster.set(self._shards_key, len(self.channels), nx=True)
        shards = int(await self._cluster.get(self._shards_key) or len(self.channels))
        if shards != len(self.channels):
            logger.warning(
                "redis_bus_shards is %d here but %d in the cluster: using %d", len(self.channels), shards, shards
            )
            self.channels = self._channels(shards)
        by_node: dict[str, tuple[Any, list[str]]] = {}
        for channel in self.channels:
            node = self._cluster.get_node_from_key(channel)
            if node is None:
                raise SlotNotCoveredError(f"no primary serves the slot of {channel}")
            by_node.setdefault(node.name, (node, []))[1].append(channel)
        subscriptions = []
        for node, channels in by_node.values():
            # No silent reconnect: after a failover the node behind this address is gone or a replica, so a dropped
            # subscription must be reported at once and re-made from a fresh slot map.
            client = _reader(self._url, self._timeout, address=(node.host, node.port))
            subscriptions.append(Subscription(client.pubsub(), channels, sharded=True, owner=client))
        await self._start(subscriptions)
