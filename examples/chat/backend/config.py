"""``ChatConfig``: everything the backend needs, built once by the launcher (or a test) and passed in.

The backend never reads the environment itself: the launcher does, so tests can build a config by hand and run
several backends side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pusherpy.publisher import ClientConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserPusher:
    """Where the browser's pusher-js connects (it may differ from where the backend publishes, e.g. behind TLS).

    ``ws_host`` None tells the page to use its own host name (the server listens on every interface).
    """

    key: str
    ws_host: str | None
    ws_port: int
    force_tls: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """The chat model, reached through the OpenAI SDK.

    Attributes:
        base_url: the OpenAI-compatible API root (``https://api.openai.com/v1``, or the built-in endpoint's).
        api_key: sent as the bearer token; the built-in endpoint accepts any. Never shown (not in the ``repr``).
        model: the model name passed to ``chat.completions.create``.
        history: how many earlier messages of the conversation are sent with each request.
        timeout: seconds the SDK waits for the provider before the reply fails.
    """

    base_url: str
    api_key: str = field(repr=False)
    model: str
    history: int = 20
    timeout: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatConfig:
    """The backend's settings.

    Attributes:
        database: the SQLite file; created, with its directory and the demo conversations, on first start.
        jwt_secret: signs the bearer tokens (HS256). Never shown (not in the ``repr``).
        token_ttl_seconds: how long a token from ``POST /api/login`` is valid.
        pusher: where and as which app the backend publishes (pusherpy's HTTP API).
        browser: what the browser is told in ``GET /api/config``.
        model: the chat model.
        frontend_dist: the built frontend (``npm run build``), served at ``/``; None serves the API only.
    """

    database: Path
    jwt_secret: str = field(repr=False)
    pusher: ClientConfig
    browser: BrowserPusher
    model: ModelConfig
    token_ttl_seconds: int = 12 * 3600
    frontend_dist: Path | None = None
