"""What the handlers share: settings, apps, broker, metrics, webhooks, and the server's own background tasks.

Stored once on the aiohttp application under ``STATE``; the WebSocket listener gets the same object.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..protocol.apps import AppConfig
from .app_directory import AppDirectory
from .broker.base import Broker, WebhookSink, no_webhooks
from .broker.tasks import TaskSet
from .client import Client, SocketHandler
from .console.hub import ConsoleHub
from .forwarded import TrustedProxies
from .metrics import Metrics
from .replay import ReplayGuard
from .settings import Settings


@dataclass(slots=True)
class ServerState:
    settings: Settings
    broker: Broker
    metrics: Metrics = field(default_factory=Metrics)
    webhooks: WebhookSink = no_webhooks
    apps: AppDirectory = field(default_factory=AppDirectory)
    """The apps served, by key and by id: filled once from the settings, or kept current from ``apps_source``."""
    tasks: TaskSet = field(default_factory=lambda: TaskSet("background task"))
    shutting_down: bool = False
    replays: ReplayGuard | None = None
    """Remembers signatures when ``reject_replayed_signatures`` is on."""
    clients: set[Client] = field(default_factory=set)
    """This server's open sockets (for pings and shutdown); the broker knows them as subscribers only."""
    proxies: TrustedProxies = field(default_factory=lambda: TrustedProxies(()))
    """Whose forwarding headers are believed (``Settings.trusted_proxies``)."""
    console: ConsoleHub = field(default_factory=ConsoleHub)
    """The debug console's log of watched apps (nothing is recorded for an app no console watches)."""
    socket_handler: SocketHandler = field(init=False)
    """The Pusher side of every socket (``ws.PusherHandler``), set by ``create_app``."""

    @property
    def apps_by_key(self) -> dict[str, AppConfig]:
        """The served apps by key, as of now (look up again for each request: the dict is replaced on a refresh)."""
        return self.apps.by_key

    @property
    def apps_by_id(self) -> dict[str, AppConfig]:
        """The served apps by id, as of now."""
        return self.apps.by_id

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine as a task the server owns (kept referenced, errors logged, awaited at shutdown)."""
        self.tasks.spawn(coroutine)


STATE = web.AppKey("pusherpy_state", ServerState)
