"""What the handlers share: settings, apps, broker, metrics, webhooks, and the server's own background tasks.

Stored once on the aiohttp application under ``STATE``; the WebSocket listener gets the same object.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..protocol.apps import AppConfig
from .broker.base import Broker, WebhookSink, no_webhooks
from .client import Client, SocketHandler
from .metrics import Metrics
from .settings import Settings

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ServerState:
    settings: Settings
    broker: Broker
    metrics: Metrics = field(default_factory=Metrics)
    webhooks: WebhookSink = no_webhooks
    apps_by_key: dict[str, AppConfig] = field(default_factory=dict)
    apps_by_id: dict[str, AppConfig] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    shutting_down: bool = False
    clients: set[Client] = field(default_factory=set)
    """This server's open sockets (for pings and shutdown); the broker knows them as subscribers only."""
    socket_handler: SocketHandler = field(init=False)
    """The Pusher side of every socket (``ws.PusherHandler``), set by ``create_app``."""

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine as a task the server owns (kept referenced, errors logged, awaited at shutdown)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())


STATE = web.AppKey("pusherpy_state", ServerState)
