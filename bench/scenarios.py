"""The four scenarios; each returns metrics and leaves no socket open behind it.

Channel names carry a per-run prefix so a long-lived external server never mixes two runs.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from bench.config import BenchConfig
from bench.fleet import Fleet
from bench.httpclient import Publisher
from bench.load import closed_phase, rate_phase
from bench.metrics import Metric, latency_metrics
from bench.procstat import CpuMeter, tree_rss
from bench.servers import Target
from bench.signing import channel_auth
from bench.wsclient import PusherConn, Stats, open_conn


@dataclass(slots=True)
class Context:
    """What every scenario gets: the server, the receivers and the settings."""

    target: Target
    fleet: Fleet
    cfg: BenchConfig
    run_id: str
    log: Callable[[str], None]

    def meter(self) -> CpuMeter:
        """Return a CPU meter over the server's tree and the load generator's processes."""
        return CpuMeter(self.target.pids, self.fleet.pids(), self.target.parts)

    def publisher(self) -> Publisher:
        """Return a publisher for the target app."""
        t = self.target
        return Publisher(t.host, t.port, t.app_id, t.app_key, t.app_secret, self.cfg.http_pool, t.client_tls())


def _rss_metrics(ctx: Context, prefix: str) -> list[Metric]:
    """Server RSS now (every PID summed), and each named part of a cluster on its own."""
    t = ctx.target
    if not t.pids:
        return []
    out = [Metric(f"{prefix}.server_rss_mib", tree_rss(t.pids) / 2**20, "MiB", "lower")]
    out += [Metric(f"{prefix}.{name}_rss_mib", tree_rss(pids) / 2**20, "MiB") for name, pids in t.parts.items()]
    return out


async def _health(ctx: Context, prefix: str) -> list[Metric]:
    errors, closed, samples = await ctx.fleet.health()
    for s in samples:
        ctx.log(f"  {prefix}: {s}")
    return [
        Metric(f"{prefix}.socket_errors", float(errors), "count", "lower"),
        Metric(f"{prefix}.sockets_dropped", float(closed), "count", "lower"),
    ]


async def _connect(ctx: Context, prefix: str, channels: list[str]) -> list[Metric]:
    rep = await ctx.fleet.connect(channels)
    for s in rep.error_samples:
        ctx.log(f"  {prefix}: {s}")
    ctx.log(f"  {prefix}: {rep.ok}/{len(channels)} subscribed in {rep.seconds:.2f}s")
    if rep.ok == 0:
        raise RuntimeError(f"no socket could subscribe ({rep.error_samples[:1]})")
    return [Metric(f"{prefix}.connect_errors", float(rep.errors), "count", "lower")]


async def connections(ctx: Context) -> list[Metric]:
    """Open N subscribed sockets per step; connect rate, errors, server RSS per connection."""
    out: list[Metric] = []
    channel = f"bench-{ctx.run_id}-conns"
    for n in ctx.cfg.conn_counts:
        await ctx.fleet.close_all()
        await asyncio.sleep(1.0)  # let the server notice the resets before the baseline
        p = f"connections.{n}"
        rss0 = tree_rss(ctx.target.pids)
        meter = ctx.meter()
        meter.start()
        rep = await ctx.fleet.connect([channel] * n)
        cpu = meter.stop()
        await asyncio.sleep(0.5)
        rss1 = tree_rss(ctx.target.pids)
        ctx.log(f"  {p}: {rep.ok}/{n} in {rep.seconds:.2f}s, server RSS {rss0 >> 20} -> {rss1 >> 20} MiB")
        for s in rep.error_samples:
            ctx.log(f"  {p}: {s}")
        per_conn = (rss1 - rss0) / rep.ok / 1024 if rep.ok and ctx.target.pids else float("nan")
        out += [
            Metric(f"{p}.conn_per_s", rep.ok / rep.seconds if rep.seconds else 0.0, "conn/s", "higher"),
            Metric(f"{p}.errors", float(rep.errors), "count", "lower"),
            Metric(f"{p}.server_rss_kib_per_conn", per_conn, "KiB", "lower"),
            Metric(f"{p}.server_rss_mib", rss1 / 2**20 if ctx.target.pids else float("nan"), "MiB", "lower"),
            *(Metric(f"{p}.{name}_rss_mib", tree_rss(pids) / 2**20, "MiB") for name, pids in ctx.target.parts.items()),
            Metric(f"{p}.server_cpu_us_per_conn", cpu.server * 1e6 / rep.ok if rep.ok else float("nan"), "us", "lower"),
            Metric(f"{p}.loadgen_cpu_pct", cpu.loadgen_pct, "%core"),
            Metric(f"{p}.other_cpu_pct", cpu.other_pct, "%core"),
        ]
        out += await _health(ctx, p)
    await ctx.fleet.close_all()
    return out


async def fanout(ctx: Context) -> list[Metric]:
    """One channel, many subscribers: fixed-rate latency, then closed-loop throughput and CPU."""
    cfg = ctx.cfg
    channel = f"bench-{ctx.run_id}-fanout"
    out = await _connect(ctx, "fanout", [channel] * cfg.subscribers)
    out += _rss_metrics(ctx, "fanout")
    publisher = ctx.publisher()
    pad = "x" * cfg.payload
    try:
        out += await rate_phase(
            "fanout.rate",
            ctx.fleet,
            publisher,
            ctx.meter(),
            lambda: channel,
            cfg.subscribers,
            cfg.rate,
            cfg.seconds,
            cfg.drain,
            pad,
        )
        out += await closed_phase(
            "fanout.closed",
            ctx.fleet,
            publisher,
            ctx.meter(),
            lambda: channel,
            cfg.subscribers,
            cfg.window,
            4,
            cfg.seconds,
            cfg.drain,
            pad,
        )
    finally:
        _log_publisher(ctx, "fanout", publisher)
        publisher.close()
    out += await _health(ctx, "fanout")
    await ctx.fleet.close_all()
    return out


async def many_channels(ctx: Context) -> list[Metric]:
    """Many small channels, random targets: fixed-rate latency, then closed-loop throughput."""
    cfg = ctx.cfg
    names = [f"bench-{ctx.run_id}-mc-{i}" for i in range(cfg.channels)]
    out = await _connect(ctx, "many_channels", [n for n in names for _ in range(cfg.per_channel)])
    publisher = ctx.publisher()
    pad = "x" * cfg.payload
    rng = random.Random(7)

    def pick() -> str:
        return rng.choice(names)

    try:
        out += await rate_phase(
            "many_channels.rate",
            ctx.fleet,
            publisher,
            ctx.meter(),
            pick,
            cfg.per_channel,
            cfg.mc_rate,
            cfg.seconds,
            cfg.drain,
            pad,
        )
        out += await closed_phase(
            "many_channels.closed",
            ctx.fleet,
            publisher,
            ctx.meter(),
            pick,
            cfg.per_channel,
            cfg.mc_window,
            cfg.http_pool,
            cfg.seconds,
            cfg.drain,
            pad,
        )
    finally:
        _log_publisher(ctx, "many_channels", publisher)
        publisher.close()
    out += await _health(ctx, "many_channels")
    await ctx.fleet.close_all()
    return out


def _log_publisher(ctx: Context, prefix: str, publisher: Publisher) -> None:
    for s in publisher.error_samples:
        ctx.log(f"  {prefix}: {s}")
    ctx.log(f"  {prefix}: {publisher.sent} publishes over {publisher.connects} HTTP connections")


class _Pair:
    """A pings B, B answers with a pong carrying A's timestamp; A times the round trip."""

    def __init__(self, a: PusherConn, b: PusherConn, channel: str, rtts: list[int], oneway: list[int]) -> None:
        self.a, self.b, self.channel = a, b, channel
        self.rtts, self.oneway = rtts, oneway
        self.waiter: asyncio.Future[None] | None = None
        a.handler = self._on_a
        b.handler = self._on_b

    def _frame(self, event: str, ts: int) -> bytes:
        return orjson.dumps({"event": event, "channel": self.channel, "data": {"bench_ts": ts}})

    def _on_b(self, conn: PusherConn, payload: bytes, ts: int, now: int) -> None:
        if b"client-ping" in payload:
            self.oneway.append(now - ts)
            conn.send_text(self._frame("client-pong", ts))

    def _on_a(self, conn: PusherConn, payload: bytes, ts: int, now: int) -> None:
        if b"client-pong" in payload:
            self.rtts.append(now - ts)
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)

    async def run(self, rate: float, stop_at: float) -> int:
        """Ping at ``rate``/s until ``stop_at``; return the number of unanswered pings."""
        lost = 0
        interval = 1.0 / rate
        nxt = time.monotonic() + random.random() * interval  # spread pairs over the interval
        while True:
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            if time.monotonic() >= stop_at:
                return lost
            nxt += interval
            self.waiter = asyncio.get_running_loop().create_future()
            self.a.send_text(self._frame("client-ping", time.monotonic_ns()))
            try:
                await asyncio.wait_for(self.waiter, 2.0)
            except TimeoutError:
                lost += 1


async def client_events(ctx: Context) -> list[Metric]:
    """Client-event round trips between socket pairs on private channels (auth signed here)."""
    cfg, t = ctx.cfg, ctx.target
    stats = Stats()
    conns: list[PusherConn] = []
    rtts: list[int] = []
    oneway: list[int] = []
    pairs: list[_Pair] = []

    ports = t.sub_ports()

    async def make_pair(i: int) -> None:
        channel = f"private-bench-{ctx.run_id}-ce-{i}"
        # on a cluster A and B sit on neighbouring nodes, so every ping crosses Redis
        a = await open_conn(t.host, ports[i % len(ports)], t.app_key, stats, cfg.connect_timeout, t.client_tls())
        conns.append(a)
        b = await open_conn(t.host, ports[(i + 1) % len(ports)], t.app_key, stats, cfg.connect_timeout, t.client_tls())
        conns.append(b)
        for c in (a, b):
            auth = channel_auth(t.app_key, t.app_secret, c.socket_id, channel)
            await asyncio.wait_for(c.subscribe(channel, auth), cfg.connect_timeout)
        pairs.append(_Pair(a, b, channel, rtts, oneway))

    try:
        await asyncio.gather(*(make_pair(i) for i in range(cfg.pairs)))
        meter = ctx.meter()
        meter.start()
        stop_at = time.monotonic() + cfg.seconds
        lost = sum(await asyncio.gather(*(p.run(cfg.ce_rate, stop_at) for p in pairs)))
        cpu = meter.stop()
    finally:
        for c in conns:
            c.abort()
    for s in stats.error_samples:
        ctx.log(f"  client_events: {s}")
    ctx.log(f"  client_events: {len(rtts)} round trips, {lost} unanswered")
    return [
        Metric("client_events.round_trips_per_s", len(rtts) / cpu.wall, "rt/s"),
        Metric("client_events.unanswered", float(lost), "count", "lower"),
        Metric("client_events.socket_errors", float(stats.errors), "count", "lower"),
        *latency_metrics("client_events.rtt", rtts),
        *latency_metrics("client_events.oneway", oneway),
        Metric("client_events.server_cpu_pct", cpu.server_pct, "%core"),
        Metric("client_events.loadgen_cpu_pct", cpu.loadgen_pct, "%core"),
        Metric("client_events.other_cpu_pct", cpu.other_pct, "%core"),
    ]


SCENARIO_FUNCS: dict[str, Callable[[Context], Awaitable[list[Metric]]]] = {
    "connections": connections,
    "fanout": fanout,
    "client_events": client_events,
    "many_channels": many_channels,
}
