"""Accepting TCP connections with pusherpy's own accept loop, so that running out of file descriptors is reported.

Both event loops hide that case from the operator. asyncio logs an ERROR with a traceback for every failed
``accept()`` and retries a second later; uvloop (libuv) accepts the waiting connections into a descriptor it keeps in
reserve and closes them at once, logging nothing, so clients are dropped in silence. Here the listening sockets
are watched with ``add_reader`` on either loop and each accepted socket is handed to
``loop.connect_accepted_socket``. An ``accept()`` that fails for lack of descriptors or memory (EMFILE, ENFILE,
ENOBUFS, ENOMEM) is counted in ``/metrics`` by reason and logged as one WARNING line, at most every
``WARNING_INTERVAL_SECONDS`` per reason, that names the limit and how to raise it. Meanwhile accepting pauses for
``ACCEPT_RETRY_SECONDS`` at a time: the connections wait in the kernel's listen backlog and are served as soon as
descriptors are free again (when other clients hang up).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from .broker.tasks import TaskSet
from .fdlimit import file_limits, shown
from .metrics import Metrics

logger = logging.getLogger(__name__)

ACCEPT_RETRY_SECONDS: Final = 0.25
"""How long accepting pauses after a failure for lack of resources (asyncio's own pause is 1 s)."""
WARNING_INTERVAL_SECONDS: Final = 10.0
ACCEPTS_PER_WAKEUP: Final = 128
"""Connections accepted per readiness callback, so a connection storm cannot starve the loop's other work."""

_REASONS: Final = {errno.EMFILE: "emfile", errno.ENFILE: "enfile", errno.ENOBUFS: "enobufs", errno.ENOMEM: "enomem"}


@dataclass(slots=True)
class WarningThrottle:
    """Decides which failures are logged: the first of each reason, then at most one per ``interval`` seconds.

    Time is an input (``now``, in the loop's clock), so the decision can be tested without waiting.
    """

    interval: float = WARNING_INTERVAL_SECONDS
    _last: dict[str, float] = field(default_factory=dict)
    _unlogged: dict[str, int] = field(default_factory=dict)

    def failed(self, reason: str, now: float) -> int | None:
        """Record one failure.

        Returns:
            None when it is not to be logged; else how many failures of this reason went unlogged before it.
        """
        last = self._last.get(reason)
        if last is not None and now - last < self.interval:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + 1
            return None
        self._last[reason] = now
        return self._unlogged.pop(reason, 0)


def failure_message(reason: str, error: OSError, unlogged: int) -> str:
    """The WARNING for a failed ``accept()``: what ran out, the current limit, and how to raise it."""
    code = errno.errorcode.get(error.errno or 0, "?")
    if reason == "emfile":
        what = f"this process has all the files it may open ({code}: {_file_limit()}; each connection uses one)"
        fix = (
            "raise the limit before starting pusherpy: `ulimit -n N` in its shell (up to the hard limit), or "
            "LimitNOFILE=N in its systemd unit"
        )
    elif reason == "enfile":
        what = f"the system's open-file table is full ({code})"
        fix = "raise fs.file-max (sysctl) or close files elsewhere on this machine"
    else:
        what = f"the kernel is out of memory for sockets ({code})"
        fix = "free memory on this machine"
    since = f" ({unlogged} more failed accepts since the last warning)" if unlogged else ""
    return f"cannot accept connections: {what}; they wait in the listen backlog until some close; {fix}{since}"


def _file_limit() -> str:
    # fdlimit (and resource) are imported with this module: once descriptors have run out, an import cannot open
    # its file
    limits = file_limits()
    if limits is None:
        return "the open-files limit"
    soft, hard = limits
    return f"RLIMIT_NOFILE soft limit {shown(soft)}, hard limit {shown(hard)}"


class AcceptingServer(asyncio.AbstractServer):
    """Listening sockets served by the accept loop above; what ``loop.create_server`` would return.

    Args:
        sockets: bound, listening, non-blocking sockets.
        protocol_factory: makes the protocol of each accepted connection.
        metrics: counts the failed accepts.
        tls: the TLS context of each new connection, read as each is accepted (a reload replaces it); None: plain.
        tls_handshake_timeout: how long a TLS handshake may take.
    """

    def __init__(
        self,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        metrics: Metrics,
        *,
        tls: Callable[[], ssl.SSLContext] | None = None,
        tls_handshake_timeout: float = 10.0,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sockets = sockets
        self._protocol_factory = protocol_factory
        self._metrics = metrics
        self._tls = tls
        self._tls_handshake_timeout = tls_handshake_timeout
        self._throttle = WarningThrottle()
        self._paused: dict[socket.socket, asyncio.TimerHandle] = {}
        self._adopting = TaskSet("connection set-up")
        self._serving = False
        self._closed = asyncio.Event()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets; none once closed (as ``asyncio.Server``)."""
        return () if self._closed.is_set() else tuple(self._sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._serving or self._closed.is_set():
            return
        self._serving = True
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    async def serve_forever(self) -> None:
        await self.start_serving()
        await self._closed.wait()

    def close(self) -> None:
        """Stop accepting and close the listening sockets; connections already accepted are left open."""
        if self._closed.is_set():
            return
        self._closed.set()
        for sock in self._sockets:
            if self._serving and sock not in self._paused:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        for timer in self._paused.values():
            timer.cancel()
        self._paused.clear()
        self._serving = False

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                connection, _address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client left while waiting in the backlog
            except OSError as error:
                reason = _REASONS.get(error.errno or 0)
                if reason is None:  # a network error the kernel reports on accept (accept(2)): try again later
                    logger.debug("accept() failed: %s", error)
                    return
                self._out_of(reason, error, sock)
                return
            connection.setblocking(False)
            self._adopting.spawn(self._adopt(connection))

    async def _adopt(self, connection: socket.socket) -> None:
        try:
            if self._tls is None:
                await self._loop.connect_accepted_socket(self._protocol_factory, connection)
            else:  # the protocol is made once the handshake is done
                await self._loop.connect_accepted_socket(
                    self._protocol_factory,
                    connection,
                    ssl=self._tls(),
                    ssl_handshake_timeout=self._tls_handshake_timeout,
                )
        except OSError:  # the client left, or its TLS handshake failed or took too long (ssl.SSLError is one)
            connection.close()

    def _out_of(self, reason: str, error: OSError, sock: socket.socket) -> None:
        self._metrics.accept_failures[reason] += 1
        unlogged = self._throttle.failed(reason, self._loop.time())
        if unlogged is not None:
            logger.warning("%s", failure_message(reason, error, unlogged))
        self._loop.remove_reader(sock.fileno())
        self._paused[sock] = self._loop.call_later(ACCEPT_RETRY_SECONDS, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        del self._paused[sock]
        if not self._closed.is_set():
            self._loop.add_reader(sock.fileno(), self._accept, sock)


async def listen(
    host: str | None, port: int, *, backlog: int, reuse_address: bool | None, reuse_port: bool | None
) -> list[socket.socket]:
    """Bind and listen on every address ``host`` resolves to, as ``loop.create_server`` does.

    Raises:
        OSError: an address could not be bound; the message names it.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    if reuse_address is None:
        reuse_address = os.name == "posix"
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # a family this machine does not have
                continue
            sockets.append(sock)
            if reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRNOTAVAIL:  # the family is not enabled (as asyncio, bpo-30945)
                    sockets.pop().close()
                    continue
                raise OSError(
                    error.errno, f"error while attempting to bind on address {address!r}: {error.strerror or error}"
                ) from None
            sock.listen(backlog)
            sock.setblocking(False)
        if not sockets:
            raise OSError(f"could not bind on any address of {host!r}")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
