"""Telling a supervisor how the server is doing: systemd's ``Type=notify`` protocol, without a dependency.

systemd starts a ``Type=notify`` service with ``$NOTIFY_SOCKET`` naming a datagram AF_UNIX socket (a path, or an
abstract-namespace name written with a leading ``@``) and waits for ``READY=1`` before it calls the start done: units
ordered after pusherpy then start once it really listens. ``STOPPING=1`` says a stop was asked for and is under way;
with ``WatchdogSec=`` set, systemd passes ``$WATCHDOG_USEC`` and restarts the service when no ``WATCHDOG=1`` arrives
within it, so a hung event loop (which cannot send it) is restarted. The messages are sent every half interval, as
sd_watchdog_enabled(3) advises. ``$WATCHDOG_PID``, when set, names the process meant: another process that inherited
the environment stays quiet.

Notification is a courtesy to the supervisor, never a reason to fail: a socket that cannot be reached is logged once,
at WARNING, and the server serves on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Notifier:
    """Sends state lines to ``$NOTIFY_SOCKET``; built by ``from_environ``.

    Args:
        address: the socket's address as ``socket.sendto`` takes it (abstract names start with a NUL byte).
        watchdog_seconds: ``$WATCHDOG_USEC`` in seconds when this process must send ``WATCHDOG=1``, else None.
    """

    address: str | bytes
    watchdog_seconds: float | None = None
    _failed: bool = field(default=False, init=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier | None:
        """The notifier ``$NOTIFY_SOCKET`` asks for, or None when the process is not run by a notify supervisor."""
        name = environ.get("NOTIFY_SOCKET", "")
        if not name or not name.startswith(("/", "@")):
            return None
        address: str | bytes = b"\0" + name[1:].encode() if name.startswith("@") else name
        return cls(address, _watchdog_seconds(environ))

    def send(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; on failure log once (the first time) and return False."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as error:
            if not self._failed:
                self._failed = True
                logger.warning("cannot notify the service manager at $NOTIFY_SOCKET: %s (serving on)", error)
            return False
        return True

    async def watchdog(self) -> None:
        """Send ``WATCHDOG=1`` every half ``watchdog_seconds`` until cancelled (returns at once without one)."""
        if self.watchdog_seconds is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_seconds / 2)


def _watchdog_seconds(environ: Mapping[str, str]) -> float | None:
    """``$WATCHDOG_USEC`` in seconds when it is meant for this process (``$WATCHDOG_PID`` is ours or unset)."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


@asynccontextmanager
async def supervised(status: str, environ: Mapping[str, str]) -> AsyncIterator[None]:
    """Around the serving part of the server's life: ``READY=1`` on entry, the watchdog while inside, and
    ``STOPPING=1`` on the way out, before the sockets are closed. Does nothing without ``$NOTIFY_SOCKET``.

    Enter it once the port is bound and the banner printed: READY means clients can connect. ``environ`` holds
    the service manager's variables (``settings.service_manager_environ()``).
    """
    notifier = Notifier.from_environ(environ)
    if notifier is None:
        yield
        return
    notifier.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")
    watchdog = asyncio.create_task(notifier.watchdog())
    try:
        yield
    finally:
        notifier.send("STOPPING=1", "STATUS=stopping: closing connections")
        watchdog.cancel()
        with suppress(asyncio.CancelledError):
            await watchdog
