"""``ConsoleHub``: the log entries of the apps a console watches, and nothing for the others.

Every place that can log something asks ``watching(app_id)`` first (one set lookup), so an app nobody watches costs
nothing and no memory grows. A watched app keeps its recent entries in a bounded ring (what a console that opens
sees first); each watcher has its own bounded queue, and a watcher that does not read loses its oldest entries,
counted, never the server's memory.

In a cluster (``join_cluster``), ``watching`` also answers True while a console on another node watches the app:
entries are then built here too and handed to the broker's ``ConsoleLink``, which forwards them to that node
(``broker/redis_console.py``). Entries other nodes send (``receive``) go to this node's watchers only. Entries are
stamped with the node's name, so a console shows where each happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Sequence
from typing import Final

from ...protocol.console import LogEntry
from ..broker.base import ConsoleLink

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

    def lost(self, count: int) -> None:
        """Entries that never reached this watcher (another node dropped them over its forwarding bound)."""
        self.dropped += count
        self._ready.set()

    @property
    def unread(self) -> int:
        """Entries waiting for ``next()`` (at most ``WATCHER_QUEUE_SIZE``)."""
        return len(self._queue)

    async def next(self) -> list[LogEntry]:
        """Wait for entries, then take all that are queued (an empty list when only ``dropped`` grew)."""
        while not self._queue:
            self._ready.clear()
            dropped = self.dropped
            await self._ready.wait()
            if self.dropped != dropped and not self._queue:
                return []
        taken = list(self._queue)
        self._queue.clear()
        return taken


class ConsoleHub:
    """The console side of one server (or worker): who watches which app, and each watched app's ring."""

    __slots__ = ("_rings", "_watchers", "_link", "node")

    def __init__(self) -> None:
        self._watchers: dict[str, set[Watcher]] = {}
        self._rings: dict[str, deque[LogEntry]] = {}
        self._link: ConsoleLink | None = None
        self.node = ""
        """This node's name, stamped on its entries (empty on a single node)."""

    def join_cluster(self, node: str, link: ConsoleLink | None) -> None:
        """Stamp entries with ``node`` and share watching and entries with the other nodes through ``link``."""
        self.node = node
        self._link = link

    def watching(self, app_id: str) -> bool:
        """Whether entries of this app are wanted at all (by a console here or on another node); ask before
        building one."""
        if app_id in self._watchers:
            return True
        link = self._link
        return link is not None and link.watched_elsewhere(app_id)

    def record(self, entry: LogEntry) -> None:
        """Keep and hand out an entry of a watched app (and forward it to the nodes that watch it); a no-op for an
        app nobody watches."""
        app_id = entry.app_id
        watchers = self._watchers.get(app_id)
        link = self._link
        elsewhere = link is not None and link.watched_elsewhere(app_id)
        if watchers is None and not elsewhere:
            return
        if self.node and not entry.node:
            entry = dataclasses.replace(entry, node=self.node)
        if watchers is not None:
            self._keep(entry, watchers)
        if elsewhere:
            assert link is not None
            link.forward(entry)

    def receive(self, app_id: str, entries: Sequence[LogEntry], dropped: int) -> None:
        """Entries another node made for an app watched here (never forwarded again), and how many it dropped."""
        watchers = self._watchers.get(app_id)
        if watchers is None:
            return  # no longer watched here; the other node hears so soon
        for entry in entries:
            self._keep(entry, watchers)
        if dropped:
            for watcher in watchers:
                watcher.lost(dropped)

    def _keep(self, entry: LogEntry, watchers: set[Watcher]) -> None:
        self._rings[entry.app_id].append(entry)
        for watcher in watchers:
            watcher.put(entry)

    def watch(self, app_id: str) -> Watcher:
        """Start watching an app (until ``unwatch``); entries are recorded from now on, on every node."""
        ring = self._rings.setdefault(app_id, deque(maxlen=RING_SIZE))
        watcher = Watcher(app_id, list(ring))
        first = app_id not in self._watchers
        self._watchers.setdefault(app_id, set()).add(watcher)
        if first and self._link is not None:
            self._link.watch_changed(app_id, True)
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
            if self._link is not None:
                self._link.watch_changed(watcher.app_id, False)

    def held(self) -> tuple[int, int]:
        """Apps with a ring here, and entries held in rings and watcher queues: both zero when nobody watches."""
        queued = sum(w.unread for watchers in self._watchers.values() for w in watchers)
        return len(self._rings), sum(len(ring) for ring in self._rings.values()) + queued
