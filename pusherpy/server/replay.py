"""Replay protection for the signed HTTP API (``reject_replayed_signatures``): each signature is accepted once.

A Pusher signature covers the method, path, query (``auth_timestamp`` included) and body, and the timestamp may be
up to ``signing.TIMESTAMP_WINDOW_SECONDS`` from the server's clock. Without this, a signed request copied from a log
or a proxy can be sent again, as often as wanted, for that long. With it, the first use of a signature is recorded
until its timestamp leaves the window, and a second use is refused with 401:

- With Redis, the record is a key ``SET NX`` with an expiry (``Broker.claim``), so a replay to another node is
  refused too. While Redis is unreachable, each node falls back to its own memory.
- In memory, signatures are kept per app and per timestamp second, and a whole second is forgotten once it is out of
  the window. The memory holds at most ``replay_memory_limit`` signatures; when it is full, new requests are refused
  with 503 and ``Retry-After`` until old ones expire. Forgetting the oldest instead would let their replays through;
  refusing is safe, and only signed requests (signature checked first) can fill it.
"""

from __future__ import annotations

import heapq
from typing import Final

from ..protocol import signing
from ..protocol.apps import AppConfig
from ..protocol.errors import ApiError
from .broker.base import Broker

WINDOW: Final = signing.TIMESTAMP_WINDOW_SECONDS
CLOCK_SKEW_MARGIN: Final = 60
"""Seconds a shared record outlives its window: another node whose clock is this much behind still refuses the
replay."""


class ReplayMemoryFull(ApiError):
    """503: this node remembers as many signatures as it may; the request cannot be checked, so it is refused."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            503, f"too many signed requests to remember (replay_memory_limit={limit}): try again later", retry_after=1
        )


class SeenSignatures:
    """The signatures this node accepted, each forgotten when its ``auth_timestamp`` leaves the window.

    A signature is kept as its first 64 bits (it was checked first, so they are HMAC output: a false "replay" has
    odds of about n in 2^64), in one set, and listed under its (app, timestamp second) so that a whole second is
    forgotten at once: about 80 bytes a signature.
    """

    __slots__ = ("_limit", "_seen", "_seconds", "_expiry")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[int] = set()
        self._seconds: dict[tuple[int, str], list[int]] = {}
        self._expiry: list[tuple[int, str]] = []
        """A heap of the keys of ``_seconds``: the next second to forget on top."""

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, app_id: str, signature: str, timestamp: int, now: float) -> bool:
        """Record a use of ``signature``; True when it is the first within the window.

        Raises:
            ReplayMemoryFull: the signature is new and the memory is full.
        """
        while self._expiry and self._expiry[0][0] + WINDOW < now:
            self._seen.difference_update(self._seconds.pop(heapq.heappop(self._expiry)))
        digest = int(signature[:16], 16)
        if digest in self._seen:
            return False
        if len(self._seen) >= self._limit:
            raise ReplayMemoryFull(self._limit)
        self._seen.add(digest)
        second = self._seconds.get((timestamp, app_id))
        if second is None:
            second = self._seconds[(timestamp, app_id)] = []
            heapq.heappush(self._expiry, (timestamp, app_id))
        second.append(digest)
        return True


class ReplayGuard:
    """Each signature once per window: across the cluster through the broker, else in this node's memory."""

    __slots__ = ("_broker", "memory")

    def __init__(self, broker: Broker, limit: int) -> None:
        self._broker = broker
        self.memory = SeenSignatures(limit)

    async def first_use(self, app: AppConfig, signature: str, timestamp: int, now: float) -> bool:
        """True the first time ``signature`` (already checked) is used while ``timestamp`` is in the window.

        Raises:
            ReplayMemoryFull: it must be remembered here and this node's memory is full.
        """
        first = await self._broker.claim(app, f"signature:{signature}", timestamp + WINDOW + CLOCK_SKEW_MARGIN - now)
        if first is None:
            first = self.memory.first_use(app.id, signature, timestamp, now)
        return first
