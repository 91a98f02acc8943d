"""One command for the whole example: ``python -m examples.chat``.

It runs three aiohttp servers in one process and one event loop:

- **pusherpy** (the WebSocket server pusher-js connects to, and the HTTP API the backend publishes through);
- the **built-in model** (OpenAI-compatible), unless ``OPENAI_API_KEY`` is set;
- the **chat backend**, which also serves the built frontend (built first with npm when ``dist/`` is missing or
  older than its sources).

``run_stack(options)`` is the same thing as an async context manager; the tests use it with port 0 everywhere.
Environment: ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` pick a real provider;
``CHAT_MODEL_WORD_DELAY`` and ``CHAT_MODEL_FAIL_AFTER`` tune the built-in model; ``CHAT_JWT_SECRET`` keeps tokens
valid across restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web

from pusherpy.protocol.apps import AppConfig
from pusherpy.protocol.redact import redacted_url
from pusherpy.publisher import ClientConfig
from pusherpy.server.app import create_app
from pusherpy.server.listener import PusherSite
from pusherpy.server.settings import Settings

from .backend import ChatConfig, create_chat_app
from .backend.config import BrowserPusher, ModelConfig
from .backend.model import BUILTIN_MODEL, DEFAULT_WORD_DELAY, ModelBehaviour, create_model_app
from .backend.users import DEMO_USERS

HERE: Final = Path(__file__).resolve().parent
FRONTEND: Final = HERE / "frontend"
DIST: Final = FRONTEND / "dist"
DATA: Final = HERE / "data"
APP_ID: Final = "200001"  # numeric: the official Python SDK rejects other app ids
APP_KEY: Final = "chat-key"
DEFAULT_OPENAI_URL: Final = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL: Final = "gpt-4o-mini"
READY: Final = "chat example ready: "
"""The last line printed once everything listens; followed by the page's URL."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchOptions:
    """How to run the example. Ports 0 pick free ports."""

    host: str = "127.0.0.1"
    port: int = 8000
    pusher_port: int = 8080
    data_dir: Path = DATA
    frontend_dist: Path | None = DIST
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_model: str | None = None
    model: ModelBehaviour = ModelBehaviour()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **values: object) -> LaunchOptions:
        """Read the ``OPENAI_*`` and ``CHAT_*`` variables; ``values`` (the command line) win."""
        behaviour = ModelBehaviour(
            word_delay=float(environ.get("CHAT_MODEL_WORD_DELAY", DEFAULT_WORD_DELAY)),
            fail_after_words=int(environ["CHAT_MODEL_FAIL_AFTER"]) if environ.get("CHAT_MODEL_FAIL_AFTER") else None,
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


@dataclass(frozen=True, slots=True)
class ChatStack:
    """The running example: where to point a browser, and the backend's config and application."""

    url: str
    pusher_url: str
    model_url: str
    config: ChatConfig
    backend: web.Application
    pusher: web.Application


async def _start(stack: AsyncExitStack, application: web.Application, host: str, port: int, *, pusher: bool) -> int:
    runner = web.AppRunner(application, shutdown_timeout=2.0, handle_signals=False)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = PusherSite(runner, host, port) if pusher else web.TCPSite(runner, host, port)
    await site.start()
    return int(runner.addresses[0][1])


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


@asynccontextmanager
async def run_stack(options: LaunchOptions) -> AsyncIterator[ChatStack]:
    """Start pusherpy, the model (unless a real provider is configured) and the backend; stop them on exit.

    They stop in reverse order, so replies in flight still reach pusherpy with their ``StreamFailed``.
    """
    secret = secrets.token_urlsafe(24)
    settings = Settings(
        host=options.host,
        port=options.pusher_port,
        apps=(AppConfig(id=APP_ID, key=APP_KEY, secret=secret, name="chat", enable_client_events=True),),
        uses_dev_app=False,
        shutdown_timeout=2.0,
    )
    async with AsyncExitStack() as stack:
        pusher_app = create_app(settings)
        pusher_port = await _start(stack, pusher_app, options.host, options.pusher_port, pusher=True)
        if options.openai_api_key is None:
            model_port = await _start(stack, create_model_app(options.model), options.host, 0, pusher=False)
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
        port = await _start(stack, backend, options.host, options.port, pusher=False)
        yield ChatStack(
            url=_url(options.host, port) + "/",
            pusher_url=_url(options.host, pusher_port),
            model_url=model.base_url,
            config=config,
            backend=backend,
            pusher=pusher_app,
        )


def frontend_is_stale(frontend: Path = FRONTEND) -> bool:
    """True when ``dist/`` is missing or older than a source file, the lock file or the Vite config."""
    built = frontend / "dist" / "index.html"
    if not built.is_file():
        return True
    sources = [frontend / name for name in ("index.html", "classic.html", "vite.config.js", "package-lock.json")]
    sources += [path for folder in ("src", "public") for path in (frontend / folder).rglob("*") if path.is_file()]
    newest = max((path.stat().st_mtime for path in sources if path.exists()), default=0.0)
    return newest > built.stat().st_mtime


def build_frontend(frontend: Path = FRONTEND) -> None:
    """``npm ci`` (when ``node_modules`` is missing) and ``npm run build``.

    Raises:
        RuntimeError: npm is missing or failed.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: install Node.js 20+ to build the frontend")
    if not (frontend / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, check=True)
    subprocess.run([npm, "run", "build"], cwd=frontend, check=True)


def banner(stack: ChatStack, options: LaunchOptions) -> str:
    logins = ", ".join(f"{user.id} / {user.password}" for user in DEMO_USERS.values())
    model = (
        f"built-in, {options.model.word_delay:g} s per word (set OPENAI_API_KEY for a real one)"
        if options.openai_api_key is None
        else f"{stack.config.model.model} at {redacted_url(stack.config.model.base_url)}"
    )
    return "\n".join(
        [
            "pusherpy realtime AI chat",
            f"  React page     {stack.url}",
            f"  classic page   {stack.url}classic.html",
            f"  demo logins    {logins}",
            f"  pusherpy       {stack.pusher_url} (app id {APP_ID}, key {APP_KEY})",
            f"  model          {model}",
            f"  database       {stack.config.database}",
            "Press Ctrl+C to stop.",
            f"{READY}{stack.url}",
        ]
    )


async def _serve(options: LaunchOptions) -> None:
    async with run_stack(options) as stack:
        print(banner(stack, options), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        print("stopping", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.chat", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="the chat page's port (default 8000; 0 picks a free one)")
    parser.add_argument("--pusher-port", type=int, help="pusherpy's port (default 8080; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, help=f"where the SQLite file lives (default {DATA})")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the frontend even if dist/ is up to date")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = LaunchOptions.from_env(
        os.environ, host=args.host, port=args.port, pusher_port=args.pusher_port, data_dir=args.data_dir
    )
    if args.rebuild or frontend_is_stale():
        print("building the frontend (npm run build) ...", flush=True)
        try:
            build_frontend()
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"could not build the frontend: {exc}", file=sys.stderr)
            return 1
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(options))
    else:
        uvloop.run(_serve(options))
    return 0
