"""Signed webhooks to the apps' backends: filtered, delayed where Pusher delays, batched, retried, bounded.

``emit`` is called synchronously from the broker and never blocks: it filters by each endpoint's event types and
queues. ``channel_vacated`` and ``member_removed`` are held ``webhook_delay_seconds`` and cancelled (with the
matching ``channel_occupied`` / ``member_added``) when the channel or user comes back, as Pusher does. Each
endpoint has its own bounded queue and worker, so a dead endpoint never stalls the server or another endpoint;
when its queue is full the oldest events are dropped, counted and logged. ``time_ms`` is stamped, and the body
signed, at each send attempt, so receivers' 5-minute freshness checks pass even after retries. Outcomes are
counted per app in ``/metrics``: ``webhook_events_sent``, ``webhook_events_failed`` (given up after retries) and
``webhook_events_dropped`` (pushed out of a full queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from ..protocol import codec, signing
from ..protocol.apps import AppConfig, WebhookTarget
from .metrics import Metrics
from .settings import Settings

logger = logging.getLogger(__name__)

DELAYED = {"channel_vacated": "channel_occupied", "member_removed": "member_added"}
"""Held events, and the event that cancels them (and is itself dropped) when it comes within the delay."""
CANCELLED_BY = {comeback: held for held, comeback in DELAYED.items()}
MAX_BACKOFF_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 10.0


class _Endpoint:
    """One app's webhook URL: its queue and its worker."""

    def __init__(self, app: AppConfig, target: WebhookTarget, limit: int, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.target = target
        self.queue: deque[dict[str, Any]] = deque()
        self.limit = limit
        self.ready = asyncio.Event()
        self.dropped = 0

    def put(self, event: dict[str, Any]) -> None:
        if len(self.queue) >= self.limit:
            self.queue.popleft()
            self.dropped += 1
            self.metrics.count(self.app.id, "webhook_events_dropped")
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "webhook queue for app %s at %s is full: %d events dropped",
                    self.app.id,
                    self.target.url,
                    self.dropped,
                )
        self.queue.append(event)
        self.ready.set()


class WebhookSender:
    """Sends every app's webhooks; ``run`` is an aiohttp cleanup context that owns the session and workers."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics or Metrics()
        self._endpoints: dict[tuple[str, str], _Endpoint] = {}
        self._held: dict[tuple[str, str, str, str, str], asyncio.TimerHandle] = {}
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.sent = 0
        self.failed = 0

    @property
    def dropped(self) -> int:
        return sum(endpoint.dropped for endpoint in self._endpoints.values())

    def emit(self, app: AppConfig, event: dict[str, Any]) -> None:
        """Queue one event for every endpoint of the app that wants its type; never blocks."""
        name = event["name"]
        for target in app.webhooks:
            if name not in target.event_types:
                continue
            endpoint = self._endpoint(app, target)
            if name in DELAYED:
                self._hold(endpoint, event)
            elif name in CANCELLED_BY and self._cancel_held(endpoint, CANCELLED_BY[name], event):
                continue
            else:
                endpoint.put(event)

    def _endpoint(self, app: AppConfig, target: WebhookTarget) -> _Endpoint:
        key = (app.id, target.url)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = _Endpoint(app, target, self._settings.webhook_queue_limit, self._metrics)
            if self._session is not None:
                self._workers.append(asyncio.create_task(self._work(endpoint)))
        return endpoint

    @staticmethod
    def _held_key(endpoint: _Endpoint, name: str, event: dict[str, Any]) -> tuple[str, str, str, str, str]:
        return (endpoint.app.id, endpoint.target.url, name, event["channel"], event.get("user_id", ""))

    def _hold(self, endpoint: _Endpoint, event: dict[str, Any]) -> None:
        key = self._held_key(endpoint, event["name"], event)
        previous = self._held.pop(key, None)
        if previous is not None:  # the same event again: one is enough
            previous.cancel()

        def release() -> None:
            self._held.pop(key, None)
            endpoint.put(event)

        self._held[key] = asyncio.get_running_loop().call_later(self._settings.webhook_delay_seconds, release)

    def _cancel_held(self, endpoint: _Endpoint, held_name: str, event: dict[str, Any]) -> bool:
        handle = self._held.pop(self._held_key(endpoint, held_name, event), None)
        if handle is None:
            return False
        handle.cancel()
        return True

    async def run(self, _application: web.Application) -> AsyncIterator[None]:
        """Cleanup context: open the HTTP session and the endpoint workers; on exit, flush briefly and stop."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS))
        self._workers = [asyncio.create_task(self._work(endpoint)) for endpoint in self._endpoints.values()]
        try:
            yield
        finally:
            for handle in self._held.values():
                handle.cancel()
            self._held.clear()
            for worker in self._workers:
                worker.cancel()
            for worker in self._workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await self._session.close()
            self._session = None

    async def _work(self, endpoint: _Endpoint) -> None:
        interval = self._settings.webhook_batch_interval
        while True:
            await endpoint.ready.wait()
            await asyncio.sleep(interval)  # let a burst gather into one batch
            while endpoint.queue:
                batch = [
                    endpoint.queue.popleft() for _ in range(min(self._settings.webhook_batch_size, len(endpoint.queue)))
                ]
                await self._deliver(endpoint, batch)
            endpoint.ready.clear()

    async def _deliver(self, endpoint: _Endpoint, events: list[dict[str, Any]]) -> None:
        """POST one batch, retrying with exponential backoff for at most ``webhook_retry_seconds``."""
        assert self._session is not None
        deadline = time.monotonic() + self._settings.webhook_retry_seconds
        backoff = 0.5
        app = endpoint.app
        while True:
            body = codec.dumps({"time_ms": int(time.time() * 1000), "events": events}).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Pusher-Key": app.key,
                "X-Pusher-Signature": signing.sign_webhook(app.secret, body),
            }
            try:
                async with self._session.post(endpoint.target.url, data=body, headers=headers) as response:
                    if 200 <= response.status < 300:
                        self.sent += len(events)
                        self._metrics.count(app.id, "webhook_events_sent", len(events))
                        return
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = type(error).__name__
            if time.monotonic() + backoff > deadline:
                self.failed += len(events)
                self._metrics.count(app.id, "webhook_events_failed", len(events))
                logger.warning(
                    "webhook to %s for app %s abandoned after retries (%s): %d events",
                    endpoint.target.url,
                    app.id,
                    problem,
                    len(events),
                )
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
