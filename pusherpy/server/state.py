"""What the aiohttp handlers share: settings, apps, broker, metrics, webhooks, and socket closing.

Stored once on the aiohttp application under ``STATE``; handlers receive it from ``request.app[STATE]``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web

from ..protocol.apps import AppConfig
from .broker.base import Broker, WebhookSink, no_webhooks
from .client import Client
from .metrics import Metrics
from .settings import Settings

logger = logging.getLogger(__name__)

CLOSE_HANDSHAKE_SECONDS = 2.0
"""How long a closing socket may take to answer our close frame before its transport is aborted."""


@dataclass(slots=True)
class ServerState:
    settings: Settings
    broker: Broker
    metrics: Metrics = field(default_factory=Metrics)
    webhooks: WebhookSink = no_webhooks
    apps_by_key: dict[str, AppConfig] = field(default_factory=dict)
    apps_by_id: dict[str, AppConfig] = field(default_factory=dict)
    closing_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    shutting_down: bool = False

    def close_client(self, client: Client, code: int, reason: str) -> None:
        """Close a socket from synchronous code (the hot path, timers): the handshake runs in an owned task."""
        task = asyncio.get_running_loop().create_task(close_socket(client.ws, client.transport, code, reason))
        self.closing_tasks.add(task)
        task.add_done_callback(self.closing_tasks.discard)


async def close_socket(ws: web.WebSocketResponse, transport: asyncio.Transport | None, code: int, reason: str) -> None:
    """Send a close frame with ``code`` and end the connection, aborting a peer that does not answer in time.

    A slow consumer's buffer may be full, so the close frame itself may never drain: the wait is bounded.
    """
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason.encode()[:123]), CLOSE_HANDSHAKE_SECONDS)
        return
    except (TimeoutError, ConnectionError):
        pass
    except Exception:  # pragma: no cover - a bug in the close path must not escape a task
        logger.exception("closing a socket failed")
    if transport is not None and not transport.is_closing():
        transport.abort()


STATE = web.AppKey("pusherpy_state", ServerState)
