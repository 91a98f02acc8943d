"""Start, find and stop the servers under test; every one ends up as a ``Target``.

Four kinds, one after the other under the same conditions:
- ``pusherpy``: spawned here (``python -m pusherpy serve``) on a free loopback port, optionally
  pinned with ``taskset``, stopped with SIGTERM then SIGKILL.
- ``pusherpy-redis:N``: a private ``redis-server`` on a free loopback port plus N pusherpy nodes
  sharing it (scale-out); subscribers are spread over the nodes, publishes go to the first one.
- ``soketi``: see ``soketi.py`` (the user's command, the project's shared script, or a cached npm install).
- an already-running server: ``http://KEY:SECRET@127.0.0.1:PORT/apps/ID?pid=PID`` or ``--target``
  plus credential flags. Nothing is started or stopped; CPU/RSS figures need its PID.
Only loopback addresses are accepted: the bench never sends traffic off the host.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REDIS_SERVER = Path("/usr/bin/redis-server")


@dataclass(slots=True)
class Target:
    """Where a server listens and how to sign for its app."""

    name: str
    host: str
    port: int
    app_id: str
    app_key: str
    app_secret: str = field(repr=False)
    pids: list[int] = field(default_factory=list)
    #: every port subscribers may use (a cluster's nodes); empty means just ``port``
    ws_ports: list[int] = field(default_factory=list)
    #: named PID groups inside ``pids`` (``node1``, ``redis``) for per-part CPU and RSS figures
    parts: dict[str, list[int]] = field(default_factory=dict)
    #: the certificate to trust when the server speaks TLS (wss://, https://); None: plain ws:// and http://
    ca_file: str | None = None

    def client_tls(self) -> ssl.SSLContext | None:
        """The TLS context of every connection to the server, or None for plain ones."""
        return None if self.ca_file is None else _client_context(self.ca_file)

    def sub_ports(self) -> list[int]:
        """Ports subscribers connect to, round-robin; HTTP publishes always go to ``port``."""
        return self.ws_ports or [self.port]


@functools.cache
def _client_context(ca_file: str) -> ssl.SSLContext:
    """One context per CA file, shared by every connection (a context per socket would reload the file)."""
    return ssl.create_default_context(cafile=ca_file)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with ``openssl`` for one run (clients trust it directly)."""
    cert, key = directory / "bench-cert.pem", directory / "bench-key.pem"
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1",
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SetupError(f"pusherpy-tls needs the openssl command to make its certificate: {exc}") from None
    return cert, key


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


class SetupError(Exception):
    """A server cannot be made ready to run; the message is one line that says what to do instead."""


class Server:
    """A server under test: ``prepare()`` once before any measuring (installs), ``start()`` returns its Target,
    ``stop()`` undoes only what start did."""

    name = "server"

    def prepare(self) -> None:
        """Do slow one-time setup before any server is measured; raise SetupError when it cannot be done."""

    def start(self) -> Target:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


def _stop_proc(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, then after ``grace`` seconds SIGKILL of the process's own group (its session)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    _reap(proc, grace)


def _reap(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Wait ``grace`` seconds for an already signalled process, then SIGKILL its own group."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # started with start_new_session: only its tree
        proc.wait(timeout=5)


class PusherpyServer(Server):
    """pusherpy spawned as a child process with the bench's dev app (optionally one node of a cluster)."""

    name = "pusherpy"

    def __init__(
        self,
        python: str,
        cpus: str | None,
        startup_timeout: float,
        cwd: Path,
        redis_url: str | None = None,
        label: str = "",
        redis_cluster: bool = False,
        tls: bool = False,
    ) -> None:
        self.python, self.cpus, self.timeout, self.cwd = python, cpus, startup_timeout, cwd
        self.redis_url = redis_url
        self.redis_cluster = redis_cluster
        self.tls = tls
        self._tls_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"pusherpy-bench-{os.getpid()}{label}.log"
        if tls:
            self.name = "pusherpy-tls"

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
        if self.redis_url:
            cmd += ["--redis-url", self.redis_url]
        if self.redis_cluster:
            cmd += ["--redis-cluster"]
        cert = None
        if self.tls:
            self._tls_dir = Path(tempfile.mkdtemp(prefix="pusherpy-bench-tls-"))
            cert, key = self_signed_certificate(self._tls_dir)
            cmd += ["--tls-cert", str(cert), "--tls-key", str(key)]
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
        target = Target(self.name, "127.0.0.1", port, "1", "bench-key", "bench-secret", [self.proc.pid])
        target.ca_file = None if cert is None else str(cert)
        return target

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _stop_proc(proc, 10)
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None


def wait_healthy(port: int, deadline: float) -> None:
    """Poll ``GET /up`` until it answers 200: a cluster node says 503 until it reaches Redis."""
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/up", timeout=1.0) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise TimeoutError(f"127.0.0.1:{port}/up not healthy in time ({last})")


class PusherpyCluster(Server):
    """A private redis-server (``shards`` > 0: a Redis Cluster of that many primaries) plus ``nodes`` pusherpy
    processes sharing it (docs/scale-out.md).

    Why a private Redis: the system one on 6379 may hold someone's data, and a fresh one without
    persistence measures only what scale-out costs. Every process runs in its own session, so
    stopping kills nothing but what this class started. CPU and RSS figures cover every node and
    Redis (``Target.pids``), and each one alone (``Target.parts``).
    """

    def __init__(
        self, nodes: int, python: str, cpus: str | None, startup_timeout: float, cwd: Path, shards: int = 0
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.nodes, self.python, self.cpus, self.timeout, self.cwd = nodes, python, cpus, startup_timeout, cwd
        self.shards = shards
        self.name = f"pusherpy-redis-cluster:{nodes}" if shards else f"pusherpy-redis:{nodes}"
        self.redis: subprocess.Popen[bytes] | None = None
        self.shard_procs: list[subprocess.Popen[bytes]] = []
        self.workdir: str | None = None
        self.members: list[PusherpyServer] = []
        self.log = Path(tempfile.gettempdir()) / f"pusherpy-bench-{os.getpid()}-redis.log"

    def _start_redis(self) -> int:
        if not REDIS_SERVER.exists():
            raise RuntimeError(f"{REDIS_SERVER} not found (apt-get install redis-server)")
        self.workdir = tempfile.mkdtemp(prefix="pusherpy-bench-redis-")
        if self.shards:
            return self._start_redis_cluster(self.workdir)
        port = free_port()
        self.redis = self._redis_process(port, self.workdir, [])
        return port

    def _start_redis_cluster(self, workdir: str) -> int:
        """``shards`` primaries joined by ``redis-cli --cluster create``; returns the first one's port."""
        ports: list[int] = []
        while len(ports) < self.shards:
            port = free_port()
            if port + 10000 <= 65535 and port not in ports:  # the cluster bus listens on port + 10000
                ports.append(port)
        for port in ports:
            shard_dir = Path(workdir) / str(port)
            shard_dir.mkdir()
            extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            self.shard_procs.append(self._redis_process(port, str(shard_dir), extra))
        self.redis = self.shard_procs[0]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in ports), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=self.timeout,
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            info = subprocess.run(
                ["redis-cli", "-p", str(ports[0]), "cluster", "info"], capture_output=True, text=True, check=False
            ).stdout
            if "cluster_state:ok" in info:
                return ports[0]
            time.sleep(0.1)
        raise TimeoutError("the Redis Cluster did not reach cluster_state:ok")

    def _redis_process(self, port: int, workdir: str, extra: list[str]) -> subprocess.Popen[bytes]:
        cmd = [
            str(REDIS_SERVER),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--daemonize",
            "no",
            *extra,
        ]
        if self.cpus:
            cmd = ["taskset", "-c", self.cpus, *cmd]
        with open(self.log, "ab") as out:
            process = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        wait_for_port("127.0.0.1", port, time.monotonic() + self.timeout, process)
        return process

    def start(self) -> Target:
        try:
            redis_port = self._start_redis()
            url = f"redis://127.0.0.1:{redis_port}/0"
            targets = []
            for i in range(self.nodes):
                node = PusherpyServer(
                    self.python,
                    self.cpus,
                    self.timeout,
                    self.cwd,
                    url,
                    f"-node{i + 1}",
                    redis_cluster=bool(self.shards),
                )
                self.members.append(node)
                targets.append(node.start())
            deadline = time.monotonic() + self.timeout
            for t in targets:
                wait_healthy(t.port, deadline)
        except (RuntimeError, TimeoutError, OSError) as exc:
            tail = self.log.read_text(errors="replace")[-1000:] if self.log.exists() else ""
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {exc}\n{tail}") from exc
        assert self.redis is not None
        parts = {f"node{i + 1}": t.pids for i, t in enumerate(targets)}
        parts["redis"] = [process.pid for process in self.shard_procs] or [self.redis.pid]
        first = targets[0]
        return Target(
            self.name,
            "127.0.0.1",
            first.port,
            first.app_id,
            first.app_key,
            first.app_secret,
            [p for pids in parts.values() for p in pids],
            [t.port for t in targets],
            parts,
        )

    def stop(self) -> None:
        """Nodes first (a clean SIGTERM lets each remove its own state from Redis), then Redis."""
        procs = [m.proc for m in self.members if m.proc is not None and m.proc.poll() is None]
        for m in self.members:
            m.proc = None
        self.members = []
        for proc in procs:  # all at once, so their shutdowns overlap
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            _reap(proc, 10)
        redis, self.redis = self.redis, None
        shards, self.shard_procs = self.shard_procs, []
        rest: list[subprocess.Popen[bytes] | None] = [*shards] or [redis]
        for process in rest:
            _stop_proc(process, 5)
        workdir, self.workdir = self.workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


class ExternalServer(Server):
    """A server someone else runs; the bench neither starts nor stops it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.name = target.name

    def prepare(self) -> None:
        """Fail before anything is measured when nothing listens there (one try: it should be running already)."""
        try:
            socket.create_connection((self.target.host, self.target.port), timeout=2.0).close()
        except OSError as exc:
            raise SetupError(
                f"nothing accepts connections on {self.target.host}:{self.target.port} ({exc.strerror or exc}): "
                "start that server first"
            ) from None

    def start(self) -> Target:
        wait_for_port(self.target.host, self.target.port, time.monotonic() + 5, None)
        return self.target

    def stop(self) -> None:
        pass
