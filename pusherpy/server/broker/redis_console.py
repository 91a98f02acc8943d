"""The debug console across a cluster: a console on one node sees the entries every node makes for its app.

Nothing crosses the bus for an app no console watches. A node whose console starts watching an app says so
(``ConsoleWatchMessage``), again every heartbeat while it watches, and says when it stops; every node keeps "apps
watched elsewhere", each watcher node forgotten a node TTL after it was last heard (a watcher node that died stops
the forwarding by itself). While an app is watched elsewhere, the node's ``ConsoleHub`` hands each of its entries
for that app to ``forward``: they are batched (one message per app every ``FLUSH_SECONDS``) and bounded
(``FORWARD_PER_SECOND`` entries a second for the whole node; past it, entries are dropped and the count travels with
the next batch, so the watching console shows the loss). Entries another node sent go to this node's watchers only,
never forwarded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from ...protocol.console import LogEntry
from .base import ConsoleSink
from .redis_messages import BusMessage, ConsoleEntriesMessage, ConsoleWatchMessage
from .tasks import TaskSet

FLUSH_SECONDS: Final = 0.05
"""How long an entry waits for others to share its bus message."""
FORWARD_PER_SECOND: Final = 1000
"""Entries one node sends to other nodes' consoles per second, all apps together; the rest are dropped, counted."""
BATCH_SIZE: Final = 200
"""Entries per bus message at most."""
MAX_SENDS_WAITING: Final = 20
"""Bus messages of the console waiting to be sent (in order, one at a time); past it, batches are dropped, counted:
a slow bus never holds more than this many batches in memory."""
MAX_WATCHER_NODES: Final = 1000
"""Watcher nodes remembered per app (a bound, far above any real cluster)."""


class ConsoleRelay:
    """One node's side of the cluster-wide console (a ``base.ConsoleLink``).

    Args:
        node_id: this node (its own messages come back on the bus, and are skipped).
        console: this node's console, which gets the entries other nodes send.
        send: puts a message on the bus; never raises (``BusFanout.send``).
        refresh_seconds: how often this node says again which apps it watches (the node heartbeat).
        ttl_seconds: a watcher node not heard from for this long is forgotten.
        clock: seconds, monotonic.
    """

    def __init__(
        self,
        node_id: str,
        console: ConsoleSink,
        send: Callable[[BusMessage], Coroutine[Any, Any, None]],
        refresh_seconds: float,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._node_id = node_id
        self._send = send
        self._refresh_seconds = refresh_seconds
        self._ttl = ttl_seconds
        self._refresher: asyncio.Task[None] | None = None
        self._clock = clock
        self._console = console
        self._here: set[str] = set()
        self._elsewhere: dict[str, dict[str, float]] = {}
        """app id → watcher node → when it is forgotten."""
        self._pending: dict[str, list[LogEntry]] = {}
        self._pending_count = 0
        self._dropped: dict[str, int] = {}
        self._window_start = float("-inf")
        self._window_sent = 0
        self._flush_timer: asyncio.TimerHandle | None = None
        self._tasks = TaskSet("sending console entries to other nodes")
        self._in_order = asyncio.Lock()
        """Sends take turns (the lock is FIFO), so one app's batches, and a node's watch and unwatch, stay in order."""
        self.forwarded = 0
        """Entries handed to the bus (for tests and metrics)."""

    # -- what the console asks ---------------------------------------------------------------------------------

    def watched_elsewhere(self, app_id: str) -> bool:
        nodes = self._elsewhere.get(app_id)
        if not nodes:
            return False
        now = self._clock()
        return any(until > now for until in nodes.values())

    def watch_changed(self, app_id: str, watched: bool) -> None:
        if watched:
            self._here.add(app_id)
        else:
            self._here.discard(app_id)
        self._tasks.spawn(self._send_in_order(ConsoleWatchMessage(self._node_id, app_id, watched)))

    def forward(self, entry: LogEntry) -> None:
        now = self._clock()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_sent = now, 0
        app_id = entry.app_id
        if self._window_sent >= FORWARD_PER_SECOND or self._pending_count >= FORWARD_PER_SECOND:
            self._dropped[app_id] = self._dropped.get(app_id, 0) + 1
        else:
            self._window_sent += 1
            self._pending_count += 1
            self._pending.setdefault(app_id, []).append(entry)
        if self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        pending, self._pending, self._pending_count = self._pending, {}, 0
        for app_id in self._dropped.keys() - pending.keys():
            pending[app_id] = []  # only drops to report: an empty batch carries their count
        for app_id, entries in pending.items():
            for start in range(0, max(len(entries), 1), BATCH_SIZE):
                batch = tuple(entries[start : start + BATCH_SIZE])
                if len(self._tasks) >= MAX_SENDS_WAITING:  # the bus is slow: drop, and say so with a later batch
                    self._dropped[app_id] = self._dropped.get(app_id, 0) + len(batch)
                    continue
                dropped = self._dropped.pop(app_id, 0)
                self.forwarded += len(batch)
                self._tasks.spawn(self._send_in_order(ConsoleEntriesMessage(self._node_id, app_id, dropped, batch)))

    async def _send_in_order(self, message: BusMessage) -> None:
        async with self._in_order:
            await self._send(message)

    # -- what the bus brings -----------------------------------------------------------------------------------

    def receive(self, message: ConsoleWatchMessage | ConsoleEntriesMessage) -> None:
        """Another node's console message (our own, echoed by the bus, is skipped)."""
        if message.node_id == self._node_id:
            return
        match message:
            case ConsoleWatchMessage(node_id, app_id, watching):
                nodes = self._elsewhere.setdefault(app_id, {})
                if watching and (node_id in nodes or len(nodes) < MAX_WATCHER_NODES):
                    nodes[node_id] = self._clock() + self._ttl
                else:
                    nodes.pop(node_id, None)
                    if not nodes:
                        del self._elsewhere[app_id]
            case ConsoleEntriesMessage(_, app_id, dropped, entries):
                self._console.receive(app_id, entries, dropped)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin saying every ``refresh_seconds`` which apps this node watches."""
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever(), name="pusherpy-console")

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            await self.refresh()

    async def refresh(self) -> None:
        """Say again which apps this node watches, and forget watcher nodes not heard from within the TTL: called
        every heartbeat, and when the node is back on Redis after an outage."""
        now = self._clock()
        for app_id, nodes in list(self._elsewhere.items()):
            for node_id, until in list(nodes.items()):
                if until <= now:
                    del nodes[node_id]
            if not nodes:
                del self._elsewhere[app_id]
        for app_id in list(self._here):
            await self._send(ConsoleWatchMessage(self._node_id, app_id, True))

    async def stop(self) -> None:
        """Tell the others this node watches nothing any more (the node is leaving), and stop sending."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._tasks.cancel()
        for app_id in list(self._here):
            await self._send(ConsoleWatchMessage(self._node_id, app_id, False))
        self._here.clear()
