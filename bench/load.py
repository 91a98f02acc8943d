"""Publish phases shared by the fan-out and many-channels scenarios.

Two ways to load a server, because they answer different questions:
- fixed rate (open loop): publishes leave on a schedule whatever the server does, and each carries
  its *scheduled* send time, so a server that falls behind shows it in the latency (no coordinated
  omission). Answers "how fast is a delivery at this load".
- closed loop: publish as fast as the server absorbs, but never more than ``window`` publishes
  ahead of what subscribers have received, so queues inside the server stay bounded. Answers "how
  many deliveries per second, and what CPU does each one cost".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bench.fleet import Fleet
from bench.httpclient import Publisher
from bench.metrics import Metric, latency_metrics
from bench.procstat import CpuMeter, CpuWindow

EVENT = "bench-event"


def event_data(ts_ns: int, pad: str) -> str:
    """Return the event's ``data`` string: a JSON object carrying the send timestamp."""
    return f'{{"bench_ts":{ts_ns},"pad":"{pad}"}}'


async def _drain(fleet: Fleet, base: int, expected: int, seconds: float) -> int:
    """Wait until ``expected`` deliveries arrived since ``base`` or time is up; return the count."""
    deadline = time.monotonic() + seconds
    while fleet.delivered() - base < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)  # let worker counters catch up
    return fleet.delivered() - base


def _cpu_metrics(prefix: str, cpu: CpuWindow, deliveries: int) -> list[Metric]:
    per = cpu.server * 1e6 / deliveries if deliveries else float("nan")
    return [
        Metric(f"{prefix}.server_cpu_pct", cpu.server_pct, "%core"),
        Metric(f"{prefix}.server_cpu_us_per_delivery", per, "us", "lower"),
        Metric(f"{prefix}.loadgen_cpu_pct", cpu.loadgen_pct, "%core"),
        Metric(f"{prefix}.other_cpu_pct", cpu.other_pct, "%core"),
        # a cluster's nodes and Redis one by one (the server_* figures above are their sum)
        *(Metric(f"{prefix}.{name}_cpu_pct", cpu.part_pct(name), "%core") for name in cpu.parts),
    ]


async def rate_phase(
    prefix: str,
    fleet: Fleet,
    publisher: Publisher,
    meter: CpuMeter,
    pick: Callable[[], str],
    fanout: int,
    rate: float,
    seconds: float,
    drain: float,
    pad: str,
) -> list[Metric]:
    """Publish ``rate`` events/s for ``seconds``; report latency, losses and CPU."""
    base = fleet.delivered()
    errors0 = publisher.errors
    await fleet.record(True)
    tasks: set[asyncio.Task[bool]] = set()
    interval = int(1e9 / rate)
    meter.start()
    t0 = time.monotonic_ns()
    end = t0 + int(seconds * 1e9)
    sent = 0
    while (due := t0 + sent * interval) < end:
        now = time.monotonic_ns()
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
        task = asyncio.create_task(publisher.publish([pick()], EVENT, event_data(due, pad)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
    await asyncio.gather(*tasks)
    ok = sent - (publisher.errors - errors0)
    got = await _drain(fleet, base, ok * fanout, drain)
    cpu = meter.stop()
    await fleet.record(False)
    lats = await fleet.take_latencies()
    expected = ok * fanout
    return [
        Metric(f"{prefix}.publishes", float(sent), "count"),
        Metric(f"{prefix}.publish_errors", float(sent - ok), "count", "lower"),
        Metric(f"{prefix}.deliveries", float(got), "count"),
        Metric(f"{prefix}.lost_pct", 100.0 * (expected - got) / expected if expected else 0.0, "%", "lower"),
        *latency_metrics(f"{prefix}.latency", lats),
        *_cpu_metrics(prefix, cpu, got),
    ]


async def closed_phase(
    prefix: str,
    fleet: Fleet,
    publisher: Publisher,
    meter: CpuMeter,
    pick: Callable[[], str],
    fanout: int,
    window: int,
    concurrency: int,
    seconds: float,
    drain: float,
    pad: str,
) -> list[Metric]:
    """Publish flat out with at most ``window`` undelivered publishes; report throughput and CPU."""
    base = fleet.delivered()
    issued = 0
    limit = window * fanout
    stop_at = time.monotonic() + seconds

    async def pump() -> None:
        nonlocal issued
        while time.monotonic() < stop_at:
            if issued * fanout - (fleet.delivered() - base) >= limit:
                await asyncio.sleep(0.0005)
                continue
            issued += 1
            if not await publisher.publish([pick()], EVENT, event_data(time.monotonic_ns(), pad)):
                issued -= 1

    # sample latency too, sparsely, so long runs cannot fill memory
    await fleet.record(True, 63 if fanout > 100 else 7)
    meter.start()
    pumps = [asyncio.create_task(pump()) for _ in range(concurrency)]
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    in_window = fleet.delivered() - base
    cpu = meter.stop()
    await asyncio.gather(*pumps)
    got = await _drain(fleet, base, issued * fanout, drain)
    await fleet.record(False)
    lats = await fleet.take_latencies()
    expected = issued * fanout
    return [
        Metric(f"{prefix}.publishes_per_s", issued / cpu.wall, "pub/s", "higher"),
        Metric(f"{prefix}.deliveries_per_s", in_window / cpu.wall, "msg/s", "higher"),
        Metric(f"{prefix}.lost_pct", 100.0 * (expected - got) / expected if expected else 0.0, "%", "lower"),
        *latency_metrics(f"{prefix}.latency", lats),
        *_cpu_metrics(prefix, cpu, in_window),
    ]
