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
from .http_history import channel_events
from .http_queries import channel_info, channel_users, connection_count, list_channels, terminate_user_connections
from .upgrade import serve_upgrade


def add_routes(application: web.Application, path_prefix: str = "") -> None:
    """Add every route, and the HTTP API's rate windows, to the server's application; with ``path_prefix``, each
    route answers with and without it (``path_prefix.py``)."""
    application[API_RATES] = ApiRates()
    router = application.router
    for base in dict.fromkeys(("", path_prefix)):
        router.add_get(f"{base}/app/{{key}}", serve_upgrade)
        router.add_post(f"{base}/apps/{{app_id}}/events", trigger_event)
        router.add_post(f"{base}/apps/{{app_id}}/batch_events", trigger_batch)
        router.add_get(f"{base}/apps/{{app_id}}/channels", list_channels)
        router.add_get(f"{base}/apps/{{app_id}}/channels/{{channel_name}}", channel_info)
        router.add_get(f"{base}/apps/{{app_id}}/channels/{{channel_name}}/users", channel_users)
        router.add_get(f"{base}/apps/{{app_id}}/channels/{{channel_name}}/events", channel_events)
        router.add_get(f"{base}/apps/{{app_id}}/connections", connection_count)
        router.add_post(f"{base}/apps/{{app_id}}/users/{{user_id}}/terminate_connections", terminate_user_connections)
        router.add_post(f"{base}/users/{{user_id}}/terminate_connections", terminate_user_connections)
        router.add_get(f"{base}/up", health)
        router.add_get(f"{base}/metrics", metrics)
