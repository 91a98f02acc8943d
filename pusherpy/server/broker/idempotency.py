"""Where the brokers remember idempotency keys: ``LocalPublishes`` in this process, ``RedisPublishes`` in Redis.

``LocalBroker`` answers ``claim_publish``/``settle_publish``/``release_publish`` from a ``LocalPublishes``;
``RedisBroker`` from a ``RedisPublishes``, and from its own ``LocalPublishes`` while Redis is unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...protocol.idempotency import FIRST, MAX_KEYS_PER_APP, KeyMemory, PublishClaim

if TYPE_CHECKING:  # redis-py is an optional extra: LocalBroker must not import it
    from .redis_store import RedisStore

_PENDING = ""
"""The value of a claimed key in Redis until the first publish settles its reply."""


class LocalPublishes:
    """The idempotency keys claimed on this node (``KeyMemory`` with a clock).

    Args:
        clock: seconds, monotonic.
        cap: keys remembered per app; the oldest are dropped past it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, cap: int = MAX_KEYS_PER_APP) -> None:
        self.memory = KeyMemory(cap)
        self._clock = clock

    def claim(self, app_id: str, key: str, window: float) -> PublishClaim:
        return self.memory.claim(app_id, key, window, self._clock())

    def settle(self, app_id: str, key: str, reply: str) -> None:
        self.memory.settle(app_id, key, reply)

    def release(self, app_id: str, key: str) -> None:
        self.memory.release(app_id, key)

    def gauges(self, stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """``stats`` (per-app gauges for /metrics) with each app's remembered keys as ``idempotency_keys``."""
        for app_id, size in self.memory.sizes().items():
            stats.setdefault(app_id, {})["idempotency_keys"] = size
        return stats


class RedisPublishes:
    """The idempotency keys claimed by any node: one Redis string per key, on the app's hash slot
    (``{prefix:app}:idem:KEY``), so a Redis Cluster serves them like the app's other keys.

    A claim is ``SET key "" NX PX window``: exactly one node's claim succeeds, whichever nodes race. The reply is
    stored with ``SET key reply XX KEEPTTL``, which neither revives an expired claim nor extends the window.
    Redis does the expiry, so the keys need no cap here (Redis's own ``maxmemory`` bounds them).
    """

    def __init__(self, store: RedisStore, cap: int = MAX_KEYS_PER_APP) -> None:
        self._store = store
        self._cap = cap
        self._unreleased: dict[tuple[str, str], None] = {}
        """Keys whose release could not reach Redis (it was unreachable): the claim Redis still holds would swallow
        the publisher's retry (answered 200, delivered to nobody), so they are released once Redis is back, before
        the node claims anything there again. At most ``cap``, the oldest dropped."""

    def _key(self, app_id: str, key: str) -> str:
        return f"{self._store.base(app_id)}:idem:{key}"

    async def claim(self, app_id: str, key: str, window: float) -> PublishClaim:
        name = self._key(app_id, key)
        if await self._store.redis.set(name, _PENDING, nx=True, px=max(int(window * 1000), 1)):
            return FIRST
        reply = await self._store.redis.get(name)  # None: the claim expired in between (still a repeat)
        return PublishClaim(first=False, reply=str(reply) if reply else None)

    async def settle(self, app_id: str, key: str, reply: str) -> None:
        await self._store.redis.set(self._key(app_id, key), reply, xx=True, keepttl=True)

    async def release(self, app_id: str, key: str) -> None:
        await self._store.redis.delete(self._key(app_id, key))

    def release_later(self, app_id: str, key: str) -> None:
        """Redis could not be told: release the key in ``release_unreleased`` (when Redis is back)."""
        self._unreleased[(app_id, key)] = None
        if len(self._unreleased) > self._cap:
            del self._unreleased[next(iter(self._unreleased))]

    async def release_unreleased(self) -> None:
        """Release in Redis every key whose release it missed (an outage error leaves the rest for next time)."""
        for app_id, key in list(self._unreleased):
            await self.release(app_id, key)
            del self._unreleased[(app_id, key)]
