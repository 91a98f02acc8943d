"""A backend's webhook route for the webhook tests: a real aiohttp server on 127.0.0.1 and a free port that records
every request (headers and exact body) and answers as the test tells it (a status, or after a delay)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers import DEADLINE, post_endpoint


@dataclass
class Delivery:
    """One webhook request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = json.loads(self.body)["events"]
        return events


@dataclass
class Receiver:
    """A backend's webhook route: records every request and answers with ``statuses`` in turn, then 200."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    held: asyncio.Event | None = None
    """When given, each request is recorded, then left unanswered until this is set (a slow receiver)."""

    @property
    def accepted(self) -> list[Delivery]:
        """Deliveries answered with 200 (failed attempts excluded)."""
        return [d for d in self.deliveries if d.headers.get("X-Test-Answer") == "200"]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for delivery in self.accepted for event in delivery.events]

    async def handle(self, request: web.Request) -> web.Response:
        status = self.statuses.pop(0) if self.statuses else 200
        headers = dict(request.headers)
        headers["X-Test-Answer"] = str(status)
        async with self.changed:
            self.deliveries.append(Delivery(headers, await request.read(), time.monotonic()))
            self.changed.notify_all()
        if self.held is not None:
            await self.held.wait()
        return web.json_response({}, status=status)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = DEADLINE) -> None:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(condition), timeout)
            except TimeoutError:
                raise AssertionError(f"condition not met in {timeout} s; received {self.events}") from None

    async def expect_events(self, count: int) -> list[dict[str, Any]]:
        """Wait for ``count`` accepted events (in arrival order), and check nothing more is on its way."""
        await self.wait_until(lambda: len(self.events) >= count)
        await self.expect_no_more()
        return self.events

    async def expect_no_more(self, within: float = 0.3) -> None:
        """Assert that no further request arrives within ``within`` seconds (a bounded wait for an absence)."""
        seen = len(self.deliveries)
        try:
            await self.wait_until(lambda: len(self.deliveries) > seen, within)
        except AssertionError:
            return
        raise AssertionError(f"unexpected webhook: {self.deliveries[seen:]}")


@asynccontextmanager
async def receiving(*, slow: bool = False) -> AsyncIterator[Receiver]:
    """A receiver; ``slow``: one that never answers while the test runs."""
    receiver = Receiver(held=asyncio.Event() if slow else None)
    async with post_endpoint("/webhooks", receiver.handle) as url:
        receiver.url = url
        try:
            yield receiver
        finally:
            if receiver.held is not None:
                receiver.held.set()
