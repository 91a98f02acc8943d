"""``python -m bench``: benchmark one Pusher-protocol server, or two side by side.

Servers run one after the other under the same conditions (same pinning, same scenarios, same
load generator). The run is bounded: every scenario has a timeout and the whole run a hard
deadline, after which every server this run started is stopped and the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from bench.choose import CLUSTER, REDIS_CLUSTER, make_servers
from bench.config import SCENARIOS, BenchConfig
from bench.fleet import make_fleet
from bench.metrics import Metric
from bench.procstat import affinity, host_busy_seconds
from bench.report import ServerResult, table, write_json
from bench.scenarios import SCENARIO_FUNCS, Context
from bench.servers import Server

EPILOG = """\
servers:
  pusherpy                      start `python -m pusherpy serve` on a free port (the default target)
  soketi                        start soketi on free loopback ports: with --soketi-cmd CMD if given, else
                                the project's ../shared/peers/soketi.sh if present (BENCH_SOKETI_SCRIPT= skips
                                it), else soketi 1.6.1 installed once from the npm registry (needs node + npm)
                                into $BENCH_CACHE_DIR or $XDG_CACHE_HOME/pusherpy-bench or ~/.cache/pusherpy-bench
  pusherpy-tls                  the same serving wss:// and https:// (--tls-cert/--tls-key), with a
                                certificate for 127.0.0.1 made for the run with openssl; clients trust it
  pusherpy-redis[:N]            a private redis-server + N pusherpy nodes on it (default 2); subscribers
                                round-robin over the nodes, HTTP publishes to the first node; not pinned
                                unless --server-cpus is given (then every server of the run is)
  pusherpy-redis-cluster[:N]    the same on a private 3-primary Redis Cluster (sharded pub/sub)
  http://KEY:SECRET@127.0.0.1:PORT/apps/ID?pid=PID
                                an already-running server (pid= enables CPU/RSS figures)
  127.0.0.1:PORT                with --app-id/--app-key/--app-secret/--pid (only for --target)

examples:
  python -m bench --quick                          pusherpy alone, every scenario, ~1 min
  python -m bench --vs soketi --quick              pusherpy, then soketi; table with ratios
  python -m bench --soketi-cmd "npx @soketi/soketi start" --quick     the same with your own soketi
  python -m bench --vs-url "http://app-key:app-secret@127.0.0.1:6001/apps/app-id?pid=$PID&name=soketi"
                                                   against a server you already run (pid= for CPU/RSS)
  python -m bench --target soketi --scenarios fanout --subscribers 2000
  python -m bench --target pusherpy-redis:2 --vs pusherpy --scenarios fanout   2 nodes vs 1
  python -m bench --target pusherpy-tls --vs pusherpy --quick         TLS vs plain, same run
  python -m bench --target 127.0.0.1:6001 --app-id app-id --app-key app-key \\
      --app-secret app-secret --pid $PID --json out.json

Latency is publish (scheduled send time) to receipt, on one host-wide monotonic clock. CPU figures
are utime+stime from /proc of the server's whole process tree and of the load generator itself.
"""


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (kept separate so --help stays testable)."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark Pusher-protocol (v7) WebSocket servers on 127.0.0.1.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("servers")
    g.add_argument("--target", default="pusherpy", help="server to measure first (default: pusherpy)")
    g.add_argument("--vs", help="peer server to measure second, same conditions; the table shows target/peer")
    g.add_argument(
        "--soketi-cmd",
        metavar="CMD",
        help="command that starts soketi (implies --vs soketi); it gets SOKETI_HOST, SOKETI_PORT, SOKETI_DEFAULT_APP_* "
        "etc. in its environment",
    )
    g.add_argument(
        "--vs-url",
        metavar="URL",
        help="compare with a server already running at http://KEY:SECRET@127.0.0.1:PORT/apps/ID[?pid=PID&name=NAME]; "
        "nothing is started or stopped",
    )
    g.add_argument("--app-id", help="app id for --target HOST:PORT")
    g.add_argument("--app-key", help="app key for --target HOST:PORT")
    g.add_argument("--app-secret", help="app secret for --target HOST:PORT")
    g.add_argument(
        "--pid",
        type=int,
        action="append",
        default=[],
        help="server PID for --target HOST:PORT (repeatable; CPU and RSS are read from /proc)",
    )
    g.add_argument("--python", default=sys.executable, help="interpreter that runs pusherpy")
    g.add_argument("--startup-timeout", type=float, default=30.0, help="seconds to wait for a server port")
    g.add_argument(
        "--server-cpus", default=None, help="taskset CPU list for servers we start (default: 0 when there are 2+ CPUs)"
    )
    g.add_argument("--loadgen-cpus", default=None, help="CPU list for the load generator (default: the rest)")
    g.add_argument("--no-pin", action="store_true", help="pin nothing")

    s = p.add_argument_group("scenarios")
    s.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma list out of {','.join(SCENARIOS)} (default: all)"
    )
    s.add_argument("--quick", action="store_true", help="small, short settings (whole 2-server run < 3 min)")
    s.add_argument("--connections", type=_ints, help="connection counts per step (default 1000,5000,10000)")
    s.add_argument("--subscribers", type=int, help="fan-out subscribers on one channel (default 1000)")
    s.add_argument("--rate", type=float, help="fan-out publishes/s in the fixed-rate phase (default 20)")
    s.add_argument("--window", type=int, help="fan-out closed loop: publishes in flight (default 16)")
    s.add_argument("--pairs", type=int, help="client-event socket pairs (default 20)")
    s.add_argument("--ce-rate", type=float, help="client-event pings/s per pair (default 8, Pusher caps 10)")
    s.add_argument("--channels", type=int, help="many-channels: channel count (default 1000)")
    s.add_argument("--per-channel", type=int, help="many-channels: subscribers per channel (default 3)")
    s.add_argument("--mc-rate", type=float, help="many-channels publishes/s in the fixed-rate phase (1000)")
    s.add_argument("--mc-window", type=int, help="many-channels closed loop: publishes in flight (600)")
    s.add_argument("--seconds", type=float, help="length of each measured phase (default 10, quick 4)")
    s.add_argument("--payload", type=int, help="padding bytes per event (default 100)")
    s.add_argument("--workers", type=int, default=1, help="receiver processes (default 1: in-process)")
    s.add_argument("--connect-concurrency", type=int, help="handshakes in flight (default 200)")

    o = p.add_argument_group("output")
    o.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    o.add_argument(
        "--max-seconds",
        type=float,
        default=1200.0,
        help="hard deadline for the whole run; servers are stopped when it hits (default 1200)",
    )
    return p


def build_config(args: argparse.Namespace) -> BenchConfig:
    """Start from the full or quick defaults and apply every flag that was given."""
    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    overrides: dict[str, Any] = {
        "conn_counts": args.connections,
        "subscribers": args.subscribers,
        "rate": args.rate,
        "window": args.window,
        "pairs": args.pairs,
        "ce_rate": args.ce_rate,
        "channels": args.channels,
        "per_channel": args.per_channel,
        "mc_rate": args.mc_rate,
        "mc_window": args.mc_window,
        "seconds": args.seconds,
        "payload": args.payload,
        "connect_concurrency": args.connect_concurrency,
    }
    for name, value in overrides.items():
        if value is not None:
            setattr(cfg, name, value)
    cfg.workers = max(1, args.workers)
    return cfg


def pinning(args: argparse.Namespace) -> tuple[str | None, set[int] | None]:
    """Return (server CPU list for taskset, load-generator CPU set) per the flags and the host.

    A cluster in the run turns the default pinning off for every server and the load generator:
    squeezing N nodes and Redis onto one core would measure the core, not scale-out, and the single
    server it is compared with must run under the same conditions. Explicit CPU flags still win.
    """
    if args.no_pin:
        return None, None
    cluster = any(s and s.split(":", 1)[0] in (CLUSTER, REDIS_CLUSTER) for s in (args.target, args.vs))
    if cluster and args.server_cpus is None and not args.loadgen_cpus:
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    server = args.server_cpus
    if server is None and len(cpus) >= 2:
        server = str(cpus[0])
    if args.loadgen_cpus:
        return server, set(_ints(args.loadgen_cpus))
    if server is None:
        return None, None
    taken = {int(c) for part in server.split(",") for c in _expand(part)}
    rest = set(cpus) - taken
    return server, rest or None


def _expand(part: str) -> list[int]:
    lo, _, hi = part.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def bench_server(
    server: Server, result: ServerResult, cfg: BenchConfig, names: list[str], log: Callable[[str], None]
) -> None:
    """Start one server, run the chosen scenarios against it, stop it."""
    log(f"starting {server.name}")
    target = server.start()
    try:
        result.name = target.name
        result.info = {
            "host": target.host,
            "port": target.port,
            "app_id": target.app_id,
            "pids": target.pids,
            "cpus": [affinity(p) for p in target.pids],
            "ws_ports": target.sub_ports(),
            "parts": target.parts,
            "tls": target.ca_file is not None,
        }
        over = "over TLS " if target.ca_file else ""
        log(f"{target.name} on {target.host}:{target.port} {over}pids={target.pids} cpus={result.info['cpus']}")
        if len(target.sub_ports()) > 1:
            log(
                f"  subscribers round-robin over ports {target.sub_ports()}; HTTP publishes all go to the "
                f"first node (port {target.port}); server CPU/RSS = sum over {', '.join(target.parts)}"
            )
        if not target.pids:
            log("  no server PID: CPU and RSS figures will be missing")
        fleet = make_fleet(target, cfg.connect_timeout, cfg.connect_concurrency, cfg.workers)
        run_id = uuid.uuid4().hex[:6]
        ctx = Context(target, fleet, cfg, run_id, log)
        try:
            for name in names:
                log(f"{target.name}: {name}")
                try:
                    metrics = await asyncio.wait_for(SCENARIO_FUNCS[name](ctx), cfg.scenario_timeout)
                    result.metrics += metrics
                except Exception as exc:  # one failed scenario must not sink the others
                    why = "timed out" if isinstance(exc, TimeoutError) else repr(exc)
                    log(f"  {name} FAILED: {why}")
                    result.failures.append(f"{name}: {why}")
                    result.metrics.append(Metric(f"{name}.failed", 1.0, "flag", "lower"))
                    await fleet.close_all()
        finally:
            await fleet.shutdown()
    finally:
        log(f"stopping {server.name}")
        server.stop()


async def bench_all(
    servers: list[Server], cfg: BenchConfig, names: list[str], max_seconds: float
) -> tuple[list[ServerResult], int]:
    """Benchmark each server in turn within one overall deadline; SIGINT/SIGTERM cancel cleanly."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, me.cancel)
    results: list[ServerResult] = []
    status = 0
    h0, t0 = host_busy_seconds(), time.monotonic()
    await asyncio.sleep(1.0)
    busy = 100 * (host_busy_seconds() - h0) / (time.monotonic() - t0)
    _log(f"host CPU busy before start: {busy:.0f}% of one core" + (" (not quiet!)" if busy > 20 else ""))
    try:
        async with asyncio.timeout(max_seconds):
            for server in servers:
                try:
                    # appended first, so a run cut short still reports what it measured
                    results.append(ServerResult(server.name))
                    await bench_server(server, results[-1], cfg, names, _log)
                except (RuntimeError, TimeoutError, OSError) as exc:
                    _log(f"{server.name} could not be benchmarked: {exc}")
                    results[-1].failures.append(f"start: {exc}")
                    status = 1
    except TimeoutError:
        _log(f"stopped early: the --max-seconds deadline ({max_seconds:.0f}s) hit")
        status = 2
    except asyncio.CancelledError:
        _log("stopped early: interrupted")
        status = 2
    return results, status


def _backstop(servers: list[Server]) -> Callable[[int, FrameType | None], None]:
    """Return a SIGALRM handler for when the loop itself is stuck: stop servers, exit hard."""

    def handler(signum: int, frame: FrameType | None) -> None:
        _log("hard deadline: stopping servers and exiting")
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()
        os._exit(3)

    return handler


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run every server in turn, print the table; return the exit status."""
    args = build_parser().parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose from {','.join(SCENARIOS)}")
    cfg = build_config(args)
    server_cpus, loadgen_cpus = pinning(args)
    _raise_fd_limit()
    if loadgen_cpus:
        os.sched_setaffinity(0, loadgen_cpus)
    servers = make_servers(args, server_cpus)
    setup = {
        "cpus": os.cpu_count(),
        "server_cpus": server_cpus,
        "loadgen_cpus": affinity(0),
        "scenarios": names,
        "quick": args.quick,
        "config": {k: getattr(cfg, k) for k in cfg.__slots__},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _log(f"server cpus={server_cpus} loadgen cpus={affinity(0)} workers={cfg.workers}")

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        _log("uvloop not installed: the load generator will be slower")
    # the soft deadline cancels the run; this alarm only fires if cancelling did not work
    signal.signal(signal.SIGALRM, _backstop(servers))
    signal.alarm(int(args.max_seconds) + 90)
    try:
        results, status = asyncio.run(bench_all(servers, cfg, names, args.max_seconds))
    finally:
        for server in servers:  # idempotent: only what is still running is stopped
            try:
                server.stop()
            except Exception as exc:  # one failing stop must not keep the others running
                _log(f"stopping {server.name}: {exc!r}")
        signal.alarm(0)
    _print(results)
    if args.json:
        write_json(args.json, results, setup)
        _log(f"wrote {args.json}")
    if any(r.failures for r in results):
        status = status or 1
    return status


def _print(results: list[ServerResult]) -> None:
    if not results:
        return
    print()
    print(table(results))
    for r in results:
        for f in r.failures:
            print(f"! {r.name}: {f}")
    gen = [m.value for r in results for m in r.metrics if m.key.endswith("loadgen_cpu_pct")]
    srv = [m.value for r in results for m in r.metrics if m.key.endswith("server_cpu_pct")]
    if not gen:
        return
    cores = len(os.sched_getaffinity(0))
    print(
        f"\nload generator CPU: max {max(gen):.0f}% of one core ({cores} core(s) available to it); "
        f"server max {max(srv or [0.0]):.0f}%"
    )
    other = [m.value for r in results for m in r.metrics if m.key.endswith("other_cpu_pct")]
    if other and max(other) > 25:
        print(
            f"WARNING: other programs used up to {max(other):.0f}% of a core during measured phases; "
            "figures from those phases are disturbed (see *.other_cpu_pct); rerun on a quiet host"
        )
    if max(gen) > 80 * cores:
        print(
            "WARNING: the load generator neared saturation: closed-loop figures where its CPU is high "
            "may be limited by it, not by the server (more cores + --workers would help)"
        )
