"""The HTTP routes: the signed API (``/apps/{app_id}/...``), ``/up``, ``/metrics``, and ``/app/{key}``.

One module per concern: ``http_auth`` admits signed requests, ``http_events`` publishes, ``http_queries`` reads
channels, users and connections, ``http_health`` serves the unsigned endpoints, ``http_reply`` turns every
refusal into its JSON answer (``error_middleware``), and ``upgrade`` serves a WebSocket upgrade that arrives on a
connection aiohttp already holds. Most upgrades and publishes never get here: the listener serves them first.
"""

from __future__ import annotations

from aiohttp import web

from .http_auth import API_RATES, ApiRates
from .http_events import trigger_batch, trigger_event
from .http_health import health, metrics
from .http_queries import channel_info, channel_users, connection_count, list_channels, terminate_user_connections
from .upgrade import serve_upgrade


def add_routes(application: web.Application) -> None:
    """Add every route, and the HTTP API's rate windows, to the server's application."""
    application[API_RATES] = ApiRates()
    application.router.add_get("/app/{key}", serve_upgrade)
    application.router.add_post("/apps/{app_id}/events", trigger_event)
    application.router.add_post("/apps/{app_id}/batch_events", trigger_batch)
    application.router.add_get("/apps/{app_id}/channels", list_channels)
    application.router.add_get("/apps/{app_id}/channels/{channel_name}", channel_info)
    application.router.add_get("/apps/{app_id}/channels/{channel_name}/users", channel_users)
    application.router.add_get("/apps/{app_id}/connections", connection_count)
    application.router.add_post("/apps/{app_id}/users/{user_id}/terminate_connections", terminate_user_connections)
    application.router.add_post("/users/{user_id}/terminate_connections", terminate_user_connections)
    application.router.add_get("/up", health)
    application.router.add_get("/metrics", metrics)
