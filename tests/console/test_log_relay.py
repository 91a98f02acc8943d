"""The cluster console's relay on its own: what one node forwards, how much, and what it believes from the bus.

No Redis here: the relay's ``send`` is recorded and its clock is moved by the test (the bound is per second). The
same relay between real nodes on a real Redis is in test_log_cluster.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pusherpy.protocol.console import LogEntry, LogKind
from pusherpy.server.broker.redis_console import (
    BATCH_SIZE,
    FORWARD_PER_SECOND,
    MAX_SENDS_WAITING,
    ConsoleRelay,
)
from pusherpy.server.broker.redis_messages import (
    BadBusMessage,
    BusMessage,
    ConsoleEntriesMessage,
    ConsoleWatchMessage,
    decode,
    encode,
)
from pusherpy.server.console.hub import ConsoleHub

TTL = 3.0


class Relay:
    """A relay of node "here" with a clock the test moves and a record of what it sent."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sent: list[BusMessage] = []
        self.hub = ConsoleHub()
        self.relay = ConsoleRelay("here", self.hub, self._send, 1.0, TTL, clock=lambda: self.now)
        self.hub.join_cluster("here", self.relay)

    async def _send(self, message: BusMessage) -> None:
        self.sent.append(message)

    def batches(self) -> list[ConsoleEntriesMessage]:
        return [m for m in self.sent if isinstance(m, ConsoleEntriesMessage)]

    async def flushed(self, entries: int) -> None:
        deadline = time.monotonic() + 2
        while sum(len(b.entries) for b in self.batches()) < entries:
            assert time.monotonic() < deadline, f"only {self.batches()} sent"
            await asyncio.sleep(0.01)


def entry(n: int, app_id: str = "1") -> LogEntry:
    return LogEntry(kind=LogKind.API_EVENT, app_id=app_id, at_ms=n, channel=f"c{n}", event="e")


async def test_an_app_watched_elsewhere_is_recorded_here_and_forwarded_in_batches() -> None:
    node = Relay()
    assert not node.hub.watching("1")
    node.relay.receive(ConsoleWatchMessage("there", "1", True))
    assert node.hub.watching("1") and not node.hub.watching("2")
    for n in range(BATCH_SIZE + 5):
        node.hub.record(entry(n))
    node.hub.record(entry(0, app_id="2"))  # nobody watches app 2
    await node.flushed(BATCH_SIZE + 5)
    assert [len(b.entries) for b in node.batches()] == [BATCH_SIZE, 5]
    assert all(e.node == "here" and e.app_id == "1" for b in node.batches() for e in b.entries)
    assert node.hub.held() == (0, 0)  # watched elsewhere only: no ring here


async def test_forwarding_is_bounded_per_second_and_the_loss_travels_with_the_next_batch() -> None:
    node = Relay()
    node.relay.receive(ConsoleWatchMessage("there", "1", True))
    for n in range(FORWARD_PER_SECOND + 1500):
        node.hub.record(entry(n))
    await node.flushed(FORWARD_PER_SECOND)
    await asyncio.sleep(0.1)  # a later flush would send more: none does within the second
    assert sum(len(b.entries) for b in node.batches()) == FORWARD_PER_SECOND
    assert sum(b.dropped for b in node.batches()) == 1500
    node.now += 1.0  # the next second
    for n in range(10):
        node.hub.record(entry(n))
    await node.flushed(FORWARD_PER_SECOND + 10)
    assert sum(b.dropped for b in node.batches()) == 1500


async def test_drops_alone_are_reported_in_an_empty_batch() -> None:
    node = Relay()
    node.relay.receive(ConsoleWatchMessage("there", "1", True))
    for n in range(FORWARD_PER_SECOND):
        node.hub.record(entry(n))
    await node.flushed(FORWARD_PER_SECOND)
    node.hub.record(entry(0))  # over the bound, and nothing else to send
    deadline = time.monotonic() + 2
    while sum(b.dropped for b in node.batches()) < 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert node.batches()[-1].entries == ()


async def test_a_watcher_node_is_forgotten_when_it_stops_or_is_not_heard_for_a_ttl() -> None:
    node = Relay()
    node.relay.receive(ConsoleWatchMessage("there", "1", True))
    node.now += TTL - 0.1
    assert node.hub.watching("1")
    node.now += 0.2
    assert not node.hub.watching("1")  # not said again within the TTL
    node.relay.receive(ConsoleWatchMessage("there", "1", True))
    assert node.hub.watching("1")
    node.relay.receive(ConsoleWatchMessage("there", "1", False))
    assert not node.hub.watching("1")
    node.relay.receive(ConsoleWatchMessage("here", "1", True))  # its own message, echoed by the bus
    assert not node.hub.watching("1")


async def test_watching_here_is_said_on_the_bus_at_once_and_every_refresh() -> None:
    node = Relay()
    watcher = node.hub.watch("1")
    node.hub.watch("1")  # a second console: nothing new to say
    await node.relay.refresh()
    node.hub.unwatch(watcher)
    await asyncio.sleep(0)
    watches = [m for m in node.sent if isinstance(m, ConsoleWatchMessage)]
    assert [(m.app_id, m.watching) for m in watches] == [("1", True), ("1", True)]
    await node.relay.stop()  # the last console is still open: the node says it stops watching as it leaves
    assert [(m.app_id, m.watching) for m in node.sent if isinstance(m, ConsoleWatchMessage)][-1] == ("1", False)


async def test_entries_from_another_node_reach_watchers_here_and_are_not_forwarded_again() -> None:
    node = Relay()
    watcher = node.hub.watch("1")
    node.relay.receive(ConsoleWatchMessage("third", "1", True))  # a third node watches too
    theirs = (LogEntry(kind=LogKind.CONNECTED, app_id="1", at_ms=5, node="there", socket_id="1.2"),)
    node.relay.receive(ConsoleEntriesMessage("there", "1", 7, theirs))
    assert await watcher.next() == list(theirs)
    assert watcher.dropped == 7
    node.relay.receive(ConsoleEntriesMessage("there", "2", 0, theirs))  # app 2 is not watched here: ignored
    assert node.hub.held() == (1, 1)
    await asyncio.sleep(0.1)
    assert node.batches() == []


def test_console_messages_cross_the_bus_as_typed_values() -> None:
    entries = (
        LogEntry(kind=LogKind.CLIENT_EVENT, app_id="1", at_ms=9, node="n", channel="c", size=2, preview="{}"),
        LogEntry(kind=LogKind.ERROR_SENT, app_id="1", at_ms=10, code=4009, message="no"),
    )
    for message in (ConsoleWatchMessage("n", "1", True), ConsoleEntriesMessage("n", "1", 3, entries)):
        assert decode(encode(message)) == message


@pytest.mark.parametrize(
    "body",
    [
        '[{"kind": "api_event", "app_id": "2", "at_ms": 1}]',  # another app's entry under this app's MAC
        '[{"kind": "nonsense", "app_id": "1", "at_ms": 1}]',
        '[{"kind": "api_event", "app_id": "1", "at_ms": "soon"}]',
        '[{"kind": "api_event", "app_id": "1", "at_ms": 1, "extra": 1}]',
        '[{"kind": "api_event", "app_id": "1"}]',
        '{"kind": "api_event"}',
        "not json",
    ],
)
def test_console_entries_that_are_not_pusherpy_s_are_refused(body: str) -> None:
    with pytest.raises(BadBusMessage):
        decode('["cl","n","1","0",""]\n' + body)


async def test_a_watcher_waiting_for_entries_wakes_when_only_its_loss_grew() -> None:
    node = Relay()
    watcher = node.hub.watch("1")
    waiting = asyncio.create_task(watcher.next())
    await asyncio.sleep(0)
    node.relay.receive(ConsoleEntriesMessage("there", "1", 5, ()))
    assert await asyncio.wait_for(waiting, 1) == []
    assert watcher.dropped == 5


async def test_a_stalled_bus_holds_a_bounded_number_of_batches_and_counts_the_rest() -> None:
    node = Relay()
    stalled = asyncio.Event()
    sent: list[BusMessage] = []

    async def slow_send(message: BusMessage) -> None:
        await stalled.wait()
        sent.append(message)

    node.relay = ConsoleRelay("here", node.hub, slow_send, 1.0, TTL, clock=lambda: node.now)
    node.hub.join_cluster("here", node.relay)
    for second in range(MAX_SENDS_WAITING + 5):  # one batch a flush, each flush in a new second
        node.now += 1.0
        node.relay.receive(ConsoleWatchMessage("there", "1", True))  # still watching
        node.hub.record(entry(second))
        deadline = time.monotonic() + 2
        while node.relay._flush_timer is not None:  # the batch is flushed (sent, or dropped)
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    assert node.relay.forwarded == MAX_SENDS_WAITING  # the rest were dropped while the bus stalled
    stalled.set()
    node.now += 1.0
    node.relay.receive(ConsoleWatchMessage("there", "1", True))
    node.hub.record(entry(0))
    deadline = time.monotonic() + 2
    while len(sent) < MAX_SENDS_WAITING + 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    batches = [m for m in sent if isinstance(m, ConsoleEntriesMessage)]
    assert [b.entries[0].at_ms for b in batches[:MAX_SENDS_WAITING]] == list(range(MAX_SENDS_WAITING))  # in order
    assert batches[-1].dropped == 5
