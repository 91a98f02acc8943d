"""Dead and slow peers: a socket that goes silent is pinged then closed, one that never authorizes (when the app
asks for it) is closed, and one that stops reading is dropped as a slow consumer (4100) once its send buffer
passes the limit, while everyone else keeps receiving every event."""

from __future__ import annotations

import asyncio
import json
import time

from pusherpy.protocol import signing
from pusherpy.server.state import STATE
from tests.conftest import ServerFactory
from tests.hardening.watch import unharmed
from tests.hardening.wire import PONG, TEXT, RawSocket, client_frame
from tests.helpers import DEADLINE, RunningServer, api_request, connect, make_app


async def test_raw_socket_that_never_sends_anything_is_pinged_then_closed_with_4201(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(make_app(activity_timeout=1), pong_timeout=0.5)
    async with unharmed(server):
        silent = await RawSocket.open(server)
        started = time.monotonic()
        ping = await silent.next_message(timeout=3)
        assert ping["event"] == "pusher:ping"
        assert 0.9 < time.monotonic() - started < 2.5
        code, _ = await silent.expect_close(timeout=3)
        assert code == 4201
        await silent.close()


async def test_websocket_pong_frame_counts_as_activity(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(activity_timeout=1), pong_timeout=0.5)
    silent = await RawSocket.open(server)
    assert (await silent.next_message(timeout=3))["event"] == "pusher:ping"
    silent.send(client_frame(PONG, b""))  # a protocol-level answer is enough to stay
    silent.send(client_frame(TEXT, b'{"event":"pusher:ping","data":{}}'))
    assert (await silent.next_message())["event"] == "pusher:pong"
    await silent.close()


async def test_socket_that_never_authorizes_is_closed_with_4009_in_authorized_connections_mode(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(make_app(authorized_connections_only=True, auth_timeout=0.5))
    async with unharmed(server):
        idle = await RawSocket.open(server)
        authorized = await RawSocket.open(server)
        channel = "private-mine"
        auth = signing.sign_channel(server.app.key, server.app.secret, authorized.socket_id, channel)
        authorized.send_json({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}})
        assert (await authorized.next_message())["event"] == "pusher_internal:subscription_succeeded"
        code, _ = await idle.expect_close(timeout=3)
        assert code == 4009
        authorized.send_json({"event": "pusher:ping", "data": {}})
        assert (await authorized.next_message())["event"] == "pusher:pong"
        await idle.close()
        await authorized.close()


async def metric(server: RunningServer, name: str) -> float:
    """A counter or gauge of the server's first app, from GET /metrics."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(server.http_url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(f"pusherpy_{name}") and f'app_id="{server.app.id}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def flood_until_dropped(server: RunningServer, padding: str) -> int:
    """Publish batches of 10 events of ~60 KB to "firehose" until a slow consumer is dropped; return how many."""
    published = 0
    deadline = time.monotonic() + 20
    while await metric(server, "slow_consumers_dropped_total") == 0:
        assert time.monotonic() < deadline, f"no one dropped after {published} events of 60 KB"
        batch = [
            {"name": "big", "channel": "firehose", "data": json.dumps({"n": published + i, "pad": padding})}
            for i in range(10)
        ]
        status, _ = await api_request(server, "POST", f"/apps/{server.app.id}/batch_events", body={"batch": batch})
        assert status == 200
        published += 10
    return published


async def test_socket_that_stops_reading_is_dropped_with_4100_and_the_others_get_every_event(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(
        make_app(max_event_payload_kb=100), send_buffer_limit_bytes=256 * 1024, max_request_body_bytes=1024 * 1024
    )
    async with unharmed(server), connect(server) as healthy:
        await healthy.subscribe("firehose")
        stalled = await RawSocket.open(server, receive_buffer=4096)
        stalled.send_json({"event": "pusher:subscribe", "data": {"channel": "firehose"}})
        assert (await stalled.next_message())["event"] == "pusher_internal:subscription_succeeded"
        received: list[int] = []

        async def read_healthy() -> None:
            while True:
                received.append((await healthy.expect("big"))["data"]["n"])

        reader = asyncio.create_task(read_healthy())
        try:
            published = await flood_until_dropped(server, "x" * 60_000)
            deadline = time.monotonic() + DEADLINE
            while len(received) < published and time.monotonic() < deadline and not reader.done():
                await asyncio.sleep(0.01)
        finally:
            reader.cancel()
        assert received == list(range(published)), "the healthy subscriber missed events"
        state = server.application[STATE]
        deadline = time.monotonic() + DEADLINE  # gone once its grace period to flush the close frame is over
        while any(client.socket_id == stalled.socket_id for client in state.broker.local_clients()):
            assert time.monotonic() < deadline, "the dropped socket is still registered"
            await asyncio.sleep(0.02)
        # The stalled socket, reading at last, finds what fitted and then its close frame (4100), or a reset.
        try:
            code, _ = await stalled.expect_close(timeout=DEADLINE)
            assert code == 4100
        except (ConnectionResetError, asyncio.IncompleteReadError):
            pass
        await stalled.close()
