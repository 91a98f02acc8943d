"""Background tasks that belong to someone: kept referenced until done, errors logged, cancelled together.

asyncio keeps only a weak reference to a task, so a task nobody holds can vanish mid-run, and an exception in a
task nobody awaits is never seen. The server (``ServerState.spawn``) and the announcer (deliveries of a count) both
need owned tasks; this is their one implementation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

logger = logging.getLogger(__name__)


class TaskSet:
    """The running tasks of one owner.

    Args:
        what: names the tasks in the log line of one that failed ("background task", say).
    """

    __slots__ = ("_what", "_tasks")

    def __init__(self, what: str) -> None:
        self._what = what
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed", self._what, exc_info=task.exception())

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))
