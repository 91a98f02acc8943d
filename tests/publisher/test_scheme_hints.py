"""A client built with ``host``/``port`` and no scheme speaks https, as Pusher's SDKs do. Against a plain http server
that must fail with an error that names the scheme it used and how to pick http, not a bare SSL error or a timeout.

A plain server either answers the TLS ClientHello with an HTTP 400 (pusherpy, aiohttp, http.server: the handshake
fails at once) or waits for a request head that never comes (the timeout, then the same advice).
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pusherpy.publisher import AsyncPusher, ConnectionFailed, Pusher, Timeout
from tests.helpers import DEADLINE, RunningServer, connect
from tests.scale_out.secured import Tls

from . import publish_once
from .conftest import EitherClient

SLOW_TIMEOUT = DEADLINE * 4
"""A client timeout long enough that an error well before it can only be the handshake failing at once."""
QUICK_TIMEOUT = 0.5
"""A client timeout for the cases that must end in a timeout."""
REPO = Path(__file__).resolve().parents[2]


def either(kind: str, port: int, **options: Any) -> EitherClient:
    app = ("4242", "test-key", "test-secret")
    if kind == "sync":
        return EitherClient(kind, Pusher(*app, host="127.0.0.1", port=port, **options))
    return EitherClient(kind, AsyncPusher(*app, host="127.0.0.1", port=port, **options))


async def publish(client: EitherClient) -> dict[str, Any]:
    try:
        result: dict[str, Any] = await client.call("trigger", "news", "headline", {"title": "hi"})
        return result
    finally:
        if isinstance(client.client, AsyncPusher):
            await client.client.close()
        else:
            client.client.close()


def assert_names_https_and_the_fix(message: str, port: int) -> None:
    assert f"https://127.0.0.1:{port}" in message
    assert "plain http server?" in message
    assert "https is the default when no scheme is given: pass scheme='http'" in message
    assert f"http://key:secret@127.0.0.1:{port}/apps/4242" in message
    assert "test-secret" not in message


@pytest.fixture
async def head_waiting_port() -> AsyncIterator[int]:
    """A plain HTTP server that answers ``{}`` once a whole request head (and body) is in, and waits until then:
    a TLS ClientHello, which holds no blank line, leaves it waiting (as ReactPHP-style servers do)."""
    held: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("kind", ["sync", "async"])
class TestPlainServerWithoutScheme:
    async def test_pusherpy_refuses_the_handshake_and_the_error_names_https_and_the_fix_at_once(
        self, kind: str, server: RunningServer
    ) -> None:
        client = either(kind, server.port, timeout=SLOW_TIMEOUT)
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as caught:
            await publish(client)
        assert time.monotonic() - started < SLOW_TIMEOUT / 4
        message = str(caught.value)
        assert f"POST https://127.0.0.1:{server.port} did not complete TLS (SSL " in message
        assert_names_https_and_the_fix(message, server.port)

    async def test_with_scheme_http_the_same_server_gets_the_event(self, kind: str, server: RunningServer) -> None:
        async with connect(server) as alice:
            await alice.subscribe("news")
            assert await publish(either(kind, server.port, scheme="http")) == {}
            assert (await alice.expect("headline", channel="news"))["data"] == {"title": "hi"}

    async def test_a_server_waiting_for_a_request_head_times_out_naming_https_and_the_fix(
        self, kind: str, head_waiting_port: int
    ) -> None:
        with pytest.raises(Timeout) as caught:
            await publish(either(kind, head_waiting_port, timeout=QUICK_TIMEOUT))
        message = str(caught.value)
        opening = "did not complete TLS" if kind == "sync" else "did not open a TLS connection"
        assert f"POST https://127.0.0.1:{head_waiting_port} {opening} within 0.5 s: " in message
        assert_names_https_and_the_fix(message, head_waiting_port)
        assert await publish(either(kind, head_waiting_port, scheme="http")) == {}

    async def test_an_explicit_https_gets_the_question_without_the_default(
        self, kind: str, server: RunningServer
    ) -> None:
        with pytest.raises(ConnectionFailed) as caught:
            await publish(either(kind, server.port, scheme="https"))
        expected = rf"POST https://127\.0\.0\.1:{server.port} did not complete TLS \(SSL [A-Z_]+\): "
        assert re.fullmatch(expected + r"is it a plain http server\? then use http, not https", str(caught.value))


@pytest.fixture
async def unanswering_https_port(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """A real TLS server (certificate from a throwaway CA) whose handler never answers; yields (port, CA file)."""
    tls = await Tls.make(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    release = asyncio.Event()

    async def never_answer(_request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/apps/4242/events", never_answer)
    runner = web.AppRunner(app, shutdown_timeout=0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    assert runner.addresses
    yield runner.addresses[0][1], tls.ca
    release.set()
    await runner.cleanup()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_https_server_that_completes_tls_but_does_not_answer_is_a_plain_timeout(
    kind: str, unanswering_https_port: tuple[int, Path]
) -> None:
    port, ca = unanswering_https_port
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", publish_once.__name__, kind, str(port), str(QUICK_TIMEOUT),
        cwd=REPO, env={**os.environ, "SSL_CERT_FILE": str(ca)}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), DEADLINE * 2)
    assert output.decode().strip() == f"Timeout: POST https://127.0.0.1:{port}: no answer within 0.5 s"
