"""Unsigned endpoints for load balancers and monitoring: ``GET /up`` and ``GET /metrics``.

``/metrics`` answers as ``exposure.metrics_refusal`` decides (open on loopback; a bearer token, its own listener or
an explicit opt-in elsewhere). ``MetricsListener`` is that own listener: ``/metrics`` and ``/up`` alone on
``metrics_host:metrics_port``, so a scraper can reach them on a network the WebSocket clients cannot.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from .exposure import metrics_refusal
from .http_reply import error_middleware, refusal_response
from .metrics import process_gauges
from .state import STATE, ServerState

logger = logging.getLogger(__name__)


async def health(request: web.Request) -> web.Response:
    """GET /up: 200 ``{"health": "OK"}``, or 503 ``{"health": "DEGRADED"}`` while the broker is unreachable."""
    state = request.app[STATE]
    if state.shutting_down:
        return web.json_response({"health": "SHUTTING_DOWN"}, status=503)
    if not state.broker.healthy:
        return web.json_response({"health": "DEGRADED"}, status=503)
    return web.json_response({"health": "OK"})


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics on the main port: Prometheus text, when ``metrics_refusal`` allows it."""
    return _metrics(request, own_listener=False)


async def own_metrics(request: web.Request) -> web.Response:
    """GET /metrics on the ``metrics_port`` listener."""
    return _metrics(request, own_listener=True)


def _metrics(request: web.Request, *, own_listener: bool) -> web.Response:
    state = request.app[STATE]
    refusal = metrics_refusal(state.settings, request.headers.get("Authorization"), own_listener=own_listener)
    if refusal is not None:
        return refusal_response(refusal)
    empty = {"connections": 0, "channels": 0, "subscriptions": 0}
    gauges: dict[str, dict[str, Any]] = {app.id: dict(empty) for app in state.apps.apps}
    gauges.update(state.broker.stats())
    text = state.metrics.render(
        gauges, healthy=state.broker.healthy, process=process_gauges(), node_counters=state.broker.counters()
    )
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


class MetricsListener:
    """``/metrics`` and ``/up`` on ``metrics_host:metrics_port``; ``run`` is a cleanup context of the server app.

    ``port`` is the bound port once started (``metrics_port = 0`` picks a free one).
    """

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self.port: int | None = None

    async def run(self, _application: web.Application) -> AsyncIterator[None]:
        settings = self._state.settings
        application = web.Application(middlewares=[error_middleware])
        application[STATE] = self._state
        application.router.add_get("/metrics", own_metrics)
        application.router.add_get("/up", health)
        runner = web.AppRunner(application, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
            self.port = int(runner.addresses[0][1])
            logger.info("metrics on http://%s:%d/metrics", settings.metrics_host, self.port)
            yield
        finally:
            await runner.cleanup()


METRICS_LISTENER = web.AppKey("pusherpy_metrics_listener", MetricsListener)
"""The server's ``MetricsListener``, when ``metrics_port`` is set."""
