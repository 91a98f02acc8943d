"""A node's life in the cluster: joining, heartbeats, reaping dead nodes, the bus, and outages.

Health: the node is ``healthy`` while it can use Redis. Any outage error (a failed command, a bus connection
dropping, a heartbeat finding this node missing) makes it unhealthy: from then on the broker serves this node's
sockets alone, without touching Redis, and one recovery task reconnects with capped exponential backoff.

Recovery re-registers the node: it waits until no shared operation is in flight, then sets the node's records in
Redis to what its local state holds now (``RedisStore.apply`` of the differences, so it is right whether Redis kept
its data, lost it, or another node reaped this one), repeating while local state changed meanwhile, and only then
marks the node healthy, without an ``await`` between the last check and the switch. Transitions found on the way
are announced for each app whose data Redis kept (the same ``epoch``); after Redis lost an app's data, every node
restores what the clients already saw, so nothing is announced. Nothing is replayed: an event published during the
outage reached this node's sockets only, and no command is sent twice, so recovery never delivers a duplicate. Kept
channels (history) are the exception: their events are in Redis streams, so the broker catches each followed channel
up from its stream (``recovered``), in serial order, each event once.

Dead nodes: a node whose heartbeat is older than the TTL is moved to the registry's dead set (once, atomically),
then its records are removed app by app by whoever sees it there, which is safe to repeat. A dead id is never
registered again: a node that finds itself reaped (or forgotten by Redis) takes a new id and re-registers under it,
so a reaper still working through the old id's apps cannot remove what the node just restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from .base import BrokerSettings
from .redis_bus import Bus
from .redis_bus_mac import BusMac
from .redis_messages import BusMessage
from .redis_records import Change, Delta, NodeRecords
from .redis_scripts import FAMILIES
from .redis_store import OUTAGE_ERRORS, RedisStore, WrongRedisMode

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0

T = TypeVar("T")


class ClusterMember(Protocol):
    """What the lifecycle needs from the broker."""

    async def receive_bus_message(self, message: BusMessage) -> None: ...

    def local_records(self) -> NodeRecords: ...

    async def announce(self, changes: Iterable[Change], *, except_socket_id: str | None = None) -> None: ...

    async def reconnected(self) -> None:
        """Redis is reachable again and the node re-registered, but does not use it yet: settle what the outage left
        undone (an outage error here retries the whole recovery)."""

    async def recovered(self) -> None:
        """Redis is usable again (or for the first time): catch up what the bus could not bring meanwhile."""


class SharedChange:
    """The Redis half of one ``NodeLifecycle.change``: each step runs only while Redis is usable."""

    def __init__(self, life: NodeLifecycle, shared: bool) -> None:
        self._life = life
        self._shared = shared

    async def run(self, step: Callable[[], Awaitable[T]]) -> T | None:
        """Run one Redis step; None when the change is local only or Redis failed (the node then serves alone)."""
        if not self._shared or not self._life.healthy:
            return None
        try:
            return await step()
        except OUTAGE_ERRORS as error:
            self._life.outage(error)
            return None


class NodeLifecycle:
    """Health, heartbeats, reaping, the bus subscription and recovery for one node."""

    def __init__(self, broker: ClusterMember, store: RedisStore, settings: BrokerSettings) -> None:
        self._broker = broker
        self._store = store
        self._heartbeat_seconds = settings.node_heartbeat_seconds
        self._ttl_seconds = settings.node_ttl_seconds
        self._max_backoff = min(MAX_BACKOFF_SECONDS, max(0.2, settings.node_heartbeat_seconds))
        self.healthy = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._generation = 0
        """Bumped by every local change made while unhealthy, so recovery knows its snapshot went stale."""
        self._epochs: dict[str, str] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self.mac = mac = BusMac(settings.apps, settings.cluster_secret)
        self._bus: Bus = store.bus(mac, broker.receive_bus_message, self.outage)
        self._registered = False
        self._stopping = False
        self._healthy_since = 0.0

    # -- shared operations -----------------------------------------------------------------------------------------

    def begin(self) -> bool:
        """Start an operation that changes this node's state; True when it should also change Redis.

        Call ``end`` with the result when the local and shared changes are both done.
        """
        if not self.healthy:
            self._generation += 1
            return False
        self._in_flight += 1
        self._idle.clear()
        return True

    def end(self, shared: bool) -> None:
        if shared:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @contextlib.contextmanager
    def change(self) -> Iterator[SharedChange]:
        """One operation on this node's state and, unless Redis is unreachable, its shared twin: recovery waits
        for it to end before re-registering, so the two never disagree in Redis."""
        shared = self.begin()
        try:
            yield SharedChange(self, shared)
        finally:
            self.end(shared)

    @property
    def bus(self) -> Bus:
        return self._bus

    def _lost(self, current: dict[str, str | None]) -> bool:
        """Whether an app's data set is not the one this node joined (apps added or removed meanwhile: not a loss)."""
        epochs = self._epochs or {}
        return any(epochs[app_id] != epoch for app_id, epoch in current.items() if app_id in epochs)

    async def serve_apps(self, app_ids: list[str]) -> None:
        """Serve these apps from now on (``apps_source`` read anew): a new app's epoch is joined before the app is
        watched, so it does not read as data Redis lost."""
        added = [app_id for app_id in app_ids if app_id not in self._store.app_ids]
        if added and self._epochs is not None:
            try:
                joined = await self._store.epochs(added)
            except OUTAGE_ERRORS as error:
                self.outage(error)  # recovery reads every app's epoch again
            else:
                if self._epochs is not None:
                    self._epochs.update(joined)
        self._store.app_ids = list(app_ids)

    def outage(self, reason: object) -> None:
        """Stop using Redis until recovery has re-registered this node."""
        if self._stopping:
            return
        if self.healthy:
            logger.warning("Redis unavailable (%r): serving this node's sockets only until it is back", reason)
        self.healthy = False
        if self._recovery is None:
            self._recovery = asyncio.get_running_loop().create_task(self._recover(), name="pusherpy-redis-recovery")

    # -- start and stop --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the cluster; when Redis is unreachable, serve alone and keep trying in the background."""
        try:
            await self._join_cluster()
        except OUTAGE_ERRORS as error:
            logger.warning("cannot use Redis yet (%s): serving this node's sockets alone until it can", error)
            self.outage(error)
        else:
            logger.info("joined the cluster as node %s", self._store.node_id)
        self._heartbeats = asyncio.get_running_loop().create_task(self._beat(), name="pusherpy-node-heartbeat")

    async def stop(self) -> None:
        """Leave the cluster: remove what this node still contributes (announcing it) and stop the tasks."""
        self._stopping = True
        for task in (self._heartbeats, self._recovery):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._bus.close()
        if self.healthy:
            try:
                await self._store.mark_dead(self._store.node_id, None)
                changes = await self._store.reap(self._store.node_id)
                await self._broker.announce(changes)
            except OUTAGE_ERRORS as error:
                logger.warning("could not leave the cluster cleanly (%s); other nodes will reap this one", error)
        self.healthy = False

    # -- joining and recovery --------------------------------------------------------------------------------------

    async def _recover(self) -> None:
        backoff = 0.05
        told: set[str] = set()
        while True:
            await asyncio.sleep(backoff)
            try:
                await self._join_cluster()
            except OUTAGE_ERRORS as error:
                reason = f"{type(error).__name__}: {error}"
                if reason not in told:  # each new reason once, so a stuck recovery says why without flooding
                    told.add(reason)
                    # A node set for the wrong kind of Redis needs a setting changed, not patience: say it loudly.
                    level = logging.ERROR if isinstance(error, WrongRedisMode) else logging.INFO
                    logger.log(level, "Redis still unavailable: %s", reason)
            except Exception:  # pragma: no cover - recovery must outlive a bug, or the node stays degraded
                logger.exception("re-registering with Redis failed")
            else:
                logger.warning("Redis is back: node %s re-registered its state", self._store.node_id)
                return
            backoff = min(backoff * 2, self._max_backoff)

    async def _join_cluster(self) -> None:
        await self._store.reset_connections()
        await self._store.check_mode()
        # Operations begun before the outage finish first, under the id they started with.
        await self._idle.wait()
        await self._register()
        epochs = await self._store.epochs()
        kept = {app_id for app_id, epoch in epochs.items() if self._epochs is None or self._epochs.get(app_id) == epoch}
        self._epochs = epochs
        if not self._bus.open_now:
            # A bus that survived (Redis paused, not restarted) is kept: it missed nothing.
            await self._bus.close()
            await self._bus.open()
        changes: list[Change] = []
        while True:
            generation = self._generation
            changes.extend(await self._resync())
            if generation == self._generation:
                break
        await self._broker.reconnected()
        self._recovery = None
        self.healthy = True
        self._healthy_since = asyncio.get_running_loop().time()
        await self._broker.announce(change for change in changes if change.app_id in kept)
        await self._broker.recovered()

    async def _register(self) -> None:
        """Keep this node's id if Redis still has it registered; else retire it and register a new one.

        An id that Redis stopped knowing is never registered again, even once its reaping is over: another node may
        still be reaping it from an older heartbeat's dead list, and would remove what this node restored.
        """
        registered, _, _ = await self._store.heartbeat(self._ttl_seconds, register=not self._registered)
        if registered:
            self._registered = True
            return
        old = self._store.node_id
        # The old id may still have records (Redis kept them, lost only the registry, or an operation in flight
        # wrote some after it was reaped): mark it for reaping, again if need be.
        await self._store.mark_dead(old, None)
        new = self._store.new_node_id()
        logger.warning("node %s was reaped or forgotten by Redis: re-registering as %s", old, new)
        registered, _, _ = await self._store.heartbeat(self._ttl_seconds, register=True)
        if not registered:
            raise RuntimeError(f"Redis refused to register node {new}")
        self._registered = True

    async def _resync(self) -> list[Change]:
        """Set this node's records in Redis to its local state; return the transitions that made."""
        wanted = self._broker.local_records()
        have = await self._store.node_records()
        changes: list[Change] = []
        for app_id in self._store.app_ids:
            removals: list[Delta] = []
            additions: list[Delta] = []
            for family in FAMILIES:
                app_have, app_wanted = have[app_id][family], wanted.get(app_id, {}).get(family, {})
                for field in app_have.keys() | app_wanted.keys():
                    count, info = app_wanted.get(field, (0, ""))
                    delta = count - app_have.get(field, 0)
                    if delta < 0:
                        removals.append(Delta(family, field, delta))
                    elif delta > 0:
                        additions.append(Delta(family, field, delta, info))
            # Members leave before their channel empties; channels fill before their members arrive.
            changes.extend(await self._store.apply(app_id, [*removals, *reversed(additions)]))
        return changes

    # -- heartbeats ------------------------------------------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            if not self.healthy:
                continue
            try:
                registered, expired, dead = await self._store.heartbeat(self._ttl_seconds)
                await self._bus.heartbeat()
                now = asyncio.get_running_loop().time()
                if not registered:
                    self.outage("this node was missing from Redis (reaped, or Redis lost its data)")
                    continue
                if self._epochs is not None and self._lost(await self._store.current_epochs()):
                    # On a Redis Cluster one shard can restart empty while the registry's shard keeps its data.
                    self.outage("Redis lost the data of some apps (a shard restarted?)")
                    continue
                # Heard-from times stand still during an outage (no heartbeats are sent): count from the recovery.
                if now - max(self._bus.heard_at, self._healthy_since) > self._ttl_seconds:
                    await self._bus.close()
                    self.outage("the bus subscription went silent")
                    continue
                if now - self._healthy_since < self._ttl_seconds:
                    # This node was cut off itself until just now; so were the others, likely: give them a TTL
                    # to come back before taking their sockets out of the cluster.
                    continue
                for node_id in expired:
                    if await self._store.mark_dead(node_id, self._ttl_seconds):
                        logger.warning("node %s stopped heartbeating: removing its sockets from the cluster", node_id)
                        dead.append(node_id)
                for node_id in dict.fromkeys(dead):
                    await self._broker.announce(await self._store.reap(node_id))
            except OUTAGE_ERRORS as error:
                self.outage(error)
            except Exception:  # pragma: no cover - the heartbeat must survive a bug
                logger.exception("heartbeat failed")
