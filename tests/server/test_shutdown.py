"""Graceful shutdown of ``pusherpy serve``: on SIGTERM or SIGINT every socket is closed with 4200 (pusher-js
reconnects at once, to another node or to this one when it is back) and the process exits 0 within seconds."""

from __future__ import annotations

import asyncio
import signal
import time
from contextlib import AsyncExitStack

import pytest

from tests.helpers import PusherClient, make_app
from tests.server.serve_process import serving

APP = make_app(id="1", key="shutdown-key", secret="shutdown-secret")
CLI_APP = ("--app-id", APP.id, "--app-key", APP.key, "--app-secret", APP.secret)
EXIT_WITHIN_SECONDS = 3.0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_closes_every_socket_with_4200_and_exits_0(signum: signal.Signals) -> None:
    async with serving(*CLI_APP) as process, AsyncExitStack() as stack:
        idle: PusherClient = await stack.enter_async_context(process.connect(APP))
        public = await stack.enter_async_context(process.connect(APP))
        await public.subscribe("news")
        member = await stack.enter_async_context(process.connect(APP))
        await member.subscribe("presence-room", user_id="alice")
        signed_in = await stack.enter_async_context(process.connect(APP))
        await signed_in.sign_in("bob")
        await signed_in.expect("pusher:signin_success")

        started = time.monotonic()
        process.process.send_signal(signum)
        codes = await asyncio.gather(*(client.expect_close() for client in (idle, public, member, signed_in)))
        assert codes == [4200, 4200, 4200, 4200]
        assert await process.wait_exit(EXIT_WITHIN_SECONDS) == 0
        assert time.monotonic() - started < EXIT_WITHIN_SECONDS


async def test_signal_with_no_sockets_exits_0_at_once() -> None:
    async with serving(*CLI_APP) as process:
        started = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        assert await process.wait_exit(EXIT_WITHIN_SECONDS) == 0
        assert time.monotonic() - started < 1.5


async def test_client_that_ignores_the_close_does_not_hold_up_the_exit() -> None:
    """A peer that never answers the close frame is cut off after a bounded grace, and the process still exits 0."""
    async with serving(*CLI_APP, env={"PUSHERPY_SHUTDOWN_TIMEOUT": "1"}) as process:
        reader, writer = await asyncio.open_connection(process.host, process.port)
        try:
            writer.write(
                f"GET /app/{APP.key}?protocol=7 HTTP/1.1\r\nHost: {process.host}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101")
            started = time.monotonic()
            process.process.send_signal(signal.SIGTERM)  # and never read, never answer the close
            assert await process.wait_exit(EXIT_WITHIN_SECONDS + 2) == 0
            assert time.monotonic() - started < EXIT_WITHIN_SECONDS + 2
        finally:
            writer.close()
