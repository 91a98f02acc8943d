"""Counters and gauges, rendered as Prometheus text at ``/metrics``.

Counters are plain integer attributes bumped on the hot path (no locks: one event loop); gauges are read from
the broker when scraped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any


class Metrics:
    """Per-app counters: messages and bytes in and out, connections opened, errors sent, webhook outcomes."""

    def __init__(self) -> None:
        self.counters: defaultdict[tuple[str, str], int] = defaultdict(int)

    def count(self, app_id: str, name: str, amount: int = 1) -> None:
        self.counters[(name, app_id)] += amount

    def render(self, gauges: Mapping[str, Mapping[str, Any]], *, healthy: bool) -> str:
        """Return the Prometheus text exposition of every counter and the given per-app gauges."""
        lines = [
            "# HELP pusherpy_up 1 when the server and its broker are healthy, 0 when degraded.",
            "# TYPE pusherpy_up gauge",
            f"pusherpy_up {1 if healthy else 0}",
        ]
        gauge_names = sorted({name for values in gauges.values() for name in values})
        for name in gauge_names:
            lines.append(f"# TYPE pusherpy_{name} gauge")
            for app_id, values in sorted(gauges.items()):
                if name in values:
                    lines.append(f'pusherpy_{name}{{app_id="{_escape(app_id)}"}} {values[name]}')
        for name in sorted({name for name, _ in self.counters}):
            lines.append(f"# TYPE pusherpy_{name}_total counter")
            for (counter, app_id), value in sorted(self.counters.items()):
                if counter == name:
                    lines.append(f'pusherpy_{name}_total{{app_id="{_escape(app_id)}"}} {value}')
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
