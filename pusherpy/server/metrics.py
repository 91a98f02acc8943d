"""Counters and gauges, rendered as Prometheus text at ``/metrics``.

Counters are plain integer attributes bumped on the hot path (no locks: one event loop); gauges are read from
the broker when scraped. Accept failures (``accept.py``) belong to the listener, not to an app, so they are counted
by reason and always shown, zeros included, for an alert to watch.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final

ACCEPT_FAILURE_REASONS: Final = ("emfile", "enfile", "enobufs", "enomem")
"""Why ``accept()`` failed: this process's open-files limit, the system's file table, kernel socket memory."""


class Metrics:
    """Per-app counters: messages and bytes in and out, connections opened, errors sent, webhook outcomes."""

    def __init__(self) -> None:
        self.counters: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.accept_failures: dict[str, int] = dict.fromkeys(ACCEPT_FAILURE_REASONS, 0)
        """Failed ``accept()`` calls by reason (one of ``ACCEPT_FAILURE_REASONS``)."""

    def count(self, app_id: str, name: str, amount: int = 1) -> None:
        self.counters[(name, app_id)] += amount

    def count_sent(self, app_id: str, messages: int, size: int) -> None:
        """Messages written to sockets and their bytes on the wire (WebSocket framing included)."""
        self.counters[("messages_sent", app_id)] += messages
        self.counters[("bytes_sent", app_id)] += size

    def render(
        self,
        gauges: Mapping[str, Mapping[str, Any]],
        *,
        healthy: bool,
        process: Mapping[str, float] | None = None,
        node_counters: Mapping[str, int] | None = None,
    ) -> str:
        """Return the Prometheus text exposition of every counter, the per-app gauges, the process gauges and the
        broker's node-wide counters (``node_counters``, without an app label)."""
        lines = [
            "# HELP pusherpy_up 1 when the server and its broker are healthy, 0 when degraded.",
            "# TYPE pusherpy_up gauge",
            f"pusherpy_up {1 if healthy else 0}",
        ]
        for name, value in sorted((process or {}).items()):
            lines.append(f"# TYPE pusherpy_{name} gauge")
            lines.append(f"pusherpy_{name} {value:g}")
        gauge_names = sorted({name for values in gauges.values() for name in values})
        for name in gauge_names:
            lines.append(f"# TYPE pusherpy_{name} gauge")
            for app_id, values in sorted(gauges.items()):
                if name in values:
                    lines.append(f'pusherpy_{name}{{app_id="{_escape(app_id)}"}} {values[name]}')
        lines.append(
            "# HELP pusherpy_accept_failures_total accept() calls that failed for lack of file descriptors or "
            "memory, by reason; connections wait in the listen backlog meanwhile."
        )
        lines.append("# TYPE pusherpy_accept_failures_total counter")
        for reason, value in self.accept_failures.items():
            lines.append(f'pusherpy_accept_failures_total{{reason="{reason}"}} {value}')
        for name, value in sorted((node_counters or {}).items()):
            lines.append(f"# TYPE pusherpy_{name}_total counter")
            lines.append(f"pusherpy_{name}_total {value}")
        for name in sorted({name for name, _ in self.counters}):
            lines.append(f"# TYPE pusherpy_{name}_total counter")
            for (counter, app_id), value in sorted(self.counters.items()):
                if counter == name:
                    lines.append(f'pusherpy_{name}_total{{app_id="{_escape(app_id)}"}} {value}')
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def process_gauges() -> dict[str, float]:
    """Resident memory, open file descriptors and asyncio tasks of this process: what a leak shows up in.

    Read from ``/proc/self`` where there is one (Linux); elsewhere only the task count is given.
    """
    gauges: dict[str, float] = {"tasks": len(asyncio.all_tasks())}
    try:
        with open("/proc/self/statm") as statm:
            gauges["resident_memory_bytes"] = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        gauges["open_fds"] = len(os.listdir("/proc/self/fd"))
    except OSError:
        pass
    return gauges
