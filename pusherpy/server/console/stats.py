"""What the console's counters and channel list show, read from the broker (cluster-wide where its queries are)
and from this process's metrics (messages per second, measured between two samples).

Bounded by the configured apps: one pair of samples per app, whatever the number of consoles polling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ...protocol import codec
from ...protocol.apps import AppConfig
from ...protocol.channels import classify
from ..metrics import Metrics
from ..state import ServerState

MAX_CHANNELS_LISTED: Final = 500
"""Channels one listing returns (sorted by name); the answer says when there were more."""
MAX_MEMBERS_LISTED: Final = 50
"""Presence user ids shown per channel, for the first ``MAX_MEMBER_CHANNELS`` presence channels listed."""
MAX_MEMBER_CHANNELS: Final = 50
MIN_SAMPLE_SECONDS: Final = 1.0
"""A rate is measured over at least this long; consoles polling faster share the last measurement."""


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    messages_in: int
    messages_out: int


class MessageRates:
    """Messages in (from sockets and the HTTP API) and out (written to sockets) per second, per app."""

    __slots__ = ("_metrics", "_samples")

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._samples: dict[str, tuple[_Sample, _Sample]] = {}

    def per_second(self, app_id: str, now: float) -> tuple[float, float]:
        """(in, out) per second over the last measured interval; zeros until two samples exist."""
        counters = self._metrics.counters
        current = _Sample(
            now,
            counters.get(("messages_received", app_id), 0) + counters.get(("api_messages", app_id), 0),
            counters.get(("messages_sent", app_id), 0),
        )
        previous, last = self._samples.get(app_id, (current, current))
        if current.at - last.at >= MIN_SAMPLE_SECONDS or previous is last:
            previous, last = last, current
            self._samples[app_id] = (previous, last)
        elapsed = last.at - previous.at
        if elapsed <= 0:
            return 0.0, 0.0
        return (
            round((last.messages_in - previous.messages_in) / elapsed, 1),
            round((last.messages_out - previous.messages_out) / elapsed, 1),
        )


async def app_stats(state: ServerState, rates: MessageRates, app: AppConfig, now: float) -> dict[str, Any]:
    """The live counters of one app."""
    channels = await state.broker.channels(app)
    messages_in, messages_out = rates.per_second(app.id, now)
    return {
        "connections": await state.broker.connection_count(app),
        "channels": len(channels),
        "subscriptions": sum(info.subscription_count for info in channels.values()),
        "presence_members": sum(info.user_count or 0 for info in channels.values()),
        "messages_in_per_second": messages_in,
        "messages_out_per_second": messages_out,
    }


async def channel_list(state: ServerState, app: AppConfig, prefix: str) -> dict[str, Any]:
    """The app's occupied channels starting with ``prefix``: counts, presence members, cache state."""
    channels = await state.broker.channels(app, prefix)
    names = sorted(channels)
    listed: list[dict[str, Any]] = []
    member_channels = 0
    for name in names[:MAX_CHANNELS_LISTED]:
        info = channels[name]
        kind = classify(name)
        entry: dict[str, Any] = {"name": name, "subscription_count": info.subscription_count}
        if kind.is_presence:
            entry["user_count"] = info.user_count or 0
            if member_channels < MAX_MEMBER_CHANNELS:
                member_channels += 1
                entry["members"] = (await state.broker.presence_user_ids(app, name))[:MAX_MEMBERS_LISTED]
        if kind.cached:
            cached = await state.broker.cache_entry(app, name)
            entry["cache"] = None if cached is None else _cache_state(cached.text, cached.ttl)
        listed.append(entry)
    return {"channels": listed, "total": len(names), "truncated": len(names) > MAX_CHANNELS_LISTED}


def _cache_state(text: str, ttl: float) -> dict[str, Any]:
    cached = codec.loads(text)
    return {"event": cached.get("event"), "ttl": int(ttl)}
