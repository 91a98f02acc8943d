"""``python -m examples.chat``: start the example, print where everything is, stop quietly on Ctrl+C.

Everything a user can get wrong (a port in use, npm missing when the frontend must be rebuilt, a malformed
variable) ends with one line on stderr and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pusherpy.protocol.redact import redacted_url

from .backend.users import DEMO_USERS
from .build import BuildError, build_frontend, frontend_is_stale, needs_download
from .launcher import (
    APP_ID,
    APP_KEY,
    DATA,
    DEFAULT_PORT,
    DEFAULT_PUSHER_PORT,
    ChatStack,
    LaunchError,
    LaunchOptions,
    run_stack,
)

PROG: Final = "python -m examples.chat"
READY: Final = "chat example ready: "
"""The last line printed once everything listens; followed by the page's URL."""


def banner(stack: ChatStack, options: LaunchOptions) -> str:
    """Where each server listens (the real ports, also when 0 was asked for), and how to log in."""
    logins = ", ".join(f"{user.id} / {user.password}" for user in DEMO_USERS.values())
    model = (
        f"built-in at {stack.model_url}, {options.model.word_delay:g} s per word (set OPENAI_API_KEY for a real one)"
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
    # Signals first: a Ctrl+C while the servers start stops them cleanly once they are up.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with run_stack(options) as stack:
        # INFO from here on: a start that fails ends with its one line, not with the log of what it undid.
        logging.getLogger().setLevel(logging.INFO)
        print(banner(stack, options), flush=True)
        await stop.wait()
        print("stopping", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="Run the realtime AI chat example.")
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        help=f"the chat page's port (default {DEFAULT_PORT}); 0 picks free ports for everything the example starts",
    )
    parser.add_argument(
        "--pusher-port", type=int, help=f"pusherpy's port (default {DEFAULT_PUSHER_PORT}, or free with --port 0)"
    )
    parser.add_argument("--data-dir", type=Path, help=f"where the SQLite file lives (default {DATA})")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the frontend (needs Node.js 20+ and npm)")
    return parser.parse_args(argv)


def _prepare_frontend(rebuild: bool) -> None:
    """Rebuild ``dist/`` when asked or when its sources changed; say what that runs and downloads.

    Raises:
        BuildError: the build was needed and failed.
    """
    if not (rebuild or frontend_is_stale()):
        return
    why = "rebuilding the frontend" if rebuild else "the frontend's sources changed since dist/ was built: rebuilding"
    download = " (npm ci first downloads its npm packages into frontend/node_modules)" if needs_download() else ""
    print(f"{why} with npm{download} ...", flush=True)
    build_frontend()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiohttp.access", "httpx", "httpx2"):  # a line per request; the OpenAI SDK's client is httpx(2)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    pusher_port = args.pusher_port
    if pusher_port is None and args.port == 0:
        pusher_port = 0
    try:
        options = LaunchOptions.from_env(
            os.environ, host=args.host, port=args.port, pusher_port=pusher_port, data_dir=args.data_dir
        )
        _prepare_frontend(args.rebuild)
        _run(options)
    except LaunchError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except BuildError as error:
        print(f"{PROG}: could not build the frontend: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the servers started (during a rebuild, say): nothing to clean up
        return 130
    return 0


def _run(options: LaunchOptions) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(options))
    else:
        uvloop.run(_serve(options))
