"""The open-files limit at start: raised as far as this process may, and a warning when it is still low.

Every WebSocket connection holds one file descriptor, and Linux starts most processes with a soft limit of 1024 (a
shell's ``ulimit -n``) even when the hard limit allows far more: the soft limit is there for programs that use
``select()``, which pusherpy does not. So, as nginx and most servers do, pusherpy raises its soft limit to the hard
limit at start; past the hard limit only the administrator can go (``LimitNOFILE=`` in a systemd unit,
``minfds``/``ulimit -n`` for Supervisor), and the warning says how.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

try:
    import resource
except ImportError:  # not on Windows: nothing to raise there
    resource = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

RESERVED: Final = 32
"""Descriptors the process uses for itself (Python, the listening sockets, Redis, logs) and not for clients."""
LOW: Final = 4096
"""A limit below this is warned about: a few thousand connections is a small production site."""


@dataclass(frozen=True, slots=True)
class FileLimit:
    """The soft limit before and after ``raise_file_limit``; None for unlimited."""

    before: int | None
    after: int | None

    @property
    def connections(self) -> int | None:
        """Roughly how many client connections ``after`` allows (None: no limit)."""
        return None if self.after is None else connections_allowed(self.after)


def connections_allowed(limit: int) -> int:
    """Roughly how many client connections an open-files limit of ``limit`` allows."""
    return max(limit - RESERVED, 0)


def file_limits() -> tuple[int | None, int | None] | None:
    """RLIMIT_NOFILE's soft and hard limits now (None for unlimited); None where the platform has no such limit.

    The ``resource`` module is imported with this one at start, so this works when descriptors have run out."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _finite(soft), _finite(hard)


def shown(limit: int | None) -> str:
    """A limit as a log line says it."""
    return "unlimited" if limit is None else str(limit)


def raise_file_limit() -> FileLimit | None:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit, log what it became, and warn when that is low.

    Returns None where the platform has no such limit. Never raises: a limit that cannot be changed is kept.
    """
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = soft
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            target = hard
        except (OSError, ValueError) as error:  # macOS refuses an unlimited soft limit; keep what there is
            logger.info("open-files limit kept at %s (cannot raise it to %s: %s)", soft, shown(_finite(hard)), error)
    limit = FileLimit(_finite(soft), _finite(target))
    if target != soft:
        logger.info("open-files limit raised from %s to %s (the hard limit)", soft, shown(limit.after))
    if limit.after is not None and limit.after < LOW:
        logger.warning(
            "open-files limit is %s: about %s connections at most; raise the hard limit (LimitNOFILE=1048576 in "
            "a systemd unit, minfds in Supervisor, `ulimit -Hn` as root) to serve more",
            limit.after,
            limit.connections,
        )
    return limit


def _finite(value: int) -> int | None:
    return None if resource is None or value == resource.RLIM_INFINITY else value
