"""Signed webhooks to the apps' backends: filtered, delayed where Pusher delays, batched, retried, bounded.

``emit`` is called synchronously from the broker with a typed ``WebhookEvent`` (``pusherpy.protocol.webhooks``,
which also holds the body encoding and the header names shared with the publisher's ``verify_webhook``) and never
blocks: it keeps the events each endpoint wants (``WebhookTarget.wants``: its event types and channel filter) and
queues them, so every batch, and every retry of one, carries only those. ``channel_vacated`` and ``member_removed``
are held ``webhook_delay_seconds`` and cancelled (with the matching ``channel_occupied`` / ``member_added``) when the
channel or user comes back, as Pusher does. Each endpoint has its own bounded queue and worker, and each request its
endpoint's ``timeout_seconds``, so a slow or dead endpoint never stalls the server or another endpoint; when its
queue is full the oldest events are dropped, counted and logged. One attempt is ``webhook_post.post_batch``.
Outcomes are counted per app in ``/metrics``: ``webhook_events_sent``, ``webhook_events_failed`` (given up after
retries) and ``webhook_events_dropped`` (pushed out of a full queue); for an app a console watches, each delivery,
retry and give-up is also a console log entry (``webhook_sent`` / ``webhook_retried`` / ``webhook_failed``).
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
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from ..protocol.apps import AppConfig, WebhookTarget
from ..protocol.console import LogEntry, LogKind
from ..protocol.redact import redacted_url
from ..protocol.webhooks import WebhookEvent, WebhookName
from .metrics import Metrics
from .settings import Settings
from .webhook_post import Attempt, log_entry, post_batch

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
_HeldKey = tuple["_Endpoint", str, str, str]
"""A held event: its endpoint, name, channel and user id."""


def _nobody_watches(app_id: str) -> bool:
    return False


def _no_record(entry: LogEntry) -> None:
    pass


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
    """Sends every app's webhooks; ``run`` is an aiohttp cleanup context that owns the session and workers.

    Args:
        watching: whether a console watches an app (``ConsoleHub.watching``); asked before an entry is built.
        record: takes the console log entries of watched apps (``ConsoleHub.record``).
    """

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        *,
        watching: Callable[[str], bool] = _nobody_watches,
        record: Callable[[LogEntry], None] = _no_record,
    ) -> None:
        self._settings = settings
        self._metrics = metrics or Metrics()
        self._watching = watching
        self._record = record
        self._endpoints: dict[tuple[str, WebhookTarget], _Endpoint] = {}
        self._held: dict[_HeldKey, tuple[asyncio.TimerHandle, _Endpoint, WebhookEvent]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.sent = 0
        self.failed = 0

    @property
    def dropped(self) -> int:
        return sum(endpoint.dropped for endpoint in self._endpoints.values())

    def emit(self, app: AppConfig, event: WebhookEvent) -> None:
        """Queue one event for every endpoint of the app that wants it (type and channel); never blocks."""
        name = event.name
        for target in app.webhooks:
            if not target.wants(event):
                continue
            endpoint = self._endpoint(app, target)
            if name in DELAYED:
                self._hold(endpoint, event)
            elif name in CANCELLED_BY and self._cancel_held(endpoint, CANCELLED_BY[name], event):
                continue
            else:
                endpoint.put(event)

    def _endpoint(self, app: AppConfig, target: WebhookTarget) -> _Endpoint:
        # Keyed by the whole target: two entries for one URL (other filters, other headers) are two endpoints.
        key = (app.id, target)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = _Endpoint(app, target, self._settings.webhook_queue_limit, self._metrics)
            if self._session is not None:
                self._workers.append(asyncio.create_task(self._work(endpoint)))
        else:
            endpoint.app = app  # the newest settings of the app (a rotated secret signs the next attempt)
        return endpoint

    @staticmethod
    def _held_key(endpoint: _Endpoint, name: str, event: WebhookEvent) -> _HeldKey:
        return (endpoint, name, event.channel, "" if event.user_id is None else event.user_id)

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
        # Each request has its endpoint's timeout (``post_batch``).
        self._session = aiohttp.ClientSession()
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
                attempt = await self._post(endpoint, endpoint.in_flight)
                if attempt.problem is not None:
                    self._abandon(endpoint, endpoint.in_flight, f"at shutdown ({attempt.problem})", attempt)
                endpoint.in_flight = []

        try:
            async with asyncio.timeout(min(FLUSH_SECONDS, self._settings.shutdown_timeout)):
                await asyncio.gather(*(drain(endpoint) for endpoint in pending))
        except TimeoutError:
            for endpoint in pending:
                left = [*endpoint.in_flight, *endpoint.queue]
                if left:
                    self._abandon(endpoint, left, "at shutdown (no time left)", None)
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
            attempt = await self._post(endpoint, events)
            if attempt.problem is None:
                return
            if time.monotonic() + backoff > deadline:
                self._abandon(endpoint, events, f"after retries ({attempt.problem})", attempt)
                return
            self._log(LogKind.WEBHOOK_RETRIED, endpoint, events, f"{attempt.problem}; retry in {backoff:g} s", attempt)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _post(self, endpoint: _Endpoint, events: list[WebhookEvent]) -> Attempt:
        """POST one batch once, and count and log a delivery."""
        assert self._session is not None
        attempt = await post_batch(self._session, endpoint.app, endpoint.target, events)
        if attempt.problem is None:
            self.sent += len(events)
            self._metrics.count(endpoint.app.id, "webhook_events_sent", len(events))
            self._log(LogKind.WEBHOOK_SENT, endpoint, events, "delivered", attempt)
        elif attempt.status is not None and 300 <= attempt.status < 400:
            self._redirected(endpoint, attempt.status, attempt.location)
        return attempt

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

    def _abandon(self, endpoint: _Endpoint, events: list[WebhookEvent], why: str, attempt: Attempt | None) -> None:
        self.failed += len(events)
        self._metrics.count(endpoint.app.id, "webhook_events_failed", len(events))
        logger.warning(
            "webhook to %s for app %s abandoned %s: %d events", endpoint.shown_url, endpoint.app.id, why, len(events)
        )
        self._log(LogKind.WEBHOOK_FAILED, endpoint, events, f"given up {why}", attempt)

    def _log(
        self, kind: LogKind, endpoint: _Endpoint, events: list[WebhookEvent], outcome: str, attempt: Attempt | None
    ) -> None:
        if self._watching(endpoint.app.id):
            self._record(log_entry(kind, endpoint.app.id, endpoint.shown_url, events, outcome, attempt))
