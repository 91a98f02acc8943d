"""Kept channels on a cluster node: serials from Redis, delivery to this node's sockets in serial order.

A publish to a kept channel appends the event to its stream in Redis (one script: the serial and the storage are
one step), delivers it here through the node's ``Sequencer``, then sends it on the bus with its serial. Every node
delivers what the bus brings through its own sequencer: a duplicate is dropped, a gap is fetched from the stream
(``XRANGE``) and filled in order. A join reads the stream (resume or rewind) and feeds what it read to the
sequencer too, so the subscriber's replay and the live events that follow it meet without a gap or a duplicate.
After a bus outage every channel followed here is caught up from the stream.

A subscriber that asked to resume while Redis was unreachable got no replay (and no position): it is "stranded"
until Redis is back, then its replay is read like a join's and sent to it alone, while the channel's catch-up is
kept from it, so it too gets every event after its position once, in order.

While Redis is unreachable a kept channel refuses publishes (``HistoryUnavailable``, 503): it never hands out a
serial it cannot keep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from redis.exceptions import RedisError

from ...protocol import codec
from ...protocol.apps import AppConfig
from ...protocol.history import HistoryJoin, HistoryRule, plan_join, resume_failed_text
from .base import HistoryUnavailable
from .node import LocalNode
from .redis_fanout import BusFanout
from .redis_history import RedisHistory, StoredEvent, StoredPage
from .redis_messages import KeptEventMessage
from .redis_node import NodeLifecycle
from .redis_store import OUTAGE_ERRORS
from .sequencer import Gap, Key, Offered, Sequencer
from .subscriber import Subscriber
from .tasks import TaskSet

logger = logging.getLogger(__name__)

CATCH_UP_ROUNDS: Final = 8
"""Reads a join makes at most to catch up with live events that overtook the previous read."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event to deliver here: the envelope with its serial, and the socket that must not get it (its sender)."""

    serial: int
    text: str
    except_socket_id: str | None = None


@dataclass(frozen=True, slots=True)
class JoinRead:
    """What a join read of the stream found: the page read (to decide resume or rewind, and to replay), the events
    after it that this node delivered meanwhile (replayed to the subscriber in any case), and the position the
    subscriber is at after both (this node's position too)."""

    page: StoredPage
    caught_up: tuple[Delivery, ...]
    position: int


class KeptChannels:
    """The kept channels this node follows (those with local subscribers).

    Args:
        node: this node's sockets.
        history: the streams in Redis.
        node_id: stamped on bus messages.
        fanout: sends bus messages (and never raises).
        life: the node's health; told of outages.
    """

    def __init__(
        self, node: LocalNode, history: RedisHistory, node_id: str, fanout: BusFanout, life: NodeLifecycle
    ) -> None:
        self._node = node
        self.history = history
        self._node_id = node_id
        self._fanout = fanout
        self._life = life
        self._sequencer: Sequencer[Delivery] = Sequencer()
        self._kept: dict[Key, HistoryRule] = {}
        self._fetches = TaskSet("fetching a gap of a kept channel")
        self._joining: dict[Key, int] = {}
        self._stranded: dict[Key, dict[Subscriber, int]] = {}
        """Local subscribers that asked to resume (after serial N) while Redis was unreachable; one entry per local
        subscription at most, dropped when it leaves."""
        self._muted: dict[Key, set[Subscriber]] = {}
        """Sockets that the channel-wide delivery skips while their own replay is read."""

    async def publish(
        self,
        key: Key,
        rule: HistoryRule,
        text: str,
        except_socket_id: str | None,
        *,
        cache: tuple[str, str, int] | None = None,
    ) -> int:
        """Keep and deliver an event (``text``: the envelope without serial); its serial. ``cache``: a cache
        channel's (key, _, ms), set to the event with its serial beside the bus message.

        Raises:
            HistoryUnavailable: Redis cannot be reached (or refused the write): nothing was delivered.
        """
        if not self._life.healthy:
            raise HistoryUnavailable
        try:
            serial = await self.history.append(
                *key, text, size=rule.size, ttl_seconds=rule.ttl_seconds, except_socket_id=except_socket_id
            )
        except OUTAGE_ERRORS as error:
            self._life.outage(error)
            raise HistoryUnavailable from None
        except RedisError as error:
            logger.warning("Redis refused to keep an event of %s (%s): answered 503", key[1], error)
            raise HistoryUnavailable from None
        spliced = codec.with_serial(text, serial)
        self._deliver(key, self._sequencer.offer(key, serial, Delivery(serial, spliced, except_socket_id)))
        message = KeptEventMessage(self._node_id, key[0], key[1], except_socket_id, serial, spliced)
        await self._fanout.send(message, cache=(cache[0], spliced, cache[2]) if cache is not None else None)
        return serial

    def receive(self, message: KeptEventMessage) -> None:
        """Another node's kept event: deliver it in serial order."""
        key = (message.app_id, message.channel)
        delivery = Delivery(message.serial, message.text, message.except_socket_id)
        self._deliver(key, self._sequencer.offer(key, message.serial, delivery))

    async def join_read(
        self, key: Key, rule: HistoryRule, *, after: int | None, limit: int, max_age_seconds: float = 0
    ) -> JoinRead:
        """Read what a joining subscriber must be replayed, and catch this node up with it.

        The read is ``after`` (resume) or the newest ``limit`` events (rewind; ``limit`` 0: none), making the
        record when absent. What it finds is fed to the sequencer, which moves this node forward for every local
        subscriber. Live events that overtook the read meanwhile (delivered to the others, not yet to the joining
        socket) are read too. The caller must register the subscriber before its next ``await``: from then on live
        events reach it.
        """
        self._kept[key] = rule
        read_after: int | None = after
        node_last = self._sequencer.last(key) if self._sequencer.following(key) else None
        if node_last is not None:
            # Read from where this node is too, so the read moves it forward without skipping anything; a rewind
            # reads the whole stream (``plan_join`` picks the rewind from it).
            read_after = None if after is None else min(after, node_last)
            limit, max_age_seconds = rule.size, 0
        else:
            self._sequencer.follow_pending(key)
        self._joining[key] = self._joining.get(key, 0) + 1
        try:
            found = await self.history.read(
                *key,
                after=read_after,
                limit=limit,
                ttl_seconds=rule.ttl_seconds,
                max_age_seconds=max_age_seconds,
                create=True,
            )
            start = 0 if node_last is not None and read_after is None else read_after
            caught_up: list[Delivery] = []
            covered = found.position
            covered = self._feed(key, found.events, start, found.position, covered, caught_up)
            for _ in range(CATCH_UP_ROUNDS):
                last = self._sequencer.last(key)
                if last is None or last == covered:
                    break
                if last > covered:  # live events overtook the read: the joining socket needs them too
                    more = await self.history.read(
                        *key, after=covered, limit=last - covered, ttl_seconds=rule.ttl_seconds
                    )
                    caught_up.extend(self._delivery(event) for event in more.events if event.serial <= last)
                    covered = last
                else:  # this node is behind the read (a gap on its way): close it before the socket joins
                    more = await self.history.read(*key, after=last, limit=covered - last, ttl_seconds=rule.ttl_seconds)
                    covered = self._feed(key, more.events, last, covered, covered, caught_up)
            return JoinRead(found, _unique(caught_up), covered)
        finally:
            self._joining[key] -= 1
            if not self._joining[key]:
                del self._joining[key]

    def _feed(
        self,
        key: Key,
        events: tuple[StoredEvent, ...],
        after: int | None,
        upto: int,
        covered: int,
        into: list[Delivery],
    ) -> int:
        """Feed a read's events to the sequencer and deliver what it says; what it delivers beyond ``covered`` goes
        ``into`` the joining socket's replay too. Returns how far the replay then reaches."""
        offered = self._sequencer.fetched(
            key, [(event.serial, self._delivery(event)) for event in events], after=after, upto=upto
        )
        self._deliver(key, offered)
        beyond = [delivery for delivery in offered.deliver if delivery.serial > covered]
        into.extend(beyond)
        return max([covered, *(delivery.serial for delivery in beyond)])

    @property
    def healthy(self) -> bool:
        return self._life.healthy

    def outage(self, error: Exception) -> None:
        self._life.outage(error)

    def close(self) -> None:
        self._fetches.cancel()

    def strand(self, key: Key, client: Subscriber, after: int) -> None:
        """``client`` joined asking to resume after ``after`` while Redis could not be read: replay it at catch-up."""
        self._stranded.setdefault(key, {})[client] = after

    def unstrand(self, key: Key, client: Subscriber) -> None:
        """``client`` left the channel."""
        stranded = self._stranded.get(key)
        if stranded is not None:
            stranded.pop(client, None)
            if not stranded:
                del self._stranded[key]

    def forget(self, key: Key) -> None:
        """The channel's last local subscriber left (a join under way keeps it followed)."""
        self._stranded.pop(key, None)
        if key in self._joining:
            return
        self._sequencer.forget(key)
        self._kept.pop(key, None)

    async def catch_up(self, apps: Iterable[AppConfig]) -> None:
        """Redis is usable again: deliver, from the streams, what every followed channel missed meanwhile, and start
        following the kept channels subscribed here while it was not (they got no position)."""
        try:
            for app in apps:
                for channel in list(self._node.registry(app).channels):
                    rule = app.history_rule(channel)
                    if rule is not None:
                        await self._catch_up((app.id, channel), rule)
        except OUTAGE_ERRORS as error:
            self._life.outage(error)

    async def _catch_up(self, key: Key, rule: HistoryRule) -> None:
        self._kept[key] = rule
        if key in self._stranded:
            await self._resume_stranded(key, rule)
            return
        last = self._sequencer.last(key)
        if last is None:
            await self.join_read(key, rule, after=None, limit=0)
        else:
            # The stream holds at most ``size`` events: what it does not have after ``last`` is gone.
            await self._fetch(key, rule, Gap(last, last + rule.size + 1), upto_position=True)

    async def _resume_stranded(self, key: Key, rule: HistoryRule) -> None:
        """Catch the channel up as a join after the lowest stranded position would, keeping the channel-wide
        delivery from the stranded sockets (and, when nobody here followed the channel, from every local subscriber:
        all joined during the outage), then send each its own replay; no await between the read and the sends."""
        subscribers = self._subscribers(key)
        stranded = {client: after for client, after in self._stranded.pop(key).items() if client in subscribers}
        if not stranded:
            await self._catch_up(key, rule)
            return
        self._muted[key] = subscribers if self._sequencer.last(key) is None else set(stranded)
        try:
            read = await self.join_read(key, rule, after=min(stranded.values()), limit=rule.size)
        except OUTAGE_ERRORS:
            self._stranded.setdefault(key, {}).update(stranded)  # replayed at the next catch-up
            raise
        finally:
            muted = self._muted.pop(key)
        record, now = read.page.record(), time.time()
        for client in muted & self._subscribers(key):
            after = stranded.get(client)
            plan = HistoryJoin(read.position) if after is None else plan_join(record, rule, after, now)
            if plan.failed is not None:
                client.send_text(resume_failed_text(key[1], plan.failed))
            for text in plan.replay + tuple(d.text for d in read.caught_up):
                client.send_text(text)

    def _subscribers(self, key: Key) -> set[Subscriber]:
        registry = self._node.registries.get(key[0])
        state = registry.channels.get(key[1]) if registry is not None else None
        return set(state.subscribers) if state is not None else set()

    # -- delivery --------------------------------------------------------------------------------------------------

    def _deliver(self, key: Key, offered: Offered[Delivery]) -> None:
        muted = self._muted.get(key, ())
        for delivery in offered.deliver:
            self._node.deliver(key[0], key[1], delivery.text, delivery.except_socket_id, muted)
        if offered.gap is not None:
            rule = self._kept.get(key)
            if rule is None:
                self._deliver(key, self._sequencer.skip_gap(key))
                return
            self._fetches.spawn(self._fetch(key, rule, offered.gap))

    async def _fetch(self, key: Key, rule: HistoryRule, gap: Gap, *, upto_position: bool = False) -> None:
        """Read a gap from the stream and deliver it in order (the sequencer may ask for the next one)."""
        try:
            found = await self.history.read(
                *key, after=gap.after, limit=min(gap.before - gap.after - 1, rule.size), ttl_seconds=rule.ttl_seconds
            )
        except OUTAGE_ERRORS as error:
            self._life.outage(error)
            self._deliver(key, self._sequencer.skip_gap(key))
            return
        except RedisError as error:
            logger.warning("could not read the history of %s (%s): a gap is skipped", key[1], error)
            self._deliver(key, self._sequencer.skip_gap(key))
            return
        upto = found.position if upto_position else gap.before - 1
        events = [(event.serial, self._delivery(event)) for event in found.events]
        self._deliver(key, self._sequencer.fetched(key, events, after=gap.after, upto=upto))

    @staticmethod
    def _delivery(event: StoredEvent) -> Delivery:
        return Delivery(event.serial, codec.with_serial(event.text, event.serial), event.except_socket_id)


def _unique(replay: list[Delivery]) -> tuple[Delivery, ...]:
    """The replay in serial order, each serial once."""
    return tuple(sorted({d.serial: d for d in replay}.values(), key=lambda d: d.serial))
