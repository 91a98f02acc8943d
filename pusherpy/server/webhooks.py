"""Signed webhooks to the apps' backends: filtered, delayed where Pusher delays, batched, retried, bounded.

``emit`` is called synchronously from the broker with a typed ``WebhookEvent`` (``pusherpy.protocol.webhooks``,
which also holds the body encoding and the header names shared with the publisher's ``verify_webhook``) and never
blocks: it filters by each endpoint's event types and queues. ``channel_vacated`` and ``member_removed`` are held
``webhook_delay_seconds`` and cancelled (with the matching ``channel_occupied`` / ``member_added``) when the channel
or user comes back, as Pusher does. Each endpoint has its own bounded queue and worker, so a dead endpoint never
stalls the server or another endpoint; when its queue is full the oldest events are dropped, counted and logged.
``time_ms`` is stamped, and the body signed, at each send attempt, so receivers' 5-minute freshness checks pass even
after retries. Outcomes are counted per app in ``/metrics``: ``webhook_events_sent``, ``webhook_events_failed``
(given up after retries) and ``webhook_events_dropped`` (pushed out of a full queue).
A redirect is a failed delivery, never followed: the signed body goes to the configured URL only. Logs show URLs
through ``redacted_url``, without the credentials they may carry.

When the server stops, held events are released and everything still queued gets one last, bounded attempt: the
stopping node's channels and members are really gone, and a backend that never heard ``channel_vacated`` /
``member_removed`` would show them occupied and online for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from ..protocol import signing
from ..protocol.apps import AppConfig, WebhookTarget
from ..protocol.redact import redacted_url
from ..protocol.webhooks import KEY_HEADER, SIGNATURE_HEADER, WebhookBatch, WebhookEvent, WebhookName, encode_batch
from .metrics import Metrics
from .settings import Settings

logger = logging.getLogger(__name__)

DELAYED: dict[str, str] = {
    WebhookName.CHANNEL_VACATED: WebhookName.CHANNEL_OCCUPIED,
    WebhookName.MEMBER_REMOVED: WebhookName.MEMBER_ADDED,
}
"""Held events, and the event that cancels them (and is itself dropped) when it comes within the delay."""
CANCELLED_BY: dict[str, str] = {comeback: held for held, comeback in DELAYED.items()}
MAX_BACKOFF_SECONDS = 30.0
FLUSH_SECONDS = 2.0
"""The longest the last delivery attempt at shutdown may take (also bounded by ``shutdown_timeout``)."""
REQUEST_TIMEOUT_SECONDS = 10.0


class _Endpoint:
    """One app's webhook URL: its queue and its worker."""

    def __init__(self, app: AppConfig, target: WebhookTarget, limit: int, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.target = target
        self.shown_url = redacted_url(target.url)
        """The URL as logs show it: without credentials."""
        self.redirected = False
        """It answered a redirect once already (said once in the log, then only counted as failures)."""
        self.queue: deque[WebhookEvent] = deque()
        self.limit = limit
        self.ready = asyncio.Event()
        self.dropped = 0
        self.in_flight: list[WebhookEvent] = []
        """The batch being delivered; put back in the queue if the worker is stopped mid-delivery."""

    def put(self, event: WebhookEvent) -> None:
        if len(self.queue) >= self.limit:
            self.queue.popleft()
            self.dropped += 1
            self.metrics.count(self.app.id, "webhook_events_dropped")
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "webhook queue for app %s at %s is full: %d events dropped",
                    self.app.id,
                    self.shown_url,
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
        self._held: dict[tuple[str, str, str, str, str], tuple[asyncio.TimerHandle, _Endpoint, WebhookEvent]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.sent = 0
        self.failed = 0

    @property
    def dropped(self) -> int:
        return sum(endpoint.dropped for endpoint in self._endpoints.values())

    def emit(self, app: AppConfig, event: WebhookEvent) -> None:
        """Queue one event for every endpoint of the app that wants its type; never blocks."""
        name = event.name
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
        endpoint.app = app  # the newest settings sign its webhooks (a secret rotated in apps_source)
        return endpoint

    @staticmethod
    def _held_key(endpoint: _Endpoint, name: str, event: WebhookEvent) -> tuple[str, str, str, str, str]:
        user_id = "" if event.user_id is None else event.user_id
        return (endpoint.app.id, endpoint.target.url, name, event.channel, user_id)

    def _hold(self, endpoint: _Endpoint, event: WebhookEvent) -> None:
        """Hold a vacated/removed event for ``webhook_delay_seconds``, in case its channel or member comes back.

        Held events are keyed by channel and user, which clients choose: at most ``webhook_queue_limit`` are held
        at once. Past that an event is queued at once, undelayed: the backend may then see a vacated channel
        occupied again, which is what happened, rather than miss it.
        """
        key = self._held_key(endpoint, event.name, event)
        previous = self._held.pop(key, None)
        if previous is not None:  # the same event again: one is enough
            previous[0].cancel()
        elif len(self._held) >= self._settings.webhook_queue_limit:
            endpoint.put(event)
            return

        def release() -> None:
            self._held.pop(key, None)
            endpoint.put(event)

        handle = asyncio.get_running_loop().call_later(self._settings.webhook_delay_seconds, release)
        self._held[key] = (handle, endpoint, event)

    def _cancel_held(self, endpoint: _Endpoint, held_name: str, event: WebhookEvent) -> bool:
        held = self._held.pop(self._held_key(endpoint, held_name, event), None)
        if held is None:
            return False
        held[0].cancel()
        return True

    async def run(self, _application: web.Application) -> AsyncIterator[None]:
        """Cleanup context: open the HTTP session and the endpoint workers; on exit, flush briefly and stop."""
        # Registered before the broker's context, so this exit runs after the broker has let every socket go.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS))
        self._workers = [asyncio.create_task(self._work(endpoint)) for endpoint in self._endpoints.values()]
        try:
            yield
        finally:
            for worker in self._workers:
                worker.cancel()
            for worker in self._workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            for endpoint in self._endpoints.values():
                endpoint.queue.extendleft(reversed(endpoint.in_flight))
                endpoint.in_flight = []
            for handle, endpoint, event in self._held.values():
                handle.cancel()
                endpoint.put(event)
            self._held.clear()
            await self._flush()
            await self._session.close()
            self._session = None

    async def _flush(self) -> None:
        """One attempt per queued batch, every endpoint at once, for at most ``FLUSH_SECONDS``; then give up."""
        pending = [endpoint for endpoint in self._endpoints.values() if endpoint.queue]
        if not pending:
            return

        async def drain(endpoint: _Endpoint) -> None:
            while endpoint.queue:
                endpoint.in_flight = self._next_batch(endpoint)
                if await self._post(endpoint, endpoint.in_flight) is not None:
                    self._abandon(endpoint, endpoint.in_flight, "at shutdown")
                endpoint.in_flight = []

        try:
            async with asyncio.timeout(min(FLUSH_SECONDS, self._settings.shutdown_timeout)):
                await asyncio.gather(*(drain(endpoint) for endpoint in pending))
        except TimeoutError:
            for endpoint in pending:
                left = [*endpoint.in_flight, *endpoint.queue]
                if left:
                    self._abandon(endpoint, left, "at shutdown (no time left)")
                endpoint.in_flight = []
                endpoint.queue.clear()

    def _next_batch(self, endpoint: _Endpoint) -> list[WebhookEvent]:
        size = min(self._settings.webhook_batch_size, len(endpoint.queue))
        return [endpoint.queue.popleft() for _ in range(size)]

    async def _work(self, endpoint: _Endpoint) -> None:
        interval = self._settings.webhook_batch_interval
        while True:
            await endpoint.ready.wait()
            await asyncio.sleep(interval)  # let a burst gather into one batch
            while endpoint.queue:
                endpoint.in_flight = self._next_batch(endpoint)
                await self._deliver(endpoint, endpoint.in_flight)
                endpoint.in_flight = []
            endpoint.ready.clear()

    async def _deliver(self, endpoint: _Endpoint, events: list[WebhookEvent]) -> None:
        """POST one batch, retrying with exponential backoff for at most ``webhook_retry_seconds``."""
        deadline = time.monotonic() + self._settings.webhook_retry_seconds
        backoff = 0.5
        while True:
            problem = await self._post(endpoint, events)
            if problem is None:
                return
            if time.monotonic() + backoff > deadline:
                self._abandon(endpoint, events, f"after retries ({problem})")
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _post(self, endpoint: _Endpoint, events: list[WebhookEvent]) -> str | None:
        """POST one batch once, stamped and signed now; None when the receiver took it, else what went wrong."""
        assert self._session is not None
        app = endpoint.app
        body = encode_batch(WebhookBatch(time_ms=int(time.time() * 1000), events=events))
        headers = {
            "Content-Type": "application/json",
            KEY_HEADER: app.key,
            SIGNATURE_HEADER: signing.sign_webhook(app.secret, body),
        }
        try:
            # A redirect is not followed: it would take the signed body, or a GET without it, to wherever the
            # receiver (or whoever answers in its name) points, credentials of the URL included.
            url = endpoint.target.url
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    self.sent += len(events)
                    self._metrics.count(app.id, "webhook_events_sent", len(events))
                    return None
                if 300 <= response.status < 400:
                    self._redirected(endpoint, response.status, response.headers.get("Location", ""))
                    return f"HTTP {response.status}: redirects are not followed"
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return type(error).__name__

    @staticmethod
    def _redirected(endpoint: _Endpoint, status: int, location: str) -> None:
        if not endpoint.redirected:
            endpoint.redirected = True
            logger.warning(
                "webhook to %s for app %s answered HTTP %d to %s: redirects are not followed, configure the final URL",
                endpoint.shown_url,
                endpoint.app.id,
                status,
                redacted_url(location) or "nowhere",
            )

    def _abandon(self, endpoint: _Endpoint, events: list[WebhookEvent], why: str) -> None:
        self.failed += len(events)
        self._metrics.count(endpoint.app.id, "webhook_events_failed", len(events))
        logger.warning(
            "webhook to %s for app %s abandoned %s: %d events", endpoint.shown_url, endpoint.app.id, why, len(events)
        )
