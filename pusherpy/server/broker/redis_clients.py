"""The Redis client a node sends its commands through: one that queues a burst instead of failing it.

A node may have hundreds of commands in flight at once (thousands of sockets joining after a restart, a publish
storm on kept channels). redis-py's pools raise at their limit (``MaxConnectionsError``), which the broker would
read as an outage and take the node off Redis for nothing; here commands wait for a connection instead, at most
``MAX_CONNECTIONS`` in flight. Each command still times out on its socket, so a wait is never long unless Redis is
really unreachable, and then waiting longer than the timeout is an outage.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.typing import EncodableT

MAX_CONNECTIONS: Final = 100
"""Commands a node has in flight on one Redis (or one Redis Cluster client) at most."""


def redis_client(url: str, *, cluster: bool, timeout: float, options: dict[str, Any]) -> Redis | RedisCluster:
    """A client for ``url`` whose commands queue for one of ``MAX_CONNECTIONS`` connections."""
    if cluster:
        return _QueuedRedisCluster.from_url(url, **options)
    pool = BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=timeout, **options)
    return Redis.from_pool(pool)  # closing the client closes the pool too


class _QueuedRedisCluster(RedisCluster):
    """A Redis Cluster client whose commands and pipelines queue for one of ``MAX_CONNECTIONS`` slots: redis-py's
    cluster client has no blocking pool, and raises past 100 connections to one shard (all of an app's keys are on
    one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        async with self._slots:
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # refused by redis-py, as it says
        return _QueuedPipeline(self, transaction)  # type: ignore[abstract]  # redis-py types ClusterPipeline so


class _QueuedPipeline(ClusterPipeline):
    """A pipeline of ``_QueuedRedisCluster``: it runs in one of the client's slots too."""

    def __init__(self, client: _QueuedRedisCluster, transaction: bool | None = None) -> None:
        super().__init__(client, transaction)
        self._queued_client = client

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        async with self._queued_client._slots:
            return await super().execute(raise_on_error, allow_redirections)
