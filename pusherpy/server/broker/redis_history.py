"""Channel history in Redis: serials handed out and events kept, the same for every node.

One atomic script per operation (``redis_history_scripts``): ``append`` assigns the next serial and stores the
event in one step, so two nodes publishing to one channel at once get different, increasing serials, and a serial
is only ever handed out for an event that is kept. ``read`` answers resume, rewind, gap fetches and the HTTP API
from the same stream. Knows nothing of sockets or of the history rules' semantics: the broker decides what a page
means (trimmed, unknown, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from ...protocol.history import ChannelRecord, HistoryEntry
from . import redis_history_scripts

NO_RECORD: Final = 0
"""What ``read`` reports as ``start`` when the channel has no record (and none was made)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One kept event as Redis has it: the envelope without its serial."""

    serial: int
    published_at: int
    """Redis time, ms."""
    text: str
    except_socket_id: str | None = None
    """The socket its publisher excluded (``socket_id`` of the HTTP API): it must not get the event late either."""


@dataclass(frozen=True, slots=True)
class StoredPage:
    """What ``read`` found: the record's epoch start and position, its oldest kept serial, and the events asked
    for, oldest first. ``start`` is ``NO_RECORD`` when the channel has no record."""

    start: int
    position: int
    oldest: int | None
    events: tuple[StoredEvent, ...]

    @property
    def exists(self) -> bool:
        return self.start != NO_RECORD

    def record(self) -> ChannelRecord:
        """The record as far as the events read: enough for ``events_after``, whose events start at the stream's
        oldest when the asked position was trimmed."""
        entries = tuple(HistoryEntry(event.serial, event.published_at / 1000, event.text) for event in self.events)
        return ChannelRecord(self.start, self.position, entries)


class RedisHistory:
    """The kept channels of every app, in the Redis that ``redis`` talks to.

    Args:
        redis: the store's client (one Redis or a Redis Cluster).
        base: an app id -> the hash-tagged stem of its keys (``RedisStore.base``), so a channel's history sits on
            its app's slot.
    """

    def __init__(self, redis: Redis | RedisCluster, base: Callable[[str], str]) -> None:
        self._base = base
        self._append = redis.register_script(redis_history_scripts.APPEND)
        self._read = redis.register_script(redis_history_scripts.READ)

    def keys(self, app_id: str, channel: str) -> list[str]:
        """(meta, stream) of a channel."""
        base = self._base(app_id)
        return [f"{base}:history-meta:{channel}", f"{base}:history:{channel}"]

    async def append(
        self,
        app_id: str,
        channel: str,
        text: str,
        *,
        size: int,
        ttl_seconds: float,
        except_socket_id: str | None = None,
    ) -> int:
        """Keep ``text`` as the channel's next event (at most ``size`` kept, none older than the ttl); its serial."""
        args: list[str | int] = [text, size, _ms(ttl_seconds), except_socket_id or ""]
        reply = await self._append(keys=self.keys(app_id, channel), args=args)
        return int(reply)

    async def read(
        self,
        app_id: str,
        channel: str,
        *,
        after: int | None,
        limit: int,
        ttl_seconds: float,
        max_age_seconds: float = 0,
        create: bool = False,
    ) -> StoredPage:
        """The events with serial > ``after`` (oldest first, at most ``limit``), or without ``after`` the newest
        ``limit`` (0: none, only the record's state); with ``max_age_seconds``, only those published that recently
        (by Redis's clock, which stamped them). ``create``: make the record when absent (a
        subscribe learns its starting position before any event)."""
        start, position, oldest, flat = await self._read(
            keys=self.keys(app_id, channel),
            args=[
                "" if after is None else str(after),
                limit,
                _ms(max_age_seconds) if max_age_seconds > 0 else 0,
                _ms(ttl_seconds),
                "1" if create else "0",
            ],
        )
        events = tuple(
            StoredEvent(int(flat[i]), int(flat[i + 1]), str(flat[i + 2]), str(flat[i + 3]) or None)
            for i in range(0, len(flat), 4)
        )
        return StoredPage(int(start), int(position), int(oldest) or None, events)


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
