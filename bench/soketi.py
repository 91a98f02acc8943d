"""Find a soketi to benchmark against, and start and stop it like any other server under test.

Where ``--vs soketi`` (or ``--target soketi``) comes from, first match wins:
1. ``--soketi-cmd CMD``: a command the user chose (``npx @soketi/soketi start``, a checkout's ``bin/server.js``,
   ``docker run --network host ...``). We start it with soketi's own ``SOKETI_*`` variables.
2. The project's shared peer script (``../shared/peers/soketi.sh`` beside the repository, or ``BENCH_SOKETI_SCRIPT``;
   an empty ``BENCH_SOKETI_SCRIPT`` turns it off). It exists only in the project's own runs.
3. The pinned soketi installed once from the npm registry under the cache directory (``soketi_install.py``).
``--vs-url URL`` (an already running server, started and stopped by nobody here) is handled by the command line,
before any of this.

Whatever we start listens on free loopback ports only, WebSocket/HTTP and metrics alike, and its cluster
discovery stays on loopback: soketi always starts node-discover, which otherwise binds 0.0.0.0:11002 and
broadcasts a UDP hello to 255.255.255.255 every 500 ms. The variables send the hellos to 127.0.0.1 only, on a free
port; the cached install also binds the discovery socket to 127.0.0.1 (a ``--config`` file: no variable reaches
that setting), which a ``--soketi-cmd`` can do the same way.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.servers import Server, SetupError, Target, free_port, wait_for_port
from bench.soketi_install import INSTEAD, SoketiInstall, cache_root

SCRIPT_ENV = "BENCH_SOKETI_SCRIPT"
DEFAULT_SCRIPT = Path(__file__).resolve().parent.parent.parent / "shared" / "peers" / "soketi.sh"
APP_ID, APP_KEY, APP_SECRET = "app-id", "app-key", "app-secret"
STOP_GRACE = 20.0  # soketi drains for ~3 s after SIGTERM
FALLBACK_WARNING = "Falling back to a NodeJS implementation"
"""What uWebSockets.js's loader prints (before soketi listens) when its native build does not load."""


@dataclass(frozen=True, slots=True)
class SoketiPorts:
    """The loopback ports one soketi uses: Pusher WebSocket + HTTP API, metrics/health, UDP cluster discovery."""

    ws: int
    metrics: int
    cluster: int

    @classmethod
    def free(cls) -> SoketiPorts:
        return cls(free_port(), free_port(), _free_udp_port())


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def soketi_env(base: Mapping[str, str], ports: SoketiPorts) -> dict[str, str]:
    """Return ``base`` plus the ``SOKETI_*`` variables soketi 1.x reads for one app on loopback.

    Client events and user authentication are on, as the bench's ``client_events`` scenario needs; debug logging
    is off (it would cost soketi CPU per message). ``UWS_USE_FALLBACK`` is dropped so uWebSockets.js runs natively.
    """
    env = {k: v for k, v in base.items() if k != "UWS_USE_FALLBACK"}
    env.update(
        SOKETI_HOST="127.0.0.1",
        SOKETI_PORT=str(ports.ws),
        SOKETI_METRICS_HOST="127.0.0.1",
        SOKETI_METRICS_SERVER_PORT=str(ports.metrics),
        SOKETI_DEFAULT_APP_ID=APP_ID,
        SOKETI_DEFAULT_APP_KEY=APP_KEY,
        SOKETI_DEFAULT_APP_SECRET=APP_SECRET,
        SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES="true",
        SOKETI_DEFAULT_APP_USER_AUTHENTICATION="true",
        SOKETI_CLUSTER_HOST="127.0.0.1",
        SOKETI_CLUSTER_PORT=str(ports.cluster),
        SOKETI_CLUSTER_UNICAST_ADDRESSES=f"127.0.0.1:{ports.cluster}",
        SOKETI_DEBUG="false",
    )
    return env


class SoketiProcess(Server):
    """A soketi this run starts from ``argv`` in its own session on free loopback ports, and stops afterwards."""

    name = "soketi"

    def __init__(self, argv: list[str], cwd: Path | None, cpus: str | None, startup_timeout: float) -> None:
        self.argv, self.cwd, self.cpus, self.timeout = argv, cwd, cpus, startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"pusherpy-bench-{os.getpid()}-soketi.log"

    def start(self) -> Target:
        ports = SoketiPorts.free()
        argv = ["taskset", "-c", self.cpus, *self.argv] if self.cpus else self.argv
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                env=soketi_env(os.environ, ports),
                cwd=self.cwd,  # soketi reads a .env from its working directory: never the user's project one
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            wait_for_port("127.0.0.1", ports.ws, time.monotonic() + self.timeout, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            tail = self.log.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"soketi ({shlex.join(self.argv)}) did not start: {exc}\n{tail}") from exc
        if FALLBACK_WARNING in self.log.read_text(errors="replace"):
            self.stop()
            raise RuntimeError(
                "soketi runs uWebSockets.js's JavaScript fallback, not the native build soketi is deployed with "
                f"(its Node has none; see {self.log}): run it on Node 16, 18 or 20"
            )
        return Target(self.name, "127.0.0.1", ports.ws, APP_ID, APP_KEY, APP_SECRET, [self.proc.pid])

    def stop(self) -> None:
        """SIGTERM the whole session (a wrapper such as npx passes nothing on), SIGKILL it after the grace time."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


class SoketiCommand(SoketiProcess):
    """``--soketi-cmd``: the user's own soketi command."""

    def __init__(self, command: str, cpus: str | None, startup_timeout: float) -> None:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise SetupError(f"--soketi-cmd {command!r}: {exc}") from None
        if not argv:
            raise SetupError("--soketi-cmd is empty")
        super().__init__(argv, None, cpus, startup_timeout)

    def prepare(self) -> None:
        if shutil.which(self.argv[0]) is None:
            raise SetupError(f"--soketi-cmd: {self.argv[0]!r} is not an executable file nor on PATH")


class CachedSoketi(SoketiProcess):
    """The pinned soketi from the npm registry, installed under the cache directory on first use."""

    def __init__(self, install: SoketiInstall, cpus: str | None, startup_timeout: float) -> None:
        self.install = install
        self.config = Path(tempfile.gettempdir()) / f"pusherpy-bench-{os.getpid()}-soketi.json"
        argv = [str(install.executable), "start", f"--config={self.config}"]
        super().__init__(argv, install.directory, cpus, startup_timeout)

    def prepare(self) -> None:
        """Install if need be, and write the one setting no ``SOKETI_*`` variable reaches: node-discover's bind
        address (``cluster.address``, else 0.0.0.0), so the discovery socket itself is on loopback too."""
        self.install.ensure()
        self.config.write_text(json.dumps({"cluster.address": "127.0.0.1"}) + "\n")


class SharedScriptSoketi(Server):
    """The project's shared peer script (``soketi.sh install|start|stop``): 127.0.0.1:$SOKETI_PORT (6001)."""

    name = "soketi"

    def __init__(self, script: Path, cpus: str | None, environ: Mapping[str, str]) -> None:
        self.script, self.cpus = script, cpus
        self.peer_dir = Path(environ.get("PEER_DIR", "/tmp/soketi-peer"))
        self.port = int(environ.get("SOKETI_PORT", "6001"))
        self.started = False

    def _run(self, action: str, timeout: float) -> str:
        env = dict(os.environ)
        if self.cpus:
            env["SOKETI_CPUS"] = self.cpus
        res = subprocess.run(
            ["bash", str(self.script), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"{self.script.name} {action} failed:\n{res.stdout}{res.stderr}")
        return res.stdout

    def prepare(self) -> None:
        if not (self.peer_dir / "node_modules" / "@soketi").exists():
            print(f"installing soketi with {self.script} (once, ~20 s) ...", file=sys.stderr)
            try:
                self._run("install", 300)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                raise SetupError(f"{str(exc).splitlines()[0]} ({SCRIPT_ENV}= skips the script); {INSTEAD}") from None

    def start(self) -> Target:
        out = self._run("start", 60)
        if "already running" in out:
            print("note: soketi was already running; its pinning is whatever it was started with", file=sys.stderr)
        self.started = "already running" not in out
        wait_for_port("127.0.0.1", self.port, time.monotonic() + 20, None)
        pid = int((self.peer_dir / "soketi.pid").read_text().strip())
        return Target("soketi", "127.0.0.1", self.port, APP_ID, APP_KEY, APP_SECRET, [pid])

    def stop(self) -> None:
        if self.started:
            self.started = False
            self._run("stop", 60)


def shared_script(environ: Mapping[str, str]) -> Path | None:
    """Return the shared peer script to use, or None: ``BENCH_SOKETI_SCRIPT`` if set (empty: none), else the
    project's own ``../shared/peers/soketi.sh`` when it exists."""
    chosen = environ.get(SCRIPT_ENV)
    if chosen is None:
        return DEFAULT_SCRIPT if DEFAULT_SCRIPT.is_file() else None
    if not chosen:
        return None
    if not Path(chosen).is_file():
        raise SetupError(f"{SCRIPT_ENV}={chosen}: no such file (set it empty to skip the shared script)")
    return Path(chosen)


def resolve_soketi(command: str | None, cpus: str | None, startup_timeout: float, environ: Mapping[str, str]) -> Server:
    """Pick where soketi comes from: ``--soketi-cmd``, else the shared script, else the cached npm install."""
    if command is not None:
        return SoketiCommand(command, cpus, startup_timeout)
    script = shared_script(environ)
    if script is not None:
        return SharedScriptSoketi(script, cpus, environ)
    return CachedSoketi(SoketiInstall(cache_root(environ)), cpus, startup_timeout)
