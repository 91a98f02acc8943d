"""A node delivers a kept channel's events once and in serial order, whatever road each one took (its own publish,
the bus, a gap fetch, a replay): ``Sequencer``, pure logic."""

from __future__ import annotations

from pusherpy.server.broker.sequencer import Gap, Offered, Sequencer

KEY = ("app", "chat")


def following(last: int = 100, max_held: int = 1000) -> Sequencer[str]:
    sequencer: Sequencer[str] = Sequencer(max_held)
    sequencer.follow(KEY, last)
    return sequencer


def test_the_next_serial_is_delivered_at_once() -> None:
    sequencer = following()
    assert sequencer.offer(KEY, 101, "a") == Offered(("a",))
    assert sequencer.offer(KEY, 102, "b") == Offered(("b",))
    assert sequencer.last(KEY) == 102


def test_a_serial_already_delivered_is_dropped() -> None:
    sequencer = following()
    sequencer.offer(KEY, 101, "a")
    assert sequencer.offer(KEY, 101, "a again") == Offered()
    assert sequencer.offer(KEY, 99, "older") == Offered()


def test_a_serial_past_a_gap_is_held_and_the_gap_fetched_once() -> None:
    sequencer = following()
    assert sequencer.offer(KEY, 103, "c") == Offered(gap=Gap(100, 103))
    assert sequencer.offer(KEY, 104, "d") == Offered(), "one fetch at a time"
    assert sequencer.offer(KEY, 103, "c again") == Offered()
    assert sequencer.fetched(KEY, [(101, "a"), (102, "b")], after=100, upto=102) == Offered(("a", "b", "c", "d"))
    assert sequencer.last(KEY) == 104


def test_the_gap_closes_when_the_missing_events_arrive_live_before_the_fetch_answers() -> None:
    sequencer = following()
    sequencer.offer(KEY, 102, "b")
    assert sequencer.offer(KEY, 101, "a") == Offered(("a", "b"))
    assert sequencer.fetched(KEY, [(101, "a")], after=100, upto=101) == Offered(), (
        "the late fetch delivers nothing twice"
    )
    assert sequencer.offer(KEY, 103, "c") == Offered(("c",))


def test_a_gap_redis_no_longer_has_is_skipped() -> None:
    sequencer = following()
    sequencer.offer(KEY, 105, "e")
    assert sequencer.fetched(KEY, [(103, "c"), (104, "d")], after=100, upto=104) == Offered(("c", "d", "e"))
    assert sequencer.last(KEY) == 105


def test_a_second_gap_behind_the_first_is_fetched_next() -> None:
    sequencer = following()
    sequencer.offer(KEY, 102, "b")
    sequencer.offer(KEY, 104, "d")
    assert sequencer.fetched(KEY, [(101, "a")], after=100, upto=101) == Offered(("a", "b"), Gap(102, 104))
    assert sequencer.fetched(KEY, [(103, "c")], after=102, upto=103) == Offered(("c", "d"))


def test_a_fetch_can_advance_the_channel_past_live_events_not_yet_arrived() -> None:
    """A join's read of Redis moves the node forward for every local subscriber; the live copies are then dropped."""
    sequencer = following()
    assert sequencer.fetched(KEY, [(101, "a"), (102, "b")], after=100, upto=102) == Offered(("a", "b"))
    assert sequencer.offer(KEY, 101, "a live") == Offered()
    assert sequencer.offer(KEY, 103, "c") == Offered(("c",))


def test_too_many_held_events_give_the_gap_up() -> None:
    sequencer = following(max_held=2)
    sequencer.offer(KEY, 102, "b")
    sequencer.offer(KEY, 103, "c")
    assert sequencer.offer(KEY, 104, "d") == Offered(("b", "c", "d"))
    assert sequencer.fetched(KEY, [(101, "a")], after=100, upto=101) == Offered(), (
        "the answer of the given-up fetch is late"
    )


def test_a_failed_fetch_gives_the_gap_up_and_the_next_gap_is_fetched_again() -> None:
    sequencer = following()
    sequencer.offer(KEY, 102, "b")
    assert sequencer.skip_gap(KEY) == Offered(("b",))
    assert sequencer.offer(KEY, 104, "d") == Offered(gap=Gap(102, 104))


def test_a_channel_nobody_here_follows_delivers_nothing() -> None:
    sequencer: Sequencer[str] = Sequencer()
    assert sequencer.offer(KEY, 5, "x") == Offered()
    sequencer.follow(KEY, 4)
    sequencer.follow(KEY, 1)
    assert sequencer.last(KEY) == 4, "a followed channel keeps its position"
    sequencer.forget(KEY)
    assert sequencer.last(KEY) is None


def test_a_channel_whose_position_is_being_read_holds_live_events_until_the_read_answers() -> None:
    sequencer: Sequencer[str] = Sequencer()
    sequencer.follow_pending(KEY)
    assert sequencer.offer(KEY, 103, "c") == Offered(), "no gap to fetch: the read under way covers it"
    assert sequencer.offer(KEY, 102, "b") == Offered()
    assert sequencer.fetched(KEY, [(101, "a"), (102, "b")], after=None, upto=102) == Offered(("a", "b", "c"))
    sequencer.follow_pending(KEY)
    assert sequencer.offer(KEY, 104, "d") == Offered(("d",)), "a followed channel is not pending again"


def test_a_read_that_finds_no_events_starts_the_channel_at_the_position_read() -> None:
    sequencer: Sequencer[str] = Sequencer()
    sequencer.follow_pending(KEY)
    sequencer.offer(KEY, 101, "a")
    assert sequencer.fetched(KEY, [], after=None, upto=100) == Offered(("a",))
    assert sequencer.last(KEY) == 101


def test_events_held_past_the_bound_while_the_position_is_read_are_fetched_afterwards() -> None:
    sequencer: Sequencer[str] = Sequencer(max_held=2)
    sequencer.follow_pending(KEY)
    for serial, item in ((101, "a"), (102, "b"), (103, "c")):
        sequencer.offer(KEY, serial, item)
    assert sequencer.fetched(KEY, [], after=None, upto=100) == Offered(("a", "b"))
    assert sequencer.offer(KEY, 104, "d") == Offered(gap=Gap(102, 104)), "103 was let go: it is fetched"


def test_a_read_that_starts_above_the_channels_position_skips_nothing_below_it() -> None:
    """A subscriber resuming ahead of this node (its events still on their way here): the node's other subscribers
    must still get the events between, fetched as a gap, not skipped as gone."""
    sequencer = following(100)
    assert sequencer.fetched(KEY, [(104, "d"), (105, "e")], after=103, upto=105) == Offered(gap=Gap(100, 104))
    assert sequencer.offer(KEY, 101, "a") == Offered(("a",))
    assert sequencer.fetched(KEY, [(102, "b"), (103, "c")], after=101, upto=103) == Offered(("b", "c", "d", "e"))
