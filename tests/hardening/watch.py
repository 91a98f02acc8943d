"""``unharmed(server)``: proof that an attack hurt only the attacker.

While the block runs, a bystander socket subscribed to a private channel receives a numbered event every few
milliseconds, published through the signed HTTP API. On a clean exit it checks that the bystander got every one,
in order, with no stall, and that a brand-new connection can still connect, subscribe and receive.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import aiohttp

from pusherpy.protocol import signing
from pusherpy.protocol.apps import AppConfig
from tests.helpers import DEADLINE, PusherClient, RunningServer, connect, decode, trigger

WATCH_CHANNEL = "private-hardening-watch"
MAX_STALL_SECONDS = 1.5
"""The longest the bystander may go without an event; generous for a loaded CI machine, far below any timeout."""


@dataclass
class Watch:
    """What the bystander saw."""

    sent: int = 0
    received: list[int] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)


async def _publish(session: aiohttp.ClientSession, server: RunningServer, app: AppConfig, number: int) -> None:
    path = f"/apps/{app.id}/events"
    body = json.dumps({"name": "tick", "channel": WATCH_CHANNEL, "data": json.dumps({"n": number})}).encode()
    query = signing.signed_query(app.key, app.secret, "POST", path, timestamp=int(time.time()), body=body)
    async with session.post(server.http_url + path, params=query, data=body) as response:
        assert response.status == 200, await response.text()


async def _read(bystander: PusherClient, watch: Watch) -> None:
    loop = asyncio.get_running_loop()
    while True:
        message = await bystander.ws.receive()
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"the bystander lost its socket: {message.type!r} {message.data!r}")
        decoded = decode(message.data)
        if decoded["event"] == "pusher:ping":
            await bystander.send("pusher:pong")
        elif decoded["event"] == "tick":
            watch.received.append(decoded["data"]["n"])
            watch.received_at.append(loop.time())


@asynccontextmanager
async def unharmed(
    server: RunningServer, *, app: AppConfig | None = None, interval: float = 0.01
) -> AsyncIterator[Watch]:
    """Run the block while a bystander of ``app`` (the server's first by default) keeps receiving; then check."""
    app = app or server.app
    watch = Watch()
    connector = aiohttp.TCPConnector(limit=1)  # one keep-alive connection, so churn tests can count descriptors
    async with aiohttp.ClientSession(connector=connector) as session, connect(server, app=app) as bystander:
        reply = await bystander.subscribe(WATCH_CHANNEL)
        assert reply["event"] == "pusher_internal:subscription_succeeded", reply
        reader = asyncio.create_task(_read(bystander, watch))

        stop = asyncio.Event()

        async def tick() -> None:
            while not stop.is_set():
                await _publish(session, server, app, watch.sent)
                watch.sent += 1
                with suppress(TimeoutError):  # pacing of the publisher, not a synchronisation
                    await asyncio.wait_for(stop.wait(), interval)

        ticker = asyncio.create_task(tick())
        try:
            try:
                deadline = time.monotonic() + DEADLINE  # the bystander is receiving before the block starts
                while not watch.received:
                    assert time.monotonic() < deadline and not reader.done(), "the bystander never received a tick"
                    await asyncio.sleep(0.005)
                yield watch
            finally:
                stop.set()
                await asyncio.wait_for(ticker, DEADLINE)
            # A last, awaited tick: once it arrives every earlier one must have.
            await _publish(session, server, app, watch.sent)
            watch.sent += 1
            deadline = time.monotonic() + DEADLINE
            while len(watch.received) < watch.sent and time.monotonic() < deadline and not reader.done():
                await asyncio.sleep(0.01)
            if reader.done():
                reader.result()  # the bystander's socket failed: raise why
        finally:
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader
    assert watch.received == list(range(watch.sent)), f"bystander missed events: {watch.sent} sent, got {watch}"
    gaps = [b - a for a, b in zip(watch.received_at, watch.received_at[1:], strict=False)]
    assert max(gaps, default=0.0) < MAX_STALL_SECONDS, f"bystander stalled for {max(gaps):.2f} s"
    await assert_accepts_new_connections(server, app)


async def assert_accepts_new_connections(server: RunningServer, app: AppConfig | None = None) -> None:
    """A new socket connects, subscribes and receives an event."""
    app = app or server.app
    async with connect(server, app=app) as newcomer:
        reply = await newcomer.subscribe("hardening-newcomer")
        assert reply["event"] == "pusher_internal:subscription_succeeded", reply
        status, _ = await trigger(server, "hardening-newcomer", "hello", {"ok": True}, app=app)
        assert status == 200
        event = await newcomer.expect("hello", channel="hardening-newcomer")
        assert event["data"] == {"ok": True}
