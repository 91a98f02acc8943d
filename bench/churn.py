"""Churn and soak: does a server give back what connections took?

``python -m bench.churn --connections 10000 --soak-seconds 600`` starts pusherpy on a free loopback port (or
targets a running server with ``--target http://KEY:SECRET@127.0.0.1:PORT/apps/ID?pid=PID``) and then:

1. churn: opens ``--connections`` sockets, ``--concurrency`` at a time; each joins a presence channel (users
   shared between sockets) and a public one, a third of them also a private one, and leaves one of three ways:
   a close frame, a TCP hang-up, or a reset. Every 10 % it prints the server's RSS, open fds, asyncio tasks,
   connections, channels and presence members; after a settle it reports KiB of RSS kept per 1,000 churned
   connections (from the start, and from the first 10 %, once allocator pools are warm).
2. soak: for ``--soak-seconds``, ``--soak-subscribers`` long-lived sockets receive ``--rate`` publishes/s while
   churn goes on at ``--churn-rate`` connections/s; memory is printed every ``--every`` seconds, and the RSS
   slope over the second half is reported.

RSS and fds come from /proc/PID (Linux), the rest from the server's ``/metrics`` (pusherpy's gauges
``pusherpy_resident_memory_bytes``, ``pusherpy_open_fds``, ``pusherpy_tasks``, ``pusherpy_connections``,
``pusherpy_channels``, ``pusherpy_presence_members``) and the signed HTTP API (``GET /channels``). Only
loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import struct
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.httpclient import Publisher
from bench.procstat import rss_bytes
from bench.servers import ExternalServer, PusherpyServer, Server, Target
from bench.signing import channel_auth, signed_query
from bench.target_url import from_url
from bench.wsclient import OP_CLOSE, PusherConn, Stats, open_conn

TIMEOUT = 10.0


@dataclass(slots=True)
class Sample:
    """The server's state at one moment."""

    elapsed: float
    cycles: int
    rss: int
    fds: int
    tasks: int
    connections: int
    channels: int
    members: int

    def line(self) -> str:
        return (
            f"{self.elapsed:7.1f}s {self.cycles:>8} cycles  rss {self.rss / 2**20:7.1f} MiB  fds {self.fds:>5}"
            f"  tasks {self.tasks:>4}  connections {self.connections:>5}  channels {self.channels:>4}"
            f"  presence members {self.members:>4}"
        )


def presence_auth(key: str, secret: str, socket_id: str, channel: str, channel_data: str) -> str:
    to_sign = f"{socket_id}:{channel}:{channel_data}".encode()
    return f"{key}:{hmac.new(secret.encode(), to_sign, hashlib.sha256).hexdigest()}"


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def scrape(target: Target) -> dict[str, float]:
    """``/metrics`` of the target's app (and the process gauges), by name without the ``pusherpy_`` prefix."""
    url = f"http://{target.host}:{target.port}/metrics"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - loopback only
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if "{" in name and f'app_id="{target.app_id}"' not in name:
            continue
        values[name.split("{")[0].removeprefix("pusherpy_")] = float(value)
    return values


def occupied_channels(target: Target) -> int:
    """How many channels the signed HTTP API lists as occupied."""
    path = f"/apps/{target.app_id}/channels"
    query = signed_query(target.app_key, target.app_secret, "GET", path, b"")
    url = f"http://{target.host}:{target.port}{path}?{query}"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - loopback only
        return len(json.loads(response.read())["channels"])


async def sample(target: Target, started: float, cycles: int) -> Sample:
    metrics = await asyncio.to_thread(scrape, target)
    pid = target.pids[0] if target.pids else 0
    rss = rss_bytes(pid) if pid else int(metrics.get("resident_memory_bytes", 0))
    fds = open_fds(pid) if pid else int(metrics.get("open_fds", -1))
    return Sample(
        time.monotonic() - started,
        cycles,
        rss,
        fds,
        int(metrics.get("tasks", -1)),
        int(metrics.get("connections", 0)),
        int(metrics.get("channels", 0)),
        int(metrics.get("presence_members", 0)),
    )


async def one_cycle(target: Target, stats: Stats, index: int) -> None:
    """Connect, join channels, leave one of three ways."""
    conn = await open_conn(target.host, target.port, target.app_key, stats, TIMEOUT)
    try:
        channel = f"presence-churn-{index % 50}"
        channel_data = orjson.dumps({"user_id": f"u{index % 500}", "user_info": {"n": index}}).decode()
        waits = [
            subscribe(
                conn,
                channel,
                presence_auth(target.app_key, target.app_secret, conn.socket_id, channel, channel_data),
                channel_data,
            )
        ]
        waits.append(conn.subscribe(f"churn-{index}"))
        if index % 3 == 0:
            private = f"private-churn-{index % 20}"
            waits.append(
                conn.subscribe(private, channel_auth(target.app_key, target.app_secret, conn.socket_id, private))
            )
        await asyncio.wait_for(asyncio.gather(*waits), TIMEOUT)
    finally:
        leave(conn, index % 3)


def subscribe(conn: PusherConn, channel: str, auth: str, channel_data: str) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    conn.subscriptions[channel] = future
    data = {"channel": channel, "auth": auth, "channel_data": channel_data}
    conn.send_text(orjson.dumps({"event": "pusher:subscribe", "data": data}))
    return future


def leave(conn: PusherConn, way: int) -> None:
    if conn.transport is None:
        return
    if way == 0:
        conn.send_frame(OP_CLOSE, struct.pack("!H", 1000))  # the server answers and ends TCP
    elif way == 1:
        conn.transport.close()
    else:
        conn.abort()


async def churn(
    target: Target, total: int, concurrency: int, started: float, report_every: int
) -> tuple[int, list[Sample]]:
    stats = Stats()
    limit = asyncio.Semaphore(concurrency)
    done = 0
    failures = 0
    samples: list[Sample] = []

    async def run(index: int) -> None:
        nonlocal done, failures
        try:
            await one_cycle(target, stats, index)
        except (ConnectionError, TimeoutError, OSError):
            failures += 1
        finally:
            done += 1
            limit.release()

    tasks = set()
    for index in range(total):
        await limit.acquire()  # at most `concurrency` cycles (and their tasks) alive; each releases when done
        task = asyncio.create_task(run(index))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if (index + 1) % report_every == 0:
            while done < index + 1 - concurrency:
                await asyncio.sleep(0.01)
            samples.append(await sample(target, started, index + 1))
            print(samples[-1].line(), flush=True)
    await asyncio.gather(*tasks)
    if failures:
        print(f"  {failures} cycles failed; first errors: {stats.error_samples}", flush=True)
    return failures, samples


async def settle(target: Target, started: float, cycles: int, baseline: Sample, timeout: float = 30.0) -> Sample:
    """Wait until no connection, channel or presence member is left and the fds are back to the baseline (or the
    timeout), then sample."""
    deadline = time.monotonic() + timeout
    while True:
        now = await sample(target, started, cycles)
        empty = now.connections == 0 and now.channels == 0 and now.members == 0 and now.fds <= baseline.fds
        if empty or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.2)


async def soak(target: Target, args: argparse.Namespace, started: float, cycles: int) -> tuple[int, list[Sample]]:
    """Steady publishes to long-lived subscribers while churn goes on; sample every ``--every`` seconds."""
    stats = Stats()
    subscribers = [
        await open_conn(target.host, target.port, target.app_key, stats, TIMEOUT) for _ in range(args.soak_subscribers)
    ]
    await asyncio.gather(*(conn.subscribe(f"soak-{i % 10}") for i, conn in enumerate(subscribers)))
    publisher = Publisher(target.host, target.port, target.app_id, target.app_key, target.app_secret, 4)
    end = time.monotonic() + args.soak_seconds
    samples: list[Sample] = []
    churned = 0
    churn_stats = Stats()

    async def publish() -> None:
        number = 0
        next_at = time.monotonic()
        while time.monotonic() < end:
            data = orjson.dumps({"n": number, "bench_ts": time.monotonic_ns(), "pad": "x" * 200}).decode()
            await publisher.publish([f"soak-{number % 10}"], "tick", data)
            number += 1
            next_at += 1 / args.rate  # on a schedule: a slow answer does not lower the rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def keep_churning() -> None:
        nonlocal churned
        running: set[asyncio.Task[None]] = set()
        next_at = time.monotonic()
        while time.monotonic() < end:
            task = asyncio.create_task(one_cycle(target, churn_stats, cycles + churned))
            running.add(task)
            task.add_done_callback(running.discard)
            churned += 1
            next_at += 1 / args.churn_rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*running, return_exceptions=True)

    async def watch() -> None:
        next_at = time.monotonic()
        while time.monotonic() < end:
            next_at += args.every
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            samples.append(await sample(target, started, cycles + churned))
            print(samples[-1].line() + f"  delivered {stats.delivered}", flush=True)

    await asyncio.gather(publish(), keep_churning(), watch())
    for conn in subscribers:
        conn.abort()
    publisher.close()
    expected = publisher.sent * args.soak_subscribers // 10
    print(
        f"  soak: {publisher.sent} publishes, {stats.delivered} of ~{expected} deliveries, {churned} churned, "
        f"{publisher.errors + churn_stats.errors} errors {publisher.error_samples + churn_stats.error_samples}",
        flush=True,
    )
    return churned, samples


def kib_per_1000(before: int, after: int, cycles: int) -> float:
    return (after - before) / 1024 / (cycles / 1000) if cycles else 0.0


async def run(args: argparse.Namespace, target: Target) -> None:
    started = time.monotonic()
    baseline = await sample(target, started, 0)
    print("baseline " + baseline.line(), flush=True)
    print(f"== churn: {args.connections} connections, {args.concurrency} at a time", flush=True)
    failures, samples = await churn(target, args.connections, args.concurrency, started, max(1, args.connections // 10))
    settled = await settle(target, started, args.connections, baseline)
    print("settled  " + settled.line(), flush=True)
    channels_listed = await asyncio.to_thread(occupied_channels, target)
    warm = samples[0] if samples else baseline
    kept = kib_per_1000(baseline.rss, settled.rss, args.connections)
    kept_warm = kib_per_1000(warm.rss, settled.rss, args.connections - warm.cycles)
    print(
        f"churn result: {args.connections} cycles, {failures} failed; left behind: {settled.connections} connections, "
        f"{settled.channels} channels ({channels_listed} listed by the API), {settled.members} presence members, "
        f"fds {settled.fds - baseline.fds:+d}, tasks {settled.tasks - baseline.tasks:+d}\n"
        f"  RSS kept per 1,000 churned connections: {kept:.1f} KiB from the start, "
        f"{kept_warm:.1f} KiB after the first {warm.cycles} (warm)",
        flush=True,
    )
    if args.soak_seconds > 0:
        print(
            f"== soak: {args.soak_seconds:g} s, {args.soak_subscribers} subscribers, {args.rate:g} publishes/s, "
            f"{args.churn_rate:g} churned connections/s",
            flush=True,
        )
        churned, soaked = await soak(target, args, started, args.connections)
        final = await settle(target, started, args.connections + churned, baseline)
        print("settled  " + final.line(), flush=True)
        half = soaked[len(soaked) // 2 :]
        if len(half) >= 2:
            slope = (half[-1].rss - half[0].rss) / 1024 / ((half[-1].elapsed - half[0].elapsed) / 60)
            print(
                f"soak result: RSS {soaked[0].rss / 2**20:.1f} -> {soaked[-1].rss / 2**20:.1f} MiB, "
                f"second-half slope {slope:+.1f} KiB/min; after settle {final.rss / 2**20:.1f} MiB",
                flush=True,
            )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.churn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000, help="connections to churn (default 10000)")
    parser.add_argument("--concurrency", type=int, default=200, help="cycles in flight (default 200)")
    parser.add_argument("--soak-seconds", type=float, default=0, help="soak duration; 0 skips the soak")
    parser.add_argument("--soak-subscribers", type=int, default=500, help="long-lived sockets in the soak")
    parser.add_argument("--rate", type=float, default=50, help="publishes per second in the soak")
    parser.add_argument("--churn-rate", type=float, default=50, help="churned connections per second in the soak")
    parser.add_argument("--every", type=float, default=10, help="seconds between soak samples")
    parser.add_argument("--target", help="a running server: http://KEY:SECRET@127.0.0.1:PORT/apps/ID?pid=PID")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs pusherpy")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server: Server
    if args.target:
        try:
            server = ExternalServer(from_url(args.target))
        except ValueError as exc:
            raise SystemExit(f"--target: {exc}") from None
    else:
        server = PusherpyServer(args.python, None, 20.0, Path(__file__).resolve().parent.parent)
    target = server.start()
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(run(args, target))
        else:
            uvloop.run(run(args, target))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
