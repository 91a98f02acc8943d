"""Serial order for kept channels on one node: each event delivered once, in order, whatever way it arrived.

Events of a kept channel reach a node by several roads: its own publishes, the bus (where two nodes' publishes to
one channel may cross), a fetch from Redis after a gap, the replay of a join or of a bus reconnect. A ``Sequencer``
keeps, per (app, channel), the last serial delivered to this node's sockets and decides, for each event offered:

- serial <= last: a duplicate (it came by another road too): dropped;
- serial == last + 1: delivered, and then every held event that follows on;
- serial > last + 1: held (at most ``max_held`` per channel), and the caller is asked to fetch the gap
  ``(last, serial)`` from Redis and to offer what it finds; a gap Redis no longer has (trimmed) is skipped by
  ``skip_gap``.

Pure logic: no I/O, no clock. The broker shell does the fetching and the delivering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

T = TypeVar("T")

DEFAULT_MAX_HELD: Final = 1000
"""Events held per channel while a gap is fetched; past this the gap is given up (``skip_gap``)."""

Key = tuple[str, str]
"""(app id, channel)."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Serials strictly between ``after`` and ``before`` were not seen: fetch them (``XRANGE after+1 .. before-1``)."""

    after: int
    before: int


@dataclass(frozen=True, slots=True)
class Offered(Generic[T]):
    """What to do now: deliver ``deliver`` in this order; fetch ``gap`` when set."""

    deliver: tuple[T, ...] = ()
    gap: Gap | None = None


@dataclass(slots=True)
class _Channel(Generic[T]):
    last: int
    held: dict[int, T] = field(default_factory=dict)
    fetching: bool = False
    pending: bool = False
    """Followed, position not known yet: hold everything, fetch nothing (see ``follow_pending``)."""


class Sequencer(Generic[T]):
    """Per (app, channel): the last serial delivered on this node, and the events held behind a gap.

    Args:
        max_held: events held per channel before a gap is given up.
    """

    def __init__(self, max_held: int = DEFAULT_MAX_HELD) -> None:
        self._max_held = max_held
        self._channels: dict[Key, _Channel[T]] = {}

    def last(self, key: Key) -> int | None:
        """The last serial delivered here, or None when the channel is not followed."""
        state = self._channels.get(key)
        return None if state is None else state.last

    def follow(self, key: Key, position: int) -> None:
        """Start following a channel at ``position`` (its first local subscriber learnt it from Redis); a channel
        already followed keeps its own position (a newer record's events reach it through a gap fetch)."""
        self._channels.setdefault(key, _Channel(position))

    def follow_pending(self, key: Key) -> None:
        """Start following a channel whose position is being read from Redis (a first local subscriber joining):
        events are held until ``fetched`` says up to where the read reached. A followed channel is unchanged."""
        if key not in self._channels:
            self._channels[key] = _Channel(0, pending=True)

    def forget(self, key: Key) -> None:
        """Stop following a channel (its last local subscriber left)."""
        self._channels.pop(key, None)

    def followed(self) -> list[tuple[Key, int]]:
        """Every followed channel and its last serial (to re-sync after a bus outage)."""
        return [(key, state.last) for key, state in self._channels.items()]

    def offer(self, key: Key, serial: int, item: T) -> Offered[T]:
        """An event arrived (live, or fetched): what to deliver now, and what gap to fetch."""
        state = self._channels.get(key)
        if state is None:
            return Offered()  # nobody here follows the channel
        if serial <= state.last or serial in state.held:
            return Offered()
        if serial == state.last + 1:
            state.last = serial
            return Offered(self._drain(state, (item,)))
        state.held[serial] = item
        if state.pending:
            if len(state.held) > self._max_held:
                del state.held[max(state.held)]  # fetched as a gap once the read under way answers
            return Offered()
        if len(state.held) > self._max_held:
            return Offered(self._skip(state))
        if state.fetching:
            return Offered()
        state.fetching = True
        return Offered(gap=Gap(state.last, min(state.held)))

    def fetched(self, key: Key, events: list[tuple[int, T]], *, after: int | None, upto: int) -> Offered[T]:
        """The events a read of Redis found (any order): all it holds with serials in (``after``, ``upto``]
        (``after`` None: from where the read started is not known). Every serial of that range that is neither among
        them nor held is gone (trimmed) and is skipped, once the channel's last serial reached ``after`` (a read
        that starts above it says nothing of what lies between: that is fetched as a gap). A channel whose position
        was being read (``follow_pending``) starts where the read did. Returns what to deliver, and the gap to fetch
        when events are held behind one."""
        state = self._channels.get(key)
        if state is None:
            return Offered()
        covered = state.pending or (after is not None and after <= state.last)
        state.fetching = state.pending = False
        for serial, item in events:
            if serial > state.last:
                state.held.setdefault(serial, item)
        delivered = list(self._drain(state, ()))
        while covered and state.last < upto:
            following = min(state.held, default=upto + 1)
            state.last = min(following, upto + 1) - 1  # what lies between is gone
            delivered.extend(self._drain(state, ()))
        if state.held:
            state.fetching = True
            return Offered(tuple(delivered), Gap(state.last, min(state.held)))
        return Offered(tuple(delivered))

    def following(self, key: Key) -> bool:
        """Whether the channel is followed at a known position (not pending)."""
        state = self._channels.get(key)
        return state is not None and not state.pending

    def skip_gap(self, key: Key) -> Offered[T]:
        """Give up the current gap (the fetch failed for good): deliver what is held, in order."""
        state = self._channels.get(key)
        if state is None:
            return Offered()
        state.fetching = False
        return Offered(self._skip(state))

    def _skip(self, state: _Channel[T]) -> tuple[T, ...]:
        if not state.held:
            return ()
        state.last = min(state.held) - 1
        return self._drain(state, ())

    @staticmethod
    def _drain(state: _Channel[T], first: tuple[T, ...]) -> tuple[T, ...]:
        out = list(first)
        while (item := state.held.pop(state.last + 1, None)) is not None:
            state.last += 1
            out.append(item)
        if not state.held:
            state.fetching = False
        return tuple(out)
