"""Unsigned endpoints for load balancers and monitoring: ``GET /up`` and ``GET /metrics``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .metrics import process_gauges
from .state import STATE


async def health(request: web.Request) -> web.Response:
    """GET /up: 200 ``{"health": "OK"}``, or 503 ``{"health": "DEGRADED"}`` while the broker is unreachable."""
    state = request.app[STATE]
    if state.shutting_down:
        return web.json_response({"health": "SHUTTING_DOWN"}, status=503)
    if not state.broker.healthy:
        return web.json_response({"health": "DEGRADED"}, status=503)
    return web.json_response({"health": "OK"})


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text."""
    state = request.app[STATE]
    empty = {"connections": 0, "channels": 0, "subscriptions": 0}
    gauges: dict[str, dict[str, Any]] = {app.id: dict(empty) for app in state.settings.apps}
    gauges.update(state.broker.stats())
    text = state.metrics.render(
        gauges, healthy=state.broker.healthy, process=process_gauges(), node_counters=state.broker.counters()
    )
    return web.Response(text=text, content_type="text/plain", charset="utf-8")
