"""Real Laravel Echo clients spread over a cluster's nodes, for tests that break the cluster around them.

``echo_fleet`` starts ``echo_fleet.mjs`` (the real ``laravel-echo`` and ``pusher-js`` from ``tests/compat``), sends
it commands and collects what each client saw, in arrival order. Waits are conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pusherpy.protocol.apps import AppConfig

DRIVER = Path(__file__).with_name("echo_fleet.mjs")
COMPAT_MODULES = Path(__file__).resolve().parents[1] / "compat" / "node_modules"

Seen = dict[str, Any]


class EchoFleet:
    """The commands of ``echo_fleet.mjs``, and everything its clients reported."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.seen: list[Seen] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._process.stdout is not None
        while line := await self._process.stdout.readline():
            self.seen.append(json.loads(line))
            self._changed.set()

    async def _send(self, **command: Any) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command).encode() + b"\n")
        await self._process.stdin.drain()

    async def wait_for(self, check: Callable[[Seen], bool], what: str, timeout: float = 5.0) -> Seen:
        """The first report (already seen or still to come) that passes ``check``."""
        deadline = time.monotonic() + timeout
        while True:
            for report in self.seen:
                if check(report):
                    return report
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._reader.done():
                raise AssertionError(f"{what}: not seen within {timeout} s; last reports: {self.seen[-5:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def reports(self, client: str, kind: str) -> list[Seen]:
        return [report for report in self.seen if report["client"] == client and report["type"] == kind]

    def events(self, client: str, event: str) -> list[Any]:
        """The data of every ``event`` the client received, in arrival order."""
        return [report["data"] for report in self.reports(client, "event") if report["event"] == event]

    async def connect(self, client: str, port: int) -> None:
        await self._send(op="connect", client=client, port=port)
        await self.wait_for(lambda r: r["client"] == client and r["type"] == "connected", f"{client} connected")

    async def join(self, client: str, room: str) -> list[str]:
        """Echo.join(room): returns the user ids of ``here``."""
        await self._send(op="join", client=client, room=room)
        here = await self.wait_for(
            lambda r: r["client"] == client and r["type"] == "here" and r["room"] == room, f"{client}'s here()"
        )
        return list(here["users"])

    async def listen(self, client: str, channel: str, event: str) -> None:
        await self._send(op="listen", client=client, channel=channel, event=event)
        await self.wait_for(
            lambda r: r["client"] == client and r["type"] == "subscribed" and r["channel"] == channel,
            f"{client} subscribed to {channel}",
        )

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._send(op="exit")
        try:
            await asyncio.wait_for(self._process.wait(), 5)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@asynccontextmanager
async def echo_fleet(app: AppConfig) -> AsyncIterator[EchoFleet]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the Laravel Echo scale-out tests"
    assert (COMPAT_MODULES / "laravel-echo").is_dir(), "run `npm ci --prefix tests/compat` first"
    env = {
        **os.environ,
        # What tests/compat/lib/harness.mjs reads; the port is a placeholder, each client names its node.
        "COMPAT_HOST": "127.0.0.1",
        "COMPAT_PORT": "1",
        "COMPAT_APP_ID": app.id,
        "COMPAT_APP_KEY": app.key,
        "COMPAT_APP_SECRET": app.secret,
        "COMPAT_MASTER_KEY_BASE64": base64.b64encode(bytes(32)).decode(),
    }
    process = await asyncio.create_subprocess_exec(
        node, str(DRIVER), env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    fleet = EchoFleet(process)
    try:
        await fleet.wait_for(lambda r: r["type"] == "ready", "the Echo fleet driver starting")
        yield fleet
    finally:
        await fleet.close()
