"""Reading a console watcher in tests: entries until a condition holds, with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pusherpy.protocol.console import LogEntry, LogKind
from pusherpy.server.console.hub import Watcher
from tests.helpers import DEADLINE


async def entries_until(
    watcher: Watcher, done: Callable[[list[LogEntry]], bool], *, timeout: float = DEADLINE
) -> list[LogEntry]:
    """Every entry the watcher gets until ``done(entries so far)`` holds; fails at the deadline with what came."""
    seen: list[LogEntry] = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"console entries never matched; got {[(e.kind.value, e.channel) for e in seen]}")
        try:
            seen.extend(await asyncio.wait_for(watcher.next(), remaining))
        except TimeoutError:
            continue
    return seen


def has(kind: LogKind, **fields: object) -> Callable[[list[LogEntry]], bool]:
    """A ``done`` for ``entries_until``: an entry of ``kind`` with these field values arrived."""
    return lambda entries: one(entries, kind, strict=False, **fields) is not None


def one(entries: list[LogEntry], kind: LogKind, *, strict: bool = True, **fields: object) -> LogEntry | None:
    """The entry of ``kind`` with these field values (``strict``: it must exist, exactly once)."""
    found = [e for e in entries if e.kind is kind and all(getattr(e, k) == v for k, v in fields.items())]
    if strict:
        assert len(found) == 1, f"{kind.value} {fields}: {len(found)} entries in {entries}"
    return found[0] if found else None
