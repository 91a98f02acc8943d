"""Channel history as plain values and rules: which channels keep events, serials, rewind and resume decisions.

The Pusher protocol forgets an event once it is sent, so a client that reconnects loses what was published while it
was away. An app may keep the recent events of some channels (``[[apps.history]]``): each kept event gets a
**serial**, strictly increasing per channel and the same on every node, and a subscriber can then be sent what it
missed (resume) or the last few events (rewind). Both brokers keep the events (in memory, or in Redis streams); the
decisions about what a subscriber gets are made here, once, from the values they read. Nothing here performs I/O or
reads a clock: ``now`` is passed in (wall-clock seconds).

Serials of a channel count up from the channel record's **epoch start**, the wall-clock milliseconds times 1000 at
the moment the record was created. A record lost with a restart or a Redis flush is re-created with a start far
above every serial handed out before, so a client's stale position is recognised as unknown, never mistaken for a
position in the new record. (1.8e15 today: an exact integer in JavaScript up to 2^53.)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from . import codec
from .bounds import bounded
from .errors import MalformedMessage
from .events import ChannelEvent

SERIALS_PER_MILLISECOND: Final = 1000
RESUME_FAILED_EVENT: Final = "pusherpy:resume_failed"
"""The channel event a resuming subscriber gets when its position cannot be resumed exactly."""
RESUME_AFTER_KEY: Final = "resume_after"
"""The key of ``channel_data`` under which a backend signs the position a subscriber resumes after."""


def epoch_start(now: float) -> int:
    """The position of a channel record created at ``now`` (wall-clock seconds): its first event gets this + 1."""
    return int(now * 1000) * SERIALS_PER_MILLISECOND


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRule:
    """One ``[[apps.history]]`` entry: which channels keep their events, how many and for how long."""

    channels: str
    """An ``fnmatch`` pattern on the channel name (``private-conversation.*``); the first matching entry wins."""
    size: int = bounded(100, minimum=1, maximum=10_000)
    """Events kept per channel; older ones are dropped first."""
    ttl_seconds: float = bounded(3600.0, minimum=1, maximum=30 * 86400)
    """An event older than this is dropped; a channel without events for this long is forgotten."""
    rewind: int = bounded(0, maximum=10_000)
    """A new subscription without a resume position first gets up to this many of the latest kept events."""
    rewind_seconds: float = bounded(0.0, maximum=30 * 86400)
    """... or those published within this many seconds (both set: both limits apply)."""

    def matches(self, channel: str) -> bool:
        return fnmatch.fnmatchcase(channel, self.channels)

    @property
    def rewinds(self) -> bool:
        return self.rewind > 0 or self.rewind_seconds > 0


def rule_for(rules: Sequence[HistoryRule], channel: str) -> HistoryRule | None:
    """The first rule that keeps ``channel``'s events, or None."""
    for rule in rules:
        if rule.matches(channel):
            return rule
    return None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One kept event: its serial, when it was published, and its envelope as encoded without the serial."""

    serial: int
    published_at: float
    """Wall-clock seconds."""
    text: str

    @property
    def wire_text(self) -> str:
        """The envelope as subscribers get it: with its serial."""
        return codec.with_serial(self.text, self.serial)


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """What a broker knows of one channel's history: its epoch start, its position, and the kept events (oldest
    first, already pruned of expired ones)."""

    start: int
    position: int
    entries: tuple[HistoryEntry, ...]

    @property
    def oldest(self) -> int | None:
        return self.entries[0].serial if self.entries else None


ResumeFailure = Literal["trimmed", "unknown"]


@dataclass(frozen=True, slots=True)
class ResumeFailed:
    """A position that cannot be resumed exactly: events after it are gone (``trimmed``), or it is not a position
    of this channel's record (``unknown``: older than its epoch start, or ahead of it)."""

    after: int
    position: int
    reason: ResumeFailure


def resume_failed_text(channel: str, failed: ResumeFailed) -> str:
    """The channel event that tells a subscriber its position could not be resumed: its app reloads from its own
    store. Carries the channel's position as its serial, so the client tracks on from there."""
    data = codec.dumps({"after": failed.after, "position": failed.position, "reason": failed.reason})
    text = codec.encode(ChannelEvent(event=RESUME_FAILED_EVENT, channel=channel, data=data))
    return codec.with_serial(text, failed.position)


@dataclass(frozen=True, slots=True)
class HistoryJoin:
    """What a new subscriber of a kept channel gets after ``subscription_succeeded``: its position, then either the
    replayed events (their wire texts, in order) or the failure of its resume."""

    position: int
    replay: tuple[str, ...] = ()
    failed: ResumeFailed | None = None


def events_after(record: ChannelRecord, after: int) -> tuple[HistoryEntry, ...] | ResumeFailed:
    """The kept events after position ``after``, all of them, or why that cannot be done exactly."""
    if after < record.start or after > record.position:
        return ResumeFailed(after, record.position, "unknown")
    oldest = record.oldest
    if after < record.position and (oldest is None or oldest > after + 1):
        return ResumeFailed(after, record.position, "trimmed")
    return tuple(entry for entry in record.entries if entry.serial > after)


def rewound(record: ChannelRecord, rule: HistoryRule, now: float) -> tuple[HistoryEntry, ...]:
    """The events a new subscription without a position gets first: the rule's ``rewind`` latest and/or those of
    its last ``rewind_seconds``."""
    entries = record.entries
    if not rule.rewinds:
        return ()
    if rule.rewind_seconds > 0:
        since = now - rule.rewind_seconds
        entries = tuple(entry for entry in entries if entry.published_at >= since)
    if rule.rewind > 0:
        entries = entries[-rule.rewind :]
    return entries


def plan_join(record: ChannelRecord, rule: HistoryRule, resume_after: int | None, now: float) -> HistoryJoin:
    """What a new subscriber gets: the events after its position when it gave one, else the rule's rewind."""
    if resume_after is None:
        replay = rewound(record, rule, now)
    else:
        found = events_after(record, resume_after)
        if isinstance(found, ResumeFailed):
            return HistoryJoin(record.position, failed=found)
        replay = found
    return HistoryJoin(record.position, tuple(entry.wire_text for entry in replay))


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """An answer of the history API: events after a position (oldest first, at most a limit), or ``gone``."""

    events: tuple[HistoryEntry, ...]
    position: int | None
    """The channel's position; None when no record exists (nothing kept yet)."""
    oldest: int | None
    gone: bool = False
    """True when events after the asked position are no longer all kept: the caller must use its own store."""


def page(record: ChannelRecord | None, after: int | None, limit: int) -> HistoryPage:
    """The history API's answer for ``after`` (None: the latest ``limit`` events)."""
    if record is None:
        return HistoryPage((), None, None, gone=after is not None)
    if after is None:
        return HistoryPage(record.entries[-limit:], record.position, record.oldest)
    found = events_after(record, after)
    if isinstance(found, ResumeFailed):
        return HistoryPage((), record.position, record.oldest, gone=True)
    return HistoryPage(found[:limit], record.position, record.oldest)


def prune(entries: Sequence[HistoryEntry], rule: HistoryRule, now: float) -> int:
    """How many of the oldest ``entries`` have outlived the rule's ``ttl_seconds``."""
    cutoff = now - rule.ttl_seconds
    count = 0
    for entry in entries:
        if entry.published_at >= cutoff:
            break
        count += 1
    return count


def resume_after(channel: str, channel_data: str | None) -> int | None:
    """The position a backend signed into a subscription's ``channel_data`` (``{"resume_after": N}``), or None.

    Raises:
        MalformedMessage: ``resume_after`` is there but not a positive integer.
    """
    if not channel_data or RESUME_AFTER_KEY not in channel_data:
        return None
    try:
        data = codec.loads(channel_data)
    except codec.JSONDecodeError:
        return None  # presence channel_data that is not JSON is refused where it is read as a member
    if not isinstance(data, dict) or RESUME_AFTER_KEY not in data:
        return None
    value = data[RESUME_AFTER_KEY]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedMessage(f"{channel}: resume_after must be a serial (a positive integer)", channel=channel)
    return value
