"""``create_app(settings)``: the aiohttp application with its routes, background tasks and graceful shutdown.

Lifecycle: ``cleanup_ctx`` starts the broker and the activity sweeper and stops them after shutdown;
``on_shutdown`` closes every socket with 4200 so pusher-js reconnects at once (to another node, or to this one
when it is back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiohttp import web

from ..protocol import codec
from ..protocol.apps import AppConfig
from ..protocol.errors import ErrorCode
from ..protocol.events import Ping
from ..protocol.frames import CloseCode
from . import http_api
from .app_directory import AppDirectory
from .apps_refresh import AppsRefresher
from .apps_store import open_store
from .broker.base import Broker, WebhookSink, no_webhooks
from .broker.local import LocalBroker
from .console.hub import ConsoleHub
from .console.web import add_console_routes
from .forwarded import TrustedProxies
from .http_forwarded import ClientAccessLogger, forwarded_middleware
from .http_head import MAX_HEAD_BYTES, MAX_HEADERS, MAX_REQUEST_LINE_BYTES
from .http_health import METRICS_LISTENER, MetricsListener
from .http_reply import error_middleware
from .listener import LINGER_SECONDS
from .metrics import Metrics
from .replay import ReplayGuard
from .settings import Settings
from .state import STATE, ServerState
from .webhooks import WebhookSender
from .ws import PusherHandler

logger = logging.getLogger(__name__)

_PING_TEXT = codec.encode(Ping())


def create_app(
    settings: Settings, *, broker: Broker | None = None, webhooks: WebhookSink | None = None
) -> web.Application:
    """Build the server application; serve it with ``web.run_app`` or an ``AppRunner``.

    Args:
        settings: the validated settings.
        broker: overrides the broker chosen from the settings (local unless ``redis_url`` is set).
        webhooks: overrides the webhook sink (by default, webhooks are sent to the apps' configured URLs).
    """
    application = web.Application(
        client_max_size=settings.max_request_body_bytes,
        middlewares=[forwarded_middleware, error_middleware],
        handler_args=_http_limits(settings),
    )
    metrics = Metrics()
    console = ConsoleHub()
    sink = webhooks
    if sink is None:
        sink = _webhook_sender(settings, application, metrics, console)
    broker = broker or _broker_for(settings, sink, metrics, console)
    console.join_cluster(broker.node_name, broker.console_link)
    state = ServerState(
        settings=settings,
        metrics=metrics,
        broker=broker,
        console=console,
        webhooks=sink,
        apps=AppDirectory(settings.apps),
        proxies=TrustedProxies(settings.trusted_proxies),
    )
    if settings.reject_replayed_signatures:
        state.replays = ReplayGuard(state.broker, settings.replay_memory_limit)
    state.socket_handler = PusherHandler(state)
    application[STATE] = state
    http_api.add_routes(application, settings.path_prefix)
    if settings.console:
        add_console_routes(application, settings.path_prefix)
    if settings.apps_source:  # read before the broker starts: it must know the apps it serves
        application.cleanup_ctx.append(AppsRefresher(state, open_store(settings.apps_source)).run)
    application.cleanup_ctx.append(_run_broker)
    application.cleanup_ctx.append(_run_activity_sweeper)
    if settings.metrics_port is not None:
        listener = application[METRICS_LISTENER] = MetricsListener(state)
        application.cleanup_ctx.append(listener.run)
    application.on_shutdown.append(_close_all_sockets)
    return application


def _http_limits(settings: Settings) -> dict[str, Any]:
    """aiohttp's own limits for the requests it parses after the listener's first one (keep-alive, pipelined):
    the same head limits as the listener, a bounded idle time, and a short linger after refusing a body."""
    return {
        "max_line_size": MAX_REQUEST_LINE_BYTES,
        "max_field_size": MAX_HEAD_BYTES,
        "max_headers": MAX_HEADERS,
        "keepalive_timeout": settings.http_keepalive_timeout,
        "lingering_time": LINGER_SECONDS,
        "access_log_class": ClientAccessLogger,
    }


def _broker_for(settings: Settings, webhooks: WebhookSink, metrics: Metrics, console: ConsoleHub) -> Broker:
    if settings.redis_url:
        from .broker.redis import RedisBroker  # redis-py is an optional extra: imported only when used

        return RedisBroker(settings, webhooks, count_sent=metrics.count_sent, console=console)
    return LocalBroker(settings, webhooks, count_sent=metrics.count_sent, console=console)


def _webhook_sender(
    settings: Settings, application: web.Application, metrics: Metrics, console: ConsoleHub
) -> WebhookSink:
    if not settings.apps_source and not any(app.webhooks for app in settings.apps):
        return no_webhooks  # with apps_source, an app may gain webhooks at any refresh
    sender = WebhookSender(settings, metrics, watching=console.watching, record=console.record)
    application.cleanup_ctx.append(sender.run)
    return sender.emit


async def _run_broker(application: web.Application) -> AsyncIterator[None]:
    broker = application[STATE].broker
    await broker.start()
    yield
    await broker.stop()


def sweep_interval(settings: Settings, apps: Iterable[AppConfig] | None = None) -> float:
    """Often enough to honour the shortest activity/pong timeout of ``apps`` (the settings' apps when None), at
    most once a second."""
    apps = tuple(settings.apps if apps is None else apps)
    shortest = min([settings.pong_timeout, *(a.server_ping_after for a in apps), *(a.auth_timeout for a in apps)])
    return max(0.05, min(1.0, shortest / 4))


def sweep(state: ServerState, now: float) -> None:
    """Ping silent sockets, close those that did not answer (4201), left a message unfinished (1008) or never
    authorized in time (4009). A message begun must be finished within ``pong_timeout``, as a ping must be
    answered within it: control frames between fragments would otherwise keep a socket alive forever."""
    pong_timeout = state.settings.pong_timeout
    for client in state.clients:
        if client.closing or not client.registered:
            continue
        app = client.app
        if client.partial_since is not None and now - client.partial_since > pong_timeout:
            client.close(CloseCode.POLICY_VIOLATION, f"message not finished within {pong_timeout:g} s")
            continue
        if client.pinged_at is not None:
            if now - client.pinged_at > pong_timeout:
                client.close(ErrorCode.PONG_NOT_RECEIVED, "pong not received")
                continue
        elif now - client.last_seen > app.server_ping_after:
            client.pinged_at = now
            client.send_text(_PING_TEXT)
        if (
            app.authorized_connections_only
            and now - client.connected_at > app.auth_timeout
            and not client.connection.is_authorized
        ):
            client.close(ErrorCode.UNAUTHORIZED, "sign in or join a private channel in time")


async def _run_activity_sweeper(application: web.Application) -> AsyncIterator[None]:
    state = application[STATE]
    loop = asyncio.get_running_loop()

    async def run() -> None:
        while True:
            await asyncio.sleep(sweep_interval(state.settings, state.apps.apps))  # apps may change (apps_source)
            try:
                sweep(state, loop.time())
            except Exception:  # pragma: no cover - the sweeper must survive a bug
                logger.exception("activity sweep failed")

    task = asyncio.create_task(run(), name="pusherpy-activity-sweeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_all_sockets(application: web.Application) -> None:
    """Close every socket with 4200 (reconnect at once), then wait, bounded, for them to be gone."""
    state = application[STATE]
    state.shutting_down = True
    clients = list(state.clients)
    logger.info("shutting down: closing %d sockets", len(clients))
    for client in clients:
        client.close(ErrorCode.GENERIC_RECONNECT, "server shutting down")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.settings.shutdown_timeout
    while (state.clients or state.tasks) and loop.time() < deadline:
        await asyncio.sleep(0.02)
