"""A small DSL for talking to a real pusherpy server in tests: connect, subscribe, trigger, expect.

Everything goes over real sockets. Waits are conditions with deadlines, never sleeps.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from pusherpy.protocol import signing
from pusherpy.protocol.apps import AppConfig
from pusherpy.server.app import create_app
from pusherpy.server.broker.base import Broker, WebhookSink
from pusherpy.server.listener import PusherSite
from pusherpy.server.settings import Settings

DEADLINE = 5.0
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RunningServer:
    """A pusherpy server serving on 127.0.0.1 and a free port."""

    settings: Settings
    application: web.Application
    runner: web.AppRunner
    port: int
    host: str = "127.0.0.1"

    @property
    def app(self) -> AppConfig:
        return self.settings.apps[0]

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws_url(self, key: str | None = None, **query: str) -> str:
        params = {"protocol": "7", "client": "js", "version": "8.4.0", **query}
        query_text = "&".join(f"{k}={v}" for k, v in params.items())
        return f"ws://{self.host}:{self.port}/app/{key or self.app.key}?{query_text}"


@asynccontextmanager
async def serve(
    settings: Settings, *, webhooks: WebhookSink | None = None, broker: Broker | None = None
) -> AsyncIterator[RunningServer]:
    """Serve ``create_app(settings)`` (with ``broker`` rather than the one the settings choose, if given) on
    127.0.0.1 port 0 and read the bound port back."""
    application = create_app(settings, webhooks=webhooks, broker=broker)
    runner = web.AppRunner(application, shutdown_timeout=2.0)
    await runner.setup()
    site = PusherSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield RunningServer(settings, application, runner, port)
    finally:
        await bounded_cleanup(runner)


CLEANUP_DEADLINE = 30.0
"""A server stops within its shutdown_timeout plus a Redis round trip or two; far past that it hangs."""


async def bounded_cleanup(runner: web.AppRunner) -> None:
    """Stop a server; if that hangs, fail with where every task is waiting (pytest-timeout shows threads only)."""
    try:
        async with asyncio.timeout(CLEANUP_DEADLINE):
            await runner.cleanup()
    except TimeoutError:
        raise AssertionError(f"server cleanup hung for {CLEANUP_DEADLINE:g} s; tasks:\n{task_stacks()}") from None


def task_stacks() -> str:
    """Every task of the running loop, with the stack it waits in."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=out)
    return out.getvalue()


@asynccontextmanager
async def post_endpoint(path: str, handler: RouteHandler) -> AsyncIterator[str]:
    """Serve one POST route on 127.0.0.1 and a free port (a backend's webhook receiver, say); yield its URL."""
    application = web.Application()
    application.router.add_post(path, handler)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{path}"
    finally:
        await runner.cleanup()


def make_app(**overrides: Any) -> AppConfig:
    values: dict[str, Any] = {"id": "4242", "key": "test-key", "secret": "test-secret"}
    values.update(overrides)
    return AppConfig(**values)


def make_settings(*apps: AppConfig, **overrides: Any) -> Settings:
    return Settings(apps=apps or (make_app(),), uses_dev_app=False, **overrides)


@dataclass
class PusherClient:
    """One raw protocol-7 WebSocket client, decoding each frame (inner ``data`` included)."""

    ws: aiohttp.ClientWebSocketResponse
    app: AppConfig
    socket_id: str = ""
    backlog: list[dict[str, Any]] = field(default_factory=list)

    async def receive(self, timeout: float = DEADLINE) -> dict[str, Any]:
        """The next message, with a string ``data`` decoded when it is JSON."""
        if self.backlog:
            return self.backlog.pop(0)
        message = await asyncio.wait_for(self.ws.receive(), timeout)
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {message.type!r} {message.data!r} {message.extra!r}")
        return decode(message.data)

    async def expect(self, event: str, *, channel: str | None = None, timeout: float = DEADLINE) -> dict[str, Any]:
        """Wait for an event by name (and channel), keeping the others for later ``receive`` calls."""
        deadline = time.monotonic() + timeout
        skipped: list[dict[str, Any]] = []
        try:
            for index, message in enumerate(self.backlog):
                if message["event"] == event and (channel is None or message.get("channel") == channel):
                    return self.backlog.pop(index)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {event!r} within {timeout} s; got {skipped}")
                message = await asyncio.wait_for(self.ws.receive(), remaining)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"waiting for {event!r}, got {message.type!r} {message.data!r}")
                decoded = decode(message.data)
                if decoded["event"] == event and (channel is None or decoded.get("channel") == channel):
                    return decoded
                skipped.append(decoded)
        finally:
            self.backlog.extend(skipped)

    async def expect_nothing(self, within: float = 0.3) -> None:
        """Assert that no text message arrives within ``within`` seconds (a bounded wait for an absence)."""
        assert not self.backlog, f"unexpected messages: {self.backlog}"
        try:
            message = await asyncio.wait_for(self.ws.receive(), within)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {message.type!r} {message.data!r}")

    async def expect_close(self, timeout: float = DEADLINE) -> int | None:
        """Read until the server closes the socket; return the close code."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("socket was not closed in time")
            message = await asyncio.wait_for(self.ws.receive(), remaining)
            if message.type is aiohttp.WSMsgType.CLOSE:
                # The code in the server's close frame; ws.close_code can turn 1006 while autoclose replies.
                return int(message.data)
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return self.ws.close_code
            if message.type is aiohttp.WSMsgType.TEXT:
                self.backlog.append(decode(message.data))

    async def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        message: dict[str, Any] = {"event": event, "data": data if data is not None else {}}
        if channel is not None:
            message["channel"] = channel
        await self.ws.send_str(json.dumps(message))

    async def subscribe(
        self,
        channel: str,
        *,
        user_id: str | None = None,
        user_info: Any = None,
        auth: str | None = None,
        resume_after: int | None = None,
    ) -> dict[str, Any]:
        """Subscribe, signing private/presence/encrypted channels with the app's secret; returns the reply.

        ``resume_after`` is signed into ``channel_data`` as a backend does for a subscriber resuming a history.
        """
        data: dict[str, Any] = {"channel": channel}
        resume = {} if resume_after is None else {"resume_after": resume_after}
        if channel.startswith("presence-"):
            channel_data = json.dumps({"user_id": user_id or "u1", "user_info": user_info, **resume})
            data["channel_data"] = channel_data
            data["auth"] = auth or signing.sign_channel(
                self.app.key, self.app.secret, self.socket_id, channel, channel_data
            )
        elif channel.startswith("private-") and resume:
            data["channel_data"] = json.dumps(resume)
            data["auth"] = auth or signing.sign_channel(
                self.app.key, self.app.secret, self.socket_id, channel, data["channel_data"]
            )
        elif channel.startswith("private-"):
            data["auth"] = auth or signing.sign_channel(self.app.key, self.app.secret, self.socket_id, channel)
        elif auth is not None:
            data["auth"] = auth
        await self.send("pusher:subscribe", data)
        return await self.expect_reply_for(channel)

    async def expect_reply_for(self, channel: str) -> dict[str, Any]:
        """The server's answer to a subscription: subscription_succeeded, or an error about that channel."""
        deadline = time.monotonic() + DEADLINE
        skipped: list[dict[str, Any]] = []
        try:
            while time.monotonic() < deadline:
                message = await self.receive(deadline - time.monotonic())
                if message.get("channel") == channel and message["event"] in (
                    "pusher_internal:subscription_succeeded",
                    "pusher:error",
                    "pusher:subscription_error",
                ):
                    return message
                skipped.append(message)
            raise AssertionError(f"no reply for {channel} in time; got {skipped}")
        finally:
            self.backlog.extend(skipped)

    async def sign_in(self, user_id: str, *, watchlist: list[str] | None = None, user_info: Any = None) -> None:
        user: dict[str, Any] = {"id": user_id}
        if user_info is not None:
            user["user_info"] = user_info
        if watchlist is not None:
            user["watchlist"] = watchlist
        user_data = json.dumps(user)
        auth = signing.sign_user(self.app.key, self.app.secret, self.socket_id, user_data)
        await self.send("pusher:signin", {"auth": auth, "user_data": user_data})

    async def close(self) -> None:
        await self.ws.close()


def decode(text: str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(text)
    data = message.get("data")
    if isinstance(data, str):
        try:
            message["data"] = json.loads(data)
        except ValueError:
            pass
    return message


@asynccontextmanager
async def connect(
    server: RunningServer, *, app: AppConfig | None = None, headers: dict[str, str] | None = None, **query: str
) -> AsyncIterator[PusherClient]:
    """Open a connection and wait for ``pusher:connection_established``."""
    app = app or server.app
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url(app.key, **query), headers=headers, autoping=True)
        client = PusherClient(ws, app)
        established = await client.receive()
        assert established["event"] == "pusher:connection_established", established
        client.socket_id = established["data"]["socket_id"]
        try:
            yield client
        finally:
            await ws.close()


async def api_request(
    server: RunningServer,
    method: str,
    path: str,
    *,
    body: Any = None,
    params: dict[str, str] | None = None,
    app: AppConfig | None = None,
    timestamp: int | None = None,
) -> tuple[int, Any]:
    """Send a signed HTTP API request; return (status, decoded JSON body)."""
    app = app or server.app
    raw = json.dumps(body).encode() if body is not None else b""
    query = signing.signed_query(
        app.key, app.secret, method, path, timestamp=timestamp or int(time.time()), body=raw, params=params
    )
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method,
            server.http_url + path,
            params=query,
            data=raw or None,
            headers={"Content-Type": "application/json"},
        ) as response:
            return response.status, await response.json(content_type=None)


async def trigger(
    server: RunningServer,
    channels: str | list[str],
    event: str,
    data: Any,
    *,
    socket_id: str | None = None,
    info: str | None = None,
    app: AppConfig | None = None,
) -> tuple[int, Any]:
    app = app or server.app
    body: dict[str, Any] = {"name": event, "data": data if isinstance(data, str) else json.dumps(data)}
    body["channels"] = [channels] if isinstance(channels, str) else channels
    if socket_id is not None:
        body["socket_id"] = socket_id
    if info is not None:
        body["info"] = info
    return await api_request(server, "POST", f"/apps/{app.id}/events", body=body, app=app)


@asynccontextmanager
async def running_web_app(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp application (a test's backend) on 127.0.0.1, a free port; yield its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
