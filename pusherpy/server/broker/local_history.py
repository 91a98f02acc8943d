"""Channel history kept in this process's memory: the default broker's store of kept events.

Bounded three ways: each channel keeps at most its rule's ``size`` events, none older than ``ttl_seconds``; a
channel without events for ``ttl_seconds`` is forgotten; and an app keeps at most ``max_history_channels``
records, the least recently used going first. A record is created by the first publish or the first subscription
(so a subscriber has a position before any event), which is why subscribers alone must not be able to grow it
without bound.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from ...protocol.apps import AppConfig
from ...protocol.history import ChannelRecord, HistoryEntry, HistoryRule, epoch_start, prune


class _Record:
    """One channel's history: its epoch start, position and kept events (oldest first)."""

    __slots__ = ("start", "position", "entries", "used_at")

    def __init__(self, now: float, size: int) -> None:
        self.start = epoch_start(now)
        self.position = self.start
        self.entries: deque[HistoryEntry] = deque(maxlen=size)
        self.used_at = now

    def snapshot(self, rule: HistoryRule, now: float) -> ChannelRecord:
        self._prune(rule, now)
        return ChannelRecord(self.start, self.position, tuple(self.entries))

    def forgotten(self, rule: HistoryRule, now: float) -> bool:
        """Silent for longer than the rule's ttl, with every event expired: the record is to be forgotten."""
        if self.used_at >= now - rule.ttl_seconds:
            return False
        self._prune(rule, now)
        return not self.entries

    def _prune(self, rule: HistoryRule, now: float) -> None:
        for _ in range(prune(self.entries, rule, now)):
            self.entries.popleft()


class LocalHistory:
    """Every app's kept channels on this node."""

    def __init__(self) -> None:
        self._apps: dict[str, OrderedDict[str, _Record]] = {}

    def append(self, app: AppConfig, channel: str, rule: HistoryRule, text: str, now: float) -> int:
        """Keep an event (its envelope without serial) and return its serial."""
        record = self._record(app, channel, rule, now)
        record.position += 1
        record.entries.append(HistoryEntry(record.position, now, text))
        return record.position

    def record(self, app: AppConfig, channel: str, rule: HistoryRule, now: float) -> ChannelRecord:
        """The channel's record as it is now, created (with no events) when there is none."""
        return self._record(app, channel, rule, now).snapshot(rule, now)

    def existing(self, app: AppConfig, channel: str, rule: HistoryRule, now: float) -> ChannelRecord | None:
        """The channel's record, or None when none is kept: reading never creates one."""
        records = self._apps.get(app.id)
        if records is None or channel not in records:
            return None
        record = records[channel]
        if record.forgotten(rule, now):
            del records[channel]
            return None
        return record.snapshot(rule, now)

    def gauges(self, stats: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """``stats`` (per-app gauges for /metrics) with each app's kept channels and events."""
        for app_id, records in self._apps.items():
            gauges = stats.setdefault(app_id, {})
            gauges["history_channels"] = len(records)
            gauges["history_events"] = sum(len(record.entries) for record in records.values())
        return stats

    def _record(self, app: AppConfig, channel: str, rule: HistoryRule, now: float) -> _Record:
        records = self._apps.setdefault(app.id, OrderedDict())
        record = records.get(channel)
        if record is not None and record.forgotten(rule, now):
            del records[channel]
            record = None
        if record is None:
            self._make_room(app, records, now, rule)
            record = records[channel] = _Record(now, rule.size)
        else:
            records.move_to_end(channel)
        record.used_at = now
        return record

    @staticmethod
    def _make_room(app: AppConfig, records: OrderedDict[str, _Record], now: float, rule: HistoryRule) -> None:
        """Forget records silent for longer than the ttl from the least recently used end, then the least recently
        used ones while the app is at its cap."""
        while records:
            oldest = next(iter(records.values()))
            if oldest.used_at >= now - rule.ttl_seconds:
                break
            records.popitem(last=False)
        while len(records) >= app.max_history_channels:
            records.popitem(last=False)
