"""Real pusher-js clients (Node, ``pusher_js_clients.mjs``) that a test steps through: connect, join, whisper,
disconnect; every line they print is kept and awaited with a deadline."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pusherpy.protocol.apps import AppConfig

SCRIPT = Path(__file__).parent / "pusher_js_clients.mjs"
NODE_MODULES = Path(__file__).parents[1] / "compat" / "node_modules"
DEADLINE = 10.0


@dataclass
class PusherJsClients:
    process: asyncio.subprocess.Process
    seen: list[dict[str, Any]] = field(default_factory=list)
    socket_ids: dict[str, str] = field(default_factory=dict)

    async def expect(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The first line (already seen or to come) that matches."""
        for line in self.seen:
            if predicate(line):
                return line
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(DEADLINE):
                while True:
                    raw = await self.process.stdout.readline()
                    if not raw:
                        raise AssertionError(f"pusher-js clients exited before {what}: {await self._stderr()}")
                    line = json.loads(raw)
                    self.seen.append(line)
                    if predicate(line):
                        return dict(line)
        except TimeoutError:
            raise AssertionError(f"no {what} within {DEADLINE} s; seen: {self.seen}") from None

    async def do(self, command: dict[str, Any], then: str) -> dict[str, Any]:
        """Send a command and wait for the line of type ``then`` from that client."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        client = command["client"]
        return await self.expect(lambda line: line["type"] == then and line.get("client") == client, then)

    async def _stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()


@asynccontextmanager
async def pusher_js_clients(host: str, port: int, app: AppConfig, users: list[str]) -> AsyncIterator[PusherJsClients]:
    """Start one pusher-js client per user (labelled by the user id), all connected when this yields."""
    node = shutil.which("node")
    assert node is not None and NODE_MODULES.is_dir(), "node and tests/compat/node_modules (npm ci) are needed"
    env = {
        **os.environ,
        "COMPAT_HOST": host,
        "COMPAT_PORT": str(port),
        "COMPAT_APP_ID": app.id,
        "COMPAT_APP_KEY": app.key,
        "COMPAT_APP_SECRET": app.secret,
        "COMPAT_MASTER_KEY_BASE64": base64.b64encode(os.urandom(32)).decode(),
    }
    spec = json.dumps([{"label": user, "user": user} for user in users])
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        spec,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    clients = PusherJsClients(process)
    try:
        ready = await clients.expect(lambda line: line["type"] == "ready", "the clients' connections")
        clients.socket_ids = ready["clients"]
        yield clients
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            async with asyncio.timeout(DEADLINE):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
