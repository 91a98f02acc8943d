"""Receiver fleets: many subscribed sockets, in this process or spread over worker processes.

Why workers: one Python process tops out around a few hundred thousand frames per second; with
``--workers N`` the receivers run in N processes (each on its own uvloop) while publishing and
timing stay here. Latency stays comparable because ``time.monotonic_ns()`` is one host-wide clock.
Live delivery counts cross processes through a shared array (for closed-loop flow control);
latency samples travel once, at the end of a phase.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from bench.servers import Target
from bench.wsclient import PusherConn, Stats, open_conn


@dataclass(slots=True)
class ConnectReport:
    """Outcome of opening and subscribing a batch of sockets."""

    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_samples: list[str] = field(default_factory=list)


class LocalFleet:
    """Sockets owned by the current event loop."""

    def __init__(self, target: Target, timeout: float, concurrency: int) -> None:
        self.target, self.timeout, self.concurrency = target, timeout, concurrency
        self.stats = Stats()
        self.conns: list[PusherConn] = []

    async def connect(self, channels: list[str]) -> ConnectReport:
        """Open one socket per entry of ``channels`` and subscribe it to that (public) channel.

        With several server ports (a cluster's nodes) socket ``i`` goes to port ``i mod n``, so every
        node holds the same share of every channel's subscribers.
        """
        report = ConnectReport()
        sem = asyncio.Semaphore(self.concurrency)
        t = self.target
        ports = t.sub_ports()

        async def one(index: int, channel: str) -> None:
            async with sem:
                try:
                    port = ports[index % len(ports)]
                    conn = await open_conn(t.host, port, t.app_key, self.stats, self.timeout, t.client_tls())
                except (OSError, TimeoutError) as exc:
                    report.errors += 1
                    if len(report.error_samples) < 5:
                        report.error_samples.append(f"connect: {exc!r}")
                    return
                self.conns.append(conn)
                try:
                    await asyncio.wait_for(conn.subscribe(channel), self.timeout)
                    report.ok += 1
                except (OSError, TimeoutError) as exc:
                    report.errors += 1
                    if len(report.error_samples) < 5:
                        report.error_samples.append(f"subscribe: {exc!r}")

        t0 = time.monotonic()
        for res in await asyncio.gather(*(one(i, ch) for i, ch in enumerate(channels)), return_exceptions=True):
            if isinstance(res, BaseException):
                report.errors += 1
                if len(report.error_samples) < 5:
                    report.error_samples.append(f"unexpected: {res!r}")
        report.seconds = time.monotonic() - t0
        return report

    def delivered(self) -> int:
        """Deliveries counted so far (cheap; called in flow-control loops)."""
        return self.stats.delivered

    async def record(self, on: bool, sample_mask: int = 0) -> None:
        """Start or stop keeping latency samples (one per ``sample_mask + 1`` deliveries)."""
        self.stats.record = on
        self.stats.sample_mask = sample_mask

    async def take_latencies(self) -> list[int]:
        """Return and forget the latency samples (nanoseconds)."""
        out, self.stats.latencies = self.stats.latencies, []
        return out

    async def health(self) -> tuple[int, int, list[str]]:
        """Return (protocol errors, sockets closed, error samples)."""
        return self.stats.errors, self.stats.closed, list(self.stats.error_samples)

    async def close_all(self) -> None:
        """Reset every socket; give the loop a moment to run the callbacks."""
        for conn in self.conns:
            conn.abort()
        self.conns.clear()
        await asyncio.sleep(0.05)
        self.stats = Stats()

    def pids(self) -> list[int]:
        """Worker PIDs (none: everything runs here)."""
        return []

    async def shutdown(self) -> None:
        """Close everything."""
        await self.close_all()


def _worker_main(pipe: Connection, counter: Any, target: Target, timeout: float, concurrency: int) -> None:
    """Run one receiver process: obey commands from the pipe until told to exit."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_worker_loop(pipe, counter, target, timeout, concurrency))


async def _worker_loop(pipe: Connection, counter: Any, target: Target, timeout: float, concurrency: int) -> None:
    fleet = LocalFleet(target, timeout, concurrency)
    loop = asyncio.get_running_loop()
    stop = False

    async def publish_count() -> None:
        while not stop:
            counter.value = fleet.stats.delivered
            await asyncio.sleep(0.002)

    pusher = asyncio.create_task(publish_count())
    try:
        while True:
            cmd, arg = await loop.run_in_executor(None, pipe.recv)
            reply: Any = None
            if cmd == "connect":
                reply = await fleet.connect(arg)
            elif cmd == "record":
                await fleet.record(*arg)
            elif cmd == "take":
                reply = array("q", await fleet.take_latencies()).tobytes()
            elif cmd == "health":
                reply = await fleet.health()
            elif cmd == "close":
                await fleet.close_all()
                counter.value = 0
            elif cmd == "exit":
                await fleet.close_all()
                pipe.send(None)
                return
            pipe.send(reply)
    finally:
        stop = True
        await pusher


class WorkerFleet:
    """The same interface as LocalFleet, over N spawned processes."""

    def __init__(self, target: Target, timeout: float, concurrency: int, workers: int) -> None:
        ctx = mp.get_context("spawn")  # no forking of a running event loop
        self.pipes: list[Connection] = []
        self.counters: list[Synchronized[int]] = []
        self.procs: list[Any] = []
        per_worker = max(1, concurrency // workers)
        for _ in range(workers):
            ours, theirs = ctx.Pipe()
            counter = ctx.Value("q", 0, lock=False)
            proc = ctx.Process(target=_worker_main, args=(theirs, counter, target, timeout, per_worker), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.counters.append(counter)
            self.procs.append(proc)

    async def _call(self, i: int, cmd: str, arg: Any = None) -> Any:
        self.pipes[i].send((cmd, arg))
        return await asyncio.get_running_loop().run_in_executor(None, self.pipes[i].recv)

    async def _all(self, cmd: str, args: list[Any] | None = None) -> list[Any]:
        n = len(self.pipes)
        return list(await asyncio.gather(*(self._call(i, cmd, args[i] if args else None) for i in range(n))))

    async def connect(self, channels: list[str]) -> ConnectReport:
        """Split the sockets round-robin over the workers; rate is over the slowest worker."""
        n = len(self.pipes)
        t0 = time.monotonic()
        parts: list[ConnectReport] = await self._all("connect", [channels[i::n] for i in range(n)])
        total = ConnectReport(seconds=time.monotonic() - t0)
        for p in parts:
            total.ok += p.ok
            total.errors += p.errors
            total.error_samples.extend(p.error_samples[: 5 - len(total.error_samples)])
        return total

    def delivered(self) -> int:
        """Deliveries counted by all workers (lags by a few milliseconds)."""
        return sum(c.value for c in self.counters)

    async def record(self, on: bool, sample_mask: int = 0) -> None:
        """Start or stop latency sampling in every worker."""
        await self._all("record", [(on, sample_mask)] * len(self.pipes))

    async def take_latencies(self) -> list[int]:
        """Collect and forget every worker's latency samples."""
        out: list[int] = []
        for raw in await self._all("take"):
            out.extend(array("q", raw))
        return out

    async def health(self) -> tuple[int, int, list[str]]:
        """Sum errors and closed sockets over the workers."""
        errors, closed, samples = 0, 0, []
        for e, c, s in await self._all("health"):
            errors, closed = errors + e, closed + c
            samples.extend(s)
        return errors, closed, samples[:5]

    async def close_all(self) -> None:
        """Reset every worker's sockets."""
        await self._all("close")

    def pids(self) -> list[int]:
        """Worker PIDs, counted as load-generator CPU."""
        return [p.pid for p in self.procs if p.pid is not None]

    async def shutdown(self) -> None:
        """Stop the workers (and their sockets); kill any that do not exit."""
        try:
            await asyncio.wait_for(self._all("exit"), 10)
        except (TimeoutError, OSError, EOFError):
            pass
        for proc in self.procs:
            proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2)


Fleet = LocalFleet | WorkerFleet


def make_fleet(target: Target, timeout: float, concurrency: int, workers: int) -> Fleet:
    """Return an in-process fleet for ``workers <= 1``, else a process fleet."""
    if workers <= 1:
        return LocalFleet(target, timeout, concurrency)
    return WorkerFleet(target, timeout, concurrency, workers)


__all__ = ["ConnectReport", "Fleet", "LocalFleet", "WorkerFleet", "make_fleet"]
