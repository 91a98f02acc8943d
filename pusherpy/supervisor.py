"""``pusherpy serve --workers N``: one parent process, N worker processes serving one port.

One Python process runs on one core. To use every core of a machine, the parent starts N workers, each the normal
server (``cli.serve``) with the same settings, listening on the same port with ``SO_REUSEPORT``: the kernel spreads
new connections over them. They share channels, presence and counts through the scale-out broker (Redis), exactly as
nodes on different machines do, so clients on different workers see one server.

The parent serves nothing itself. It binds the port first (with ``SO_REUSEPORT``, without listening, so it takes no
connections) and holds it until it exits: a port in use is reported once, by the parent, and ``--port 0`` becomes
one real port that every worker, and every restarted worker, binds. It restarts a worker that dies (one WARNING
line each time, with a backoff when it keeps dying), forwards SIGTERM/SIGINT (each worker closes its sockets with
4200 and exits) and SIGHUP (TLS reload), and exits once every worker is gone. Workers are started with
``multiprocessing``'s spawn method: a fresh interpreter that receives the settings already loaded, so every worker
runs exactly what the parent validated. Worker 0 prints the start-up banner, once. ``/up`` and ``/metrics`` answer
for the worker the connection landed on; with ``metrics_port`` set, worker ``i`` serves them on ``metrics_port + i``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Final

from .server.service import supervised
from .server.settings import SERVICE_MANAGER_VARIABLES, Settings, service_manager_environ

logger = logging.getLogger("pusherpy.supervisor")

STABLE_SECONDS: Final = 10.0
"""A worker that ran this long before dying is restarted at once; one that dies sooner, after a growing pause."""
FIRST_BACKOFF_SECONDS: Final = 0.5
MAX_BACKOFF_SECONDS: Final = 30.0
KILL_GRACE_SECONDS: Final = 10.0
"""How long past ``shutdown_timeout`` the parent waits for a stopping worker before it sends SIGKILL."""


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """What a worker process is told besides the settings: which one it is, whether it prints the banner, and
    where it says it listens (the parent tells systemd ``READY=1`` once every worker has)."""

    index: int
    banner: bool
    ready: Connection

    def listening(self) -> None:
        """Tell the parent this worker accepts connections."""
        self.ready.send(self.index)


@dataclass(slots=True)
class _Worker:
    """One worker slot: its current process, and how quickly its processes have been dying."""

    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    backoff: float = 0.0
    restart: asyncio.TimerHandle | None = field(default=None, repr=False)


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` with ``SO_REUSEPORT`` and without listening: the port is ours (``0`` becomes a real one)
    while the workers bind it too, and no connection is ever queued on this socket.

    Raises:
        OSError: the port is taken by a process that did not set ``SO_REUSEPORT`` (or is not ours).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def worker_settings(settings: Settings, index: int, port: int) -> Settings:
    """Worker ``index``'s settings: the shared port, and its own ``metrics_port`` (``metrics_port + index``)."""
    metrics_port = settings.metrics_port + index if settings.metrics_port else settings.metrics_port
    return dataclasses.replace(settings, port=port, workers=1, metrics_port=metrics_port)


def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` workers until SIGTERM/SIGINT, then wait for them all; the exit status.

    Raises:
        OSError: the port cannot be bound.
    """
    with reserve_port(settings.host, settings.port) as held:
        port = int(held.getsockname()[1])
        return asyncio.run(_Supervisor(settings, port).run())


class _Supervisor:
    def __init__(self, settings: Settings, port: int) -> None:
        self._settings = settings
        self._port = port
        self._context = multiprocessing.get_context("spawn")
        self._workers = [_Worker(index) for index in range(settings.workers)]
        self._stopping = asyncio.Event()
        self._gone = asyncio.Event()
        self._ready, self._ready_writer = self._context.Pipe(duplex=False)
        self._listening: set[int] = set()
        self._all_listening = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self._forward, signal.SIGHUP)
        for worker in self._workers:
            self._start(worker, worker.index == 0)
        loop.add_reader(self._ready.fileno(), self._worker_listening)
        pids = ", ".join(str(worker.process.pid) for worker in self._workers if worker.process is not None)
        logger.info("%d workers share port %d (pids %s)", len(self._workers), self._port, pids)
        listening = asyncio.ensure_future(self._all_listening.wait())
        await asyncio.wait((listening, asyncio.ensure_future(self._stopping.wait())), return_when="FIRST_COMPLETED")
        listening.cancel()
        if not self._stopping.is_set():
            status = f"{len(self._workers)} workers listening on {self._settings.host}:{self._port}"
            async with supervised(status, service_manager_environ()):  # READY=1 for systemd, from this process
                await self._stopping.wait()
        logger.info("stopping: waiting for %d workers to close their sockets", self._alive())
        try:
            await asyncio.wait_for(self._gone.wait(), self._settings.shutdown_timeout + KILL_GRACE_SECONDS)
        except TimeoutError:
            logger.warning("workers still running after %.0f s: killing them", self._settings.shutdown_timeout)
            self._forward(signal.SIGKILL)
            await self._gone.wait()
        return 0

    def _start(self, worker: _Worker, banner: bool) -> None:
        worker.restart = None
        role = WorkerRole(index=worker.index, banner=banner, ready=self._ready_writer)
        process = self._context.Process(
            target=run_worker,
            args=(worker_settings(self._settings, worker.index, self._port), role),
            name=f"pusherpy-worker-{worker.index}",
        )
        process.start()
        worker.process, worker.started = process, time.monotonic()
        asyncio.get_running_loop().add_reader(process.sentinel, self._exited, worker, process)

    def _worker_listening(self) -> None:
        index = self._ready.recv()
        self._listening.add(index)
        if len(self._listening) == len(self._workers):
            self._all_listening.set()

    def _exited(self, worker: _Worker, process: BaseProcess) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(process.sentinel)
        process.join()
        worker.process = None
        if self._stopping.is_set():
            if self._alive() == 0:
                self._gone.set()
            return
        uptime = time.monotonic() - worker.started
        worker.backoff = (
            0.0
            if uptime >= STABLE_SECONDS
            else min(MAX_BACKOFF_SECONDS, max(FIRST_BACKOFF_SECONDS, worker.backoff * 2))
        )
        logger.warning(
            "worker %d (pid %s) exited (%s) after %.1f s; restarting it in %.1f s",
            worker.index,
            process.pid,
            _how(process.exitcode),
            uptime,
            worker.backoff,
        )
        # The banner is printed once: again only if worker 0 died before it ever listened (and so before printing).
        banner = worker.index == 0 and worker.index not in self._listening
        worker.restart = loop.call_later(worker.backoff, self._start, worker, banner)

    def _stop(self, signum: int) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        for worker in self._workers:
            if worker.restart is not None:
                worker.restart.cancel()
                worker.restart = None
        self._forward(signum)
        if self._alive() == 0:
            self._gone.set()

    def _forward(self, signum: int) -> None:
        for worker in self._workers:
            if worker.process is not None and worker.process.pid is not None:
                try:
                    os.kill(worker.process.pid, signum)
                except ProcessLookupError:  # it just exited; its sentinel will say so
                    pass

    def _alive(self) -> int:
        return sum(worker.process is not None for worker in self._workers)


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"status {exitcode}"


def run_worker(settings: Settings, role: WorkerRole) -> None:
    """A worker process's entry point (spawned): log as the parent does, naming the worker, then serve."""
    # Until the server's own handlers are in place, a terminal's Ctrl-C or a reload must not kill us with a
    # traceback: the parent forwards both once we run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for name in SERVICE_MANAGER_VARIABLES:  # systemd hears from the parent, the main process it started
        os.environ.pop(name, None)
    from .cli import run
    from .server.apps_store.store import AppsSourceError

    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format=f"%(asctime)s %(levelname)s worker {role.index} (pid %(process)d) %(name)s: %(message)s",
    )
    if not settings.debug:
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        run(settings, role)
    except OSError as error:
        print(
            f"pusherpy: worker {role.index} cannot serve on {settings.host}:{settings.port}: {error}", file=sys.stderr
        )
        sys.exit(1)
    except AppsSourceError as error:  # restarted by the parent, as any worker that exits
        print(f"pusherpy: worker {role.index} cannot read apps: {error}", file=sys.stderr)
        sys.exit(1)
