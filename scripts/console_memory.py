"""What the debug console costs in server memory: the same load on a server with the console off, on but watched by
nobody, and watched by a console that never reads (the worst case: its queue fills to its bound).

    python scripts/console_memory.py [--rounds 2] [--scenarios fanout,client_events,many_channels] [bench flags]

Each round starts one ``pusherpy`` server per mode (in turn, so they never share the CPU), drives it with
``python -m bench --quick`` against ``127.0.0.1:PORT --pid PID``, samples the server's VmRSS every 0.1 s, and prints
the peak and final RSS per mode, plus what the console holds at the end (apps with a ring, entries held). The
watched server's console is a ``ConsoleHub.watch`` made in the server process, as the console page's log stream
makes one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("off", "unwatched", "watched")
APP = {"id": "app-id", "key": "app-key", "secret": "app-secret"}


async def serve(mode: str) -> None:
    """One server: prints ``port N``, then on SIGTERM prints ``held APPS ENTRIES dropped N`` and stops."""
    from aiohttp import web

    from pusherpy.protocol.apps import AppConfig
    from pusherpy.server.app import create_app
    from pusherpy.server.listener import PusherSite
    from pusherpy.server.settings import Settings
    from pusherpy.server.state import STATE

    app = AppConfig(**APP, enable_client_events=True, max_client_events_per_second=1000)
    settings = Settings(apps=(app,), uses_dev_app=False, console=mode != "off")
    application = create_app(settings)
    runner = web.AppRunner(application)
    await runner.setup()
    await PusherSite(runner, "127.0.0.1", 0).start()
    console = application[STATE].console
    watcher = console.watch(app.id) if mode == "watched" else None
    print(f"port {runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    apps, entries = console.held()
    print(f"held {apps} {entries} dropped {watcher.dropped if watcher else 0}", flush=True)
    await runner.cleanup()


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        from bench.procstat import rss_bytes

        self._rss = rss_bytes
        self.pid = pid
        self.peak = 0
        self.last = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.last = self._rss(self.pid) or self.last
            self.peak = max(self.peak, self.last)
            time.sleep(0.1)


def measure(mode: str, scenarios: str, extra: list[str]) -> tuple[float, float, str]:
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "serve", mode], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().split()[1])
    try:
        return _drive(server, port, scenarios, extra)
    finally:
        server.kill()
        server.wait(30)


def _drive(server: subprocess.Popen[str], port: int, scenarios: str, extra: list[str]) -> tuple[float, float, str]:
    assert server.stdout is not None
    sampler = RssSampler(server.pid)
    sampler.start()
    bench = [sys.executable, "-m", "bench", "--target", f"127.0.0.1:{port}", "--pid", str(server.pid)]
    bench += ["--app-id", APP["id"], "--app-key", APP["key"], "--app-secret", APP["secret"]]
    bench += ["--scenarios", scenarios, "--quick", *extra]
    subprocess.run(bench, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    time.sleep(1)
    sampler.done.set()
    sampler.join()
    server.send_signal(signal.SIGTERM)
    held = server.stdout.readline().strip()
    return sampler.peak / 2**20, sampler.last / 2**20, held


def main() -> None:
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(serve(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scenarios", default="fanout,client_events,many_channels")
    args, extra = parser.parse_known_args()
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    print(f"{'round':>5}  {'mode':<10} {'peak RSS MiB':>12} {'final RSS MiB':>13}  console")
    for round_number in range(1, args.rounds + 1):
        for mode in MODES:
            peak, final, held = measure(mode, args.scenarios, extra)
            print(f"{round_number:>5}  {mode:<10} {peak:>12.1f} {final:>13.1f}  {held}", flush=True)


if __name__ == "__main__":
    main()
