"""``run_stack(options)``: the whole example in one process and one event loop, as an async context manager.

It runs three aiohttp servers:

- **pusherpy** (the WebSocket server pusher-js connects to, and the HTTP API the backend publishes through);
- the **built-in model** (OpenAI-compatible, always on a free port), unless ``OPENAI_API_KEY`` is set;
- the **chat backend**, which also serves the built frontend.

``python -m examples.chat`` (``cli.py``) runs it until Ctrl+C; the tests run it with port 0 everywhere.
Environment (``LaunchOptions.from_env``): ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` pick a real
provider; ``CHAT_MODEL_WORD_DELAY`` and ``CHAT_MODEL_FAIL_AFTER`` tune the built-in model; ``CHAT_JWT_SECRET``
keeps tokens valid across restarts.
"""

from __future__ import annotations

import errno
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web

from pusherpy.protocol.apps import AppConfig
from pusherpy.protocol.history import HistoryRule
from pusherpy.publisher import ClientConfig
from pusherpy.server.app import create_app
from pusherpy.server.listener import PusherSite
from pusherpy.server.settings import Settings

from .backend import ChatConfig, create_chat_app
from .backend.config import BrowserPusher, ModelConfig
from .backend.model import BUILTIN_MODEL, DEFAULT_WORD_DELAY, ModelBehaviour, create_model_app
from .build import DIST

DATA: Final = Path(__file__).resolve().parent / "data"
APP_ID: Final = "200001"  # numeric: the official Python SDK rejects other app ids
APP_KEY: Final = "chat-key"
DEFAULT_PORT: Final = 8000
DEFAULT_PUSHER_PORT: Final = 8080
DEFAULT_OPENAI_URL: Final = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL: Final = "gpt-4o-mini"
HISTORY_SIZE: Final = 1000
"""Events pusherpy keeps per conversation channel, for pages that reconnect (a reply is one event per chunk)."""
HISTORY_TTL_SECONDS: Final = 600.0


class LaunchError(Exception):
    """The example cannot start as asked; ``str()`` is the one line to print (no traceback)."""


class CannotListen(LaunchError):
    """One of the example's servers could not bind its port.

    Args:
        role: which server ("pusherpy", "the chat page", "the built-in model").
        flag: the command-line option that sets its port, named in the advice; None when it has none.
    """

    def __init__(self, role: str, host: str, port: int, flag: str | None, error: OSError) -> None:
        reason = "the port is in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error)).lower()
        advice = f"; stop what holds it, or pass {flag} 0 to use a free port" if flag and port else ""
        super().__init__(f"cannot listen on {host}:{port} for {role}: {reason}{advice}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchOptions:
    """How to run the example. Port 0 picks a free port."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    pusher_port: int = DEFAULT_PUSHER_PORT
    data_dir: Path = DATA
    frontend_dist: Path | None = DIST
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_model: str | None = None
    model: ModelBehaviour = ModelBehaviour()
    history_size: int | None = HISTORY_SIZE
    """Events pusherpy keeps per ``private-conversation.*`` channel; None keeps none (pages then always reload)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **values: object) -> LaunchOptions:
        """Read the ``OPENAI_*`` and ``CHAT_*`` variables; ``values`` (the command line) win.

        Raises:
            LaunchError: a variable's value is not a number where one is needed.
        """
        word_delay = _number(environ, "CHAT_MODEL_WORD_DELAY", integer=False)
        fail_after = _number(environ, "CHAT_MODEL_FAIL_AFTER", integer=True)
        behaviour = ModelBehaviour(
            word_delay=DEFAULT_WORD_DELAY if word_delay is None else word_delay,
            fail_after_words=None if fail_after is None else int(fail_after),
        )
        read: dict[str, object] = {
            "openai_api_key": environ.get("OPENAI_API_KEY") or None,
            "openai_base_url": environ.get("OPENAI_BASE_URL") or None,
            "openai_model": environ.get("OPENAI_MODEL") or None,
            "model": behaviour,
        }
        if environ.get("CHAT_JWT_SECRET"):
            read["jwt_secret"] = environ["CHAT_JWT_SECRET"]
        read.update({name: value for name, value in values.items() if value is not None})
        return cls(**read)  # type: ignore[arg-type]


def _number(environ: Mapping[str, str], name: str, *, integer: bool) -> float | int | None:
    """The variable ``name`` as a number, None when unset or empty."""
    text = environ.get(name)
    if not text:
        return None
    try:
        return int(text) if integer else float(text)
    except ValueError:
        raise LaunchError(f"{name}={text!r} is not {'an integer' if integer else 'a number'}") from None


@dataclass(frozen=True, slots=True)
class ChatStack:
    """The running example: where each server listens, and the backend's config and application."""

    url: str
    pusher_url: str
    model_url: str
    config: ChatConfig
    backend: web.Application
    pusher: web.Application


async def _start(
    stack: AsyncExitStack,
    application: web.Application,
    options: LaunchOptions,
    port: int,
    role: str,
    flag: str | None,
    site_class: type[web.TCPSite] = web.TCPSite,
) -> int:
    """Serve ``application`` until ``stack`` closes; return the bound port (the real one when ``port`` is 0)."""
    runner = web.AppRunner(application, shutdown_timeout=2.0, handle_signals=False)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    try:
        await site_class(runner, options.host, port).start()
    except OSError as error:
        raise CannotListen(role, options.host, port, flag, error) from None
    return int(runner.addresses[0][1])


def _history(size: int | None) -> tuple[HistoryRule, ...]:
    """The conversation channels keep their recent events: a page that reconnects gets exactly what it missed
    (``frontend/src/shared/resume.js``) instead of reloading the conversation from the backend."""
    if size is None:
        return ()
    return (HistoryRule(channels="private-conversation.*", size=size, ttl_seconds=HISTORY_TTL_SECONDS),)


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


@asynccontextmanager
async def run_stack(options: LaunchOptions) -> AsyncIterator[ChatStack]:
    """Start pusherpy, the model (unless a real provider is configured) and the backend; stop them on exit.

    They stop in reverse order, so replies in flight still reach pusherpy with their ``StreamFailed``.

    Raises:
        CannotListen: a port could not be bound (whatever had started is stopped again).
    """
    secret = secrets.token_urlsafe(24)
    settings = Settings(
        host=options.host,
        port=options.pusher_port,
        apps=(
            AppConfig(
                id=APP_ID,
                key=APP_KEY,
                secret=secret,
                name="chat",
                enable_client_events=True,
                history=_history(options.history_size),
            ),
        ),
        uses_dev_app=False,
        shutdown_timeout=2.0,
    )
    async with AsyncExitStack() as stack:
        pusher_app = create_app(settings)
        pusher_port = await _start(
            stack, pusher_app, options, options.pusher_port, "pusherpy", "--pusher-port", site_class=PusherSite
        )
        if options.openai_api_key is None:
            model_port = await _start(stack, create_model_app(options.model), options, 0, "the built-in model", None)
            model = ModelConfig(
                base_url=f"{_url(options.host, model_port)}/v1", api_key="built-in-model", model=BUILTIN_MODEL
            )
        else:
            model = ModelConfig(
                base_url=options.openai_base_url or DEFAULT_OPENAI_URL,
                api_key=options.openai_api_key,
                model=options.openai_model or DEFAULT_OPENAI_MODEL,
            )
        config = ChatConfig(
            database=options.data_dir / "chat.sqlite3",
            jwt_secret=options.jwt_secret,
            pusher=ClientConfig.build(APP_ID, APP_KEY, secret, host=options.host, port=pusher_port, scheme="http"),
            browser=BrowserPusher(
                key=APP_KEY,
                ws_host=None if options.host in ("0.0.0.0", "::", "") else options.host,
                ws_port=pusher_port,
            ),
            model=model,
            frontend_dist=options.frontend_dist,
        )
        backend = create_chat_app(config)
        port = await _start(stack, backend, options, options.port, "the chat page", "--port")
        yield ChatStack(
            url=_url(options.host, port) + "/",
            pusher_url=_url(options.host, pusher_port),
            model_url=model.base_url,
            config=config,
            backend=backend,
            pusher=pusher_app,
        )
