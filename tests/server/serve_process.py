"""``pusherpy serve`` as a real subprocess, for the CLI and shutdown tests.

The child gets an environment without any ``PUSHERPY_*``, ``REVERB_*`` or ``PUSHER_*`` variable of the machine
running the tests (plus whatever a test passes), and is killed if a test leaves it running.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from pusherpy.protocol.apps import AppConfig
from tests.helpers import DEADLINE, PusherClient

T = TypeVar("T")

LISTENING = re.compile(r"^pusherpy listening on (?P<scheme>https?)://(?P<host>[^\s:]+):(?P<port>\d+)$")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHERPY_", "REVERB_", "PUSHER_"))}
    env.update(extra or {})
    return env


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    scheme: str = "http"
    host: str = ""
    port: int = 0
    banner: list[str] = field(default_factory=list)
    """Every stdout line up to and including the pusher-js snippet."""

    @property
    def http_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @asynccontextmanager
    async def connect(self, app: AppConfig) -> AsyncIterator[PusherClient]:
        """A protocol-7 client of ``app`` (as ``tests.helpers.connect``), once connection_established arrived."""
        url = f"ws://{self.host}:{self.port}/app/{app.key}?protocol=7&client=js&version=8.4.0"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            client = PusherClient(ws, app)
            established = await client.receive()
            assert established["event"] == "pusher:connection_established", established
            client.socket_id = established["data"]["socket_id"]
            yield client

    async def wait_exit(self, timeout: float = DEADLINE) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await asyncio.wait_for(self.process.stderr.read(), DEADLINE)).decode()


async def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run ``python -m pusherpy ARGS`` to completion; return (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pusherpy",
        *args,
        env=clean_env(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), DEADLINE * 2)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@asynccontextmanager
async def serving(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> AsyncIterator[ServerProcess]:
    """Start ``python -m pusherpy serve --port 0 ARGS`` and wait until it prints where it listens.

    The banner is read until its last line (the pusher-js snippet), so every line of it is in ``banner``.
    ``preexec_fn`` runs in the child before pusherpy starts (to set a resource limit, as a shell's ``ulimit``).
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pusherpy",
        "serve",
        "--port",
        "0",
        *args,
        env=clean_env(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec_fn,
    )
    running = ServerProcess(process)
    try:
        assert process.stdout is not None
        async with asyncio.timeout(DEADLINE * 2):
            while True:
                line = (await process.stdout.readline()).decode()
                if not line:
                    stderr = await running.stderr()
                    raise AssertionError(f"pusherpy serve exited before listening: {stderr}")
                running.banner.append(line.rstrip("\n"))
                match = LISTENING.match(line.strip())
                if match:
                    running.scheme, running.host, running.port = match["scheme"], match["host"], int(match["port"])
                if "enabledTransports" in line:  # the last line of the banner
                    break
        yield running
    finally:
        if process.returncode is None:
            process.kill()
        with suppress(ProcessLookupError):
            await process.wait()


async def stopped(server: ServerProcess) -> str:
    """Stop the server as a supervisor would (SIGTERM), check it exits cleanly, and return what it logged."""
    server.process.send_signal(signal.SIGTERM)
    assert await server.wait_exit() == 0
    return await server.stderr()


def banner_block(banner: list[str], heading: str) -> list[str]:
    """The indented lines under the banner line that starts with ``heading``, up to a blank line or the end."""
    start = next(index for index, line in enumerate(banner) if line.startswith(heading)) + 1
    end = banner.index("", start) if "" in banner[start:] else len(banner)
    return [line.strip() for line in banner[start:end]]


COMPAT = Path(__file__).resolve().parents[1] / "compat"


async def pusher_js_runs_the_snippet(
    snippet: str, publish: Callable[[], Awaitable[T]], env: dict[str, str] | None = None
) -> tuple[dict[str, Any], T]:
    """Run a printed pusher-js snippet in the real pusher-js (tests/compat's scenario ``printed_snippet.mjs``);
    once it is subscribed to ``first-hour``, call ``publish``; return the event it received and what ``publish``
    returned."""
    node = await asyncio.create_subprocess_exec(
        "node",
        str(COMPAT / "scenarios" / "printed_snippet.mjs"),
        cwd=COMPAT,
        env={**os.environ, **(env or {}), "SNIPPET": snippet},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert node.stdout is not None and node.stderr is not None
    try:
        async with asyncio.timeout(20):
            first = (await node.stdout.readline()).decode().strip()
            assert first == "subscribed", f"{first!r} {(await node.stderr.read()).decode()}"
            published = await publish()
            received: dict[str, Any] = json.loads(await node.stdout.readline())
            assert await node.wait() == 0, (await node.stderr.read()).decode()
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
    return received, published
