"""A tiny client for the console's HTTP side in tests: log in, keep the cookie, read the SSE log, post events."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.helpers import DEADLINE, RunningServer

COOKIE = "pusherpy_console"


@dataclass
class ConsoleSession:
    """A browser's view of the console: its cookie and the CSRF token of its page."""

    server: RunningServer
    http: aiohttp.ClientSession
    cookie: str = ""
    csrf: str = ""

    @property
    def origin(self) -> str:
        return self.server.http_url

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Origin": self.origin, **extra}
        if self.cookie:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        return headers

    async def login(self, password: str) -> aiohttp.ClientResponse:
        response = await self.http.post(
            f"{self.origin}/console/login",
            data={"password": password},
            headers=self.headers(),
            allow_redirects=False,
        )
        morsel = response.cookies.get(COOKIE)
        if morsel is not None:
            self.cookie = morsel.value
        return response

    async def load_page(self) -> str:
        """GET /console and keep the CSRF token the page carries."""
        async with self.http.get(f"{self.origin}/console", headers=self.headers()) as response:
            text = await response.text()
        match = re.search(r'name="pusherpy-csrf" content="([0-9a-f]+)"', text)
        if match:
            self.csrf = match.group(1)
        return text

    async def get_json(self, path: str) -> tuple[int, Any]:
        async with self.http.get(f"{self.origin}/console/api{path}", headers=self.headers()) as response:
            return response.status, await response.json(content_type=None)

    async def send_event(self, app_id: str, body: Any, **headers: str) -> tuple[int, Any]:
        all_headers = self.headers(**{"X-Pusherpy-CSRF": self.csrf, **headers})
        async with self.http.post(
            f"{self.origin}/console/api/apps/{app_id}/events", json=body, headers=all_headers
        ) as response:
            return response.status, await response.json(content_type=None)

    @asynccontextmanager
    async def log(self, app_id: str) -> AsyncIterator[LogReader]:
        response = await self.http.get(f"{self.origin}/console/api/apps/{app_id}/log", headers=self.headers())
        try:
            assert response.status == 200, await response.text()
            assert response.headers["Content-Type"].startswith("text/event-stream")
            yield LogReader(response)
        finally:
            response.close()


@dataclass
class LogReader:
    """Server-Sent Events as (event name, decoded data) pairs, in order."""

    response: aiohttp.ClientResponse
    seen: list[tuple[str, Any]] = field(default_factory=list)

    async def next_event(self, timeout: float = DEADLINE) -> tuple[str, Any]:
        name, data = "message", ""
        async with asyncio.timeout(timeout):
            while True:
                line = (await self.response.content.readline()).decode().rstrip("\n")
                if line == "" and data:
                    event = (name, json.loads(data))
                    self.seen.append(event)
                    return event
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    data += line[len("data: ") :]

    async def entry(self, kind: str, timeout: float = DEADLINE, **fields: Any) -> dict[str, Any]:
        """The next log entry of ``kind`` whose fields include ``fields`` (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                name, data = await self.next_event(timeout)
                if name == "message" and data["kind"] == kind and all(data.get(k) == v for k, v in fields.items()):
                    return dict(data)


@asynccontextmanager
async def console_session(server: RunningServer) -> AsyncIterator[ConsoleSession]:
    async with aiohttp.ClientSession() as http:
        yield ConsoleSession(server, http)
