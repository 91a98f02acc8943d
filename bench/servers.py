"""Start, find and stop the servers under test; every one ends up as a ``Target``.

Three kinds, one after the other under the same conditions:
- ``pusherpy``: spawned here (``python -m pusherpy serve``) on a free loopback port, optionally
  pinned with ``taskset``, stopped with SIGTERM then SIGKILL.
- ``soketi``: only through ``/work/shared/peers/soketi.sh start|stop`` (pinned via SOKETI_CPUS).
- an already-running server: ``http://KEY:SECRET@127.0.0.1:PORT/apps/ID?pid=PID`` or ``--target``
  plus credential flags. Nothing is started or stopped; CPU/RSS figures need its PID.
Only loopback addresses are accepted: the bench never sends traffic off the host.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SOKETI_SCRIPT = Path("/work/shared/peers/soketi.sh")
SOKETI_PID_FILE = Path(os.environ.get("PEER_DIR", "/tmp/soketi-peer")) / "soketi.pid"


@dataclass(slots=True)
class Target:
    """Where a server listens and how to sign for its app."""

    name: str
    host: str
    port: int
    app_id: str
    app_key: str
    app_secret: str
    pids: list[int] = field(default_factory=list)


def check_loopback(host: str) -> str:
    """Return ``host`` as an address if it is loopback, else raise ValueError."""
    addr = "127.0.0.1" if host == "localhost" else host
    if not ipaddress.ip_address(addr).is_loopback:
        raise ValueError(f"{host} is not a loopback address: the bench only talks to 127.0.0.1")
    return addr


def wait_for_port(host: str, port: int, deadline: float, proc: subprocess.Popen[bytes] | None) -> None:
    """Poll until the TCP port accepts a connection; raise if the process dies or time runs out."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before accepting connections")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{host}:{port} did not accept connections in time")


def free_port() -> int:
    """Return a currently unused loopback port (the server binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server under test: ``start()`` returns its Target, ``stop()`` undoes only what start did."""

    name = "server"

    def start(self) -> Target:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class PusherpyServer(Server):
    """pusherpy spawned as a child process with the bench's dev app."""

    name = "pusherpy"

    def __init__(self, python: str, cpus: str | None, startup_timeout: float, cwd: Path) -> None:
        self.python, self.cpus, self.timeout, self.cwd = python, cpus, startup_timeout, cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"pusherpy-bench-{os.getpid()}.log"

    def start(self) -> Target:
        port = free_port()
        cmd = [
            self.python,
            "-m",
            "pusherpy",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--app-id",
            "1",
            "--app-key",
            "bench-key",
            "--app-secret",
            "bench-secret",
        ]
        if self.cpus:
            cmd = ["taskset", "-c", self.cpus, *cmd]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            wait_for_port("127.0.0.1", port, time.monotonic() + self.timeout, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            tail = self.log.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"pusherpy did not start: {exc}\n{tail}") from exc
        return Target("pusherpy", "127.0.0.1", port, "1", "bench-key", "bench-secret", [self.proc.pid])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only its tree
            proc.wait(timeout=5)


class SoketiServer(Server):
    """The soketi peer, run only through its shared script."""

    name = "soketi"

    def __init__(self, cpus: str | None) -> None:
        self.cpus = cpus
        self.started = False

    def _script(self, action: str, timeout: float) -> str:
        env = dict(os.environ)
        if self.cpus:
            env["SOKETI_CPUS"] = self.cpus
        res = subprocess.run(
            ["bash", str(SOKETI_SCRIPT), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if res.returncode != 0:
            raise RuntimeError(f"soketi.sh {action} failed:\n{res.stdout}{res.stderr}")
        return res.stdout

    def start(self) -> Target:
        if not (SOKETI_PID_FILE.parent / "node_modules" / "@soketi").exists():
            print("installing soketi (once, ~20 s) ...", file=sys.stderr)
            self._script("install", 300)
        out = self._script("start", 60)
        if "already running" in out:
            print("note: soketi was already running; its pinning is whatever it was started with", file=sys.stderr)
        self.started = "already running" not in out
        wait_for_port("127.0.0.1", 6001, time.monotonic() + 20, None)
        pid = int(SOKETI_PID_FILE.read_text().strip())
        return Target("soketi", "127.0.0.1", 6001, "app-id", "app-key", "app-secret", [pid])

    def stop(self) -> None:
        if self.started:
            self.started = False
            self._script("stop", 60)


class ExternalServer(Server):
    """A server someone else runs; the bench neither starts nor stops it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.name = target.name

    def start(self) -> Target:
        wait_for_port(self.target.host, self.target.port, time.monotonic() + 5, None)
        return self.target

    def stop(self) -> None:
        pass


def from_url(url: str) -> Target:
    """Parse ``http://KEY:SECRET@HOST:PORT/apps/ID[?pid=PID&name=NAME]`` (pusher-http-python style)."""
    parts = urlsplit(url)
    segs = [s for s in parts.path.split("/") if s]
    if parts.username is None or parts.password is None or len(segs) != 2 or segs[0] != "apps":
        raise ValueError(f"expected http://KEY:SECRET@HOST:PORT/apps/ID, got {url!r}")
    query = parse_qs(parts.query)
    host = check_loopback(parts.hostname or "127.0.0.1")
    pids = [int(p) for p in query.get("pid", [])]
    name = query.get("name", [f"{host}:{parts.port}"])[0]
    return Target(name, host, parts.port or 80, segs[1], parts.username, parts.password, pids)
