"""``ConsoleHub``: the log entries of the apps a console watches, and nothing for the others.

Every place that can log something asks ``watching(app_id)`` first (one set lookup), so an app nobody watches costs
nothing and no memory grows. A watched app keeps its recent entries in a bounded ring (what a console that opens
sees first); each watcher has its own bounded queue, and a watcher that does not read loses its oldest entries,
counted, never the server's memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

from ...protocol.console import LogEntry

RING_SIZE: Final = 1000
"""Recent entries kept per watched app."""
WATCHER_QUEUE_SIZE: Final = 2000
"""Entries one watcher may have unread; past it, its oldest are dropped."""


class Watcher:
    """One open console on one app: read ``recent`` once, then ``next()`` entries as they come."""

    __slots__ = ("app_id", "dropped", "_queue", "_ready", "recent")

    def __init__(self, app_id: str, recent: list[LogEntry]) -> None:
        self.app_id = app_id
        self.recent = recent
        """The app's ring when this watcher started, oldest first."""
        self.dropped = 0
        """Entries lost because this watcher did not read fast enough."""
        self._queue: deque[LogEntry] = deque()
        self._ready = asyncio.Event()

    def put(self, entry: LogEntry) -> None:
        if len(self._queue) >= WATCHER_QUEUE_SIZE:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(entry)
        self._ready.set()

    async def next(self) -> list[LogEntry]:
        """Wait for entries, then take all that are queued."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        taken = list(self._queue)
        self._queue.clear()
        return taken


class ConsoleHub:
    """The console side of one server (or worker): who watches which app, and each watched app's ring."""

    __slots__ = ("_rings", "_watchers")

    def __init__(self) -> None:
        self._watchers: dict[str, set[Watcher]] = {}
        self._rings: dict[str, deque[LogEntry]] = {}

    def watching(self, app_id: str) -> bool:
        """Whether entries of this app are wanted at all; ask before building one."""
        return app_id in self._watchers

    def record(self, entry: LogEntry) -> None:
        """Keep and hand out an entry of a watched app; a no-op for an app nobody watches."""
        watchers = self._watchers.get(entry.app_id)
        if watchers is None:
            return
        self._rings[entry.app_id].append(entry)
        for watcher in watchers:
            watcher.put(entry)

    def watch(self, app_id: str) -> Watcher:
        """Start watching an app (until ``unwatch``); entries are recorded from now on."""
        ring = self._rings.setdefault(app_id, deque(maxlen=RING_SIZE))
        watcher = Watcher(app_id, list(ring))
        self._watchers.setdefault(app_id, set()).add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        """Stop a watcher; the last one of an app drops the app's ring, so nothing stays collected."""
        watchers = self._watchers.get(watcher.app_id)
        if watchers is None:
            return
        watchers.discard(watcher)
        if not watchers:
            del self._watchers[watcher.app_id]
            del self._rings[watcher.app_id]
