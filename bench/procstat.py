"""Read CPU time and resident memory of process trees from /proc (Linux only).

Why /proc and not psutil: no extra dependency, and the exact fields the report names (``VmRSS``,
``utime + stime``) are what the numbers mean. A server's figures cover its whole process tree, so
a server that forks workers is measured fairly against one that does not.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

CLK_TCK: float = float(os.sysconf("SC_CLK_TCK"))


def process_tree(pid: int) -> list[int]:
    """Return ``pid`` and all its live descendants (via /proc/<pid>/task/<tid>/children)."""
    out: list[int] = []
    stack = [pid]
    while stack:
        cur = stack.pop()
        if not os.path.exists(f"/proc/{cur}"):
            continue
        out.append(cur)
        try:
            tids = os.listdir(f"/proc/{cur}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{cur}/task/{tid}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
            except OSError:
                continue
    return out


def cpu_seconds(pid: int, *, with_reaped_children: bool = True) -> float:
    """Return user+system CPU seconds of one process (plus its reaped children), 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Return VmRSS of one process in bytes, 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_cpu(pids: list[int]) -> float:
    """Sum CPU seconds over the trees rooted at ``pids``."""
    return sum(cpu_seconds(p) for root in pids for p in process_tree(root))


def tree_rss(pids: list[int]) -> int:
    """Sum VmRSS over the trees rooted at ``pids``."""
    return sum(rss_bytes(p) for root in pids for p in process_tree(root))


def host_busy_seconds() -> float:
    """Return CPU seconds all CPUs spent busy since boot (/proc/stat: everything but idle+iowait)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guests are inside user
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def affinity(pid: int) -> str:
    """Return the CPU list a process may run on, for the report."""
    try:
        cpus = sorted(os.sched_getaffinity(pid))
    except OSError:
        return "?"
    return ",".join(str(c) for c in cpus)


@dataclass(slots=True)
class CpuWindow:
    """CPU seconds used by the server and by the load generator over one wall-clock window."""

    wall: float
    server: float
    loadgen: float
    other: float  # busy CPU not spent by either (other programs, unattributed kernel work)
    #: CPU seconds of each named part of the server (a cluster's nodes and Redis); sums to ``server``
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def server_pct(self) -> float:
        """Server CPU as a percentage of one core."""
        return 100.0 * self.server / self.wall if self.wall > 0 else 0.0

    @property
    def other_pct(self) -> float:
        """Everything else on the host, as a percentage of one core: high means disturbed figures."""
        return 100.0 * self.other / self.wall if self.wall > 0 else 0.0

    @property
    def loadgen_pct(self) -> float:
        """Load generator CPU as a percentage of one core."""
        return 100.0 * self.loadgen / self.wall if self.wall > 0 else 0.0

    def part_pct(self, name: str) -> float:
        """CPU of one named server part as a percentage of one core."""
        return 100.0 * self.parts[name] / self.wall if self.wall > 0 else 0.0


class CpuMeter:
    """Measure server and load-generator CPU between ``start()`` and ``stop()``.

    The load generator is this process (not its children: the server may be one) plus the
    receiver worker processes, passed explicitly.
    """

    def __init__(
        self, server_pids: list[int], loadgen_pids: list[int], parts: dict[str, list[int]] | None = None
    ) -> None:
        self.server_pids = server_pids
        self.loadgen_pids = [os.getpid(), *loadgen_pids]
        self.parts = parts or {}
        self._t0 = 0.0
        self._s0 = 0.0
        self._p0: dict[str, float] = {}
        self._g0 = 0.0
        self._h0 = 0.0

    def _loadgen(self) -> float:
        return sum(cpu_seconds(p, with_reaped_children=False) for p in self.loadgen_pids)

    def start(self) -> None:
        """Take the starting sample."""
        self._t0 = time.monotonic()
        self._s0 = tree_cpu(self.server_pids)
        self._p0 = {name: tree_cpu(pids) for name, pids in self.parts.items()}
        self._g0 = self._loadgen()
        self._h0 = host_busy_seconds()

    def stop(self) -> CpuWindow:
        """Take the end sample and return the deltas."""
        server = tree_cpu(self.server_pids) - self._s0
        parts = {name: tree_cpu(pids) - self._p0[name] for name, pids in self.parts.items()}
        loadgen = self._loadgen() - self._g0
        other = max(0.0, host_busy_seconds() - self._h0 - server - loadgen)
        return CpuWindow(wall=time.monotonic() - self._t0, server=server, loadgen=loadgen, other=other, parts=parts)
