"""Fixtures for the publisher tests: a recording HTTP API server, and both clients behind one interface.

The recording server is a real aiohttp server on 127.0.0.1 port 0. It checks every request's Pusher signature
with ``pusherpy.protocol.signing`` (path, sorted query, body_md5) exactly as a Pusher server must, records what
arrived, and answers with whatever the test scripted (``{}`` by default).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pusherpy.protocol import codec, signing
from pusherpy.publisher import AsyncPusher, Pusher

APP_ID = "4242"
KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
MASTER_KEY_B64 = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="  # "01234567890123456789012345678901"


@dataclass
class Recorded:
    """One request as the server saw it, after its signature was verified."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]
    peer_port: int
    transport: asyncio.Transport | None = field(default=None, repr=False)

    @property
    def json(self) -> Any:
        return codec.loads(self.body)


@dataclass
class RecordingServer:
    """A signature-checking HTTP API stand-in; ``reply`` scripts the next answers, ``requests`` records."""

    server: TestServer
    requests: list[Recorded] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)
    delay: float = 0.0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def reply(self, status: int, body: Any) -> None:
        self.replies.append((status, body if isinstance(body, str) else codec.dumps(body)))

    def pusher(self, **options: Any) -> Pusher:
        return Pusher(APP_ID, KEY, SECRET, host="127.0.0.1", port=self.port, scheme="http", **options)

    def async_pusher(self, **options: Any) -> AsyncPusher:
        return AsyncPusher(APP_ID, KEY, SECRET, host="127.0.0.1", port=self.port, scheme="http", **options)


async def _handle(request: web.Request) -> web.Response:
    recorder: RecordingServer = request.app[RECORDER]
    body = await request.read()
    query = {key: request.query[key] for key in request.query}
    # The check a Pusher server makes, written out independently of the client under test.
    problems = []
    if query.get("auth_key") != KEY:
        problems.append("auth_key")
    if abs(int(query.get("auth_timestamp", "0")) - time.time()) > signing.TIMESTAMP_WINDOW_SECONDS:
        problems.append("auth_timestamp")
    if query.get("auth_version") != "1.0":
        problems.append("auth_version")
    if (body or "body_md5" in query) and query.get("body_md5") != signing.body_md5(body):
        problems.append("body_md5")
    expected = signing.sign_request(SECRET, request.method, request.path, query)
    if not signing.constant_time_equals(query.get("auth_signature", ""), expected):
        problems.append("auth_signature")
    if problems:
        return web.json_response({"error": f"bad {', '.join(problems)}"}, status=401)
    peer = request.transport.get_extra_info("peername") if request.transport else None
    recorder.requests.append(
        Recorded(
            request.method,
            request.path,
            query,
            body,
            dict(request.headers),
            peer[1] if peer else 0,
            request.transport,
        )
    )
    recorder.arrived.set()
    if recorder.delay:
        await asyncio.sleep(recorder.delay)
    status, text = recorder.replies.pop(0) if recorder.replies else (200, "{}")
    return web.Response(status=status, text=text, content_type="application/json")


RECORDER = web.AppKey("recorder", RecordingServer)


_T = TypeVar("_T")


@asynccontextmanager
async def answering_every_path(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    key: web.AppKey[_T],
    make: Callable[[TestServer], _T],
) -> AsyncIterator[_T]:
    """Serve ``handler`` for every method and path on 127.0.0.1 (a free port), with ``make(server)`` as its
    state under ``key``; yield that state."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    state = make(server)
    app[key] = state
    await server.start_server()
    try:
        yield state
    finally:
        await server.close()


@pytest.fixture
async def recording_server() -> AsyncIterator[RecordingServer]:
    async with answering_every_path(_handle, RECORDER, RecordingServer) as recorder:
        yield recorder


Call = Callable[..., Awaitable[Any]]


@dataclass
class EitherClient:
    """``Pusher`` or ``AsyncPusher`` behind one awaitable ``call``; the sync one runs in a worker thread."""

    kind: str
    client: Pusher | AsyncPusher

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        bound = getattr(self.client, method)
        if isinstance(self.client, Pusher):
            return await asyncio.to_thread(bound, *args, **kwargs)
        return await bound(*args, **kwargs)


@pytest.fixture(params=["sync", "async"])
async def client(request: pytest.FixtureRequest, recording_server: RecordingServer) -> AsyncIterator[EitherClient]:
    """Each test using this runs twice: with the blocking client and with the asyncio client."""
    if request.param == "sync":
        with recording_server.pusher(encryption_master_key_base64=MASTER_KEY_B64) as pusher:
            yield EitherClient("sync", pusher)
    else:
        async with recording_server.async_pusher(encryption_master_key_base64=MASTER_KEY_B64) as async_pusher:
            yield EitherClient("async", async_pusher)
