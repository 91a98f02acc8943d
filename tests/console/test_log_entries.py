"""The console log on one server: each kind of entry appears with its fields while an app is watched, and nothing
is recorded or held for an app nobody watches. Real sockets and real HTTP requests; the watcher is the hub's own
(``state.console.watch``), as the console page's stream uses it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pusherpy.protocol.console import PREVIEW_CHARS, LogEntry, LogKind
from pusherpy.server import http_events
from pusherpy.server.broker import announcer
from pusherpy.server.console import taps
from pusherpy.server.console.hub import RING_SIZE, WATCHER_QUEUE_SIZE
from pusherpy.server.state import STATE
from tests.console.watching import entries_until, has, one
from tests.helpers import RunningServer, api_request, connect, make_app, make_settings, serve, trigger

OTHER_APP = make_app(id="5151", key="other-key", secret="other-secret")


@pytest.fixture
async def server() -> RunningServer:
    async with serve(make_settings(make_app(), OTHER_APP)) as running:
        yield running


async def test_a_socket_s_life_is_logged_with_its_fields(server: RunningServer) -> None:
    console = server.application[STATE].console
    watcher = console.watch(server.app.id)
    async with connect(server, headers={"Origin": "https://example.test"}) as client:
        sid = client.socket_id
        await client.subscribe("room")
        await client.subscribe("presence-room", user_id="ann")
        await client.sign_in("ann")
        await client.expect("pusher:signin_success")
        await client.send("client-typing", {"who": "ann"}, channel="presence-room")
        await client.send("pusher:unsubscribe", {"channel": "room"})
        await client.subscribe("private-secret", auth="key:bad-signature")
        seen = await entries_until(watcher, has(LogKind.ERROR_SENT, socket_id=sid))

    seen += await entries_until(watcher, has(LogKind.MEMBER_REMOVED, channel="presence-room"))
    connected = one(seen, LogKind.CONNECTED, socket_id=sid)
    assert connected is not None and connected.origin == "https://example.test" and connected.at_ms > 0
    assert connected.node == ""  # one node: no node name
    assert one(seen, LogKind.SUBSCRIBED, socket_id=sid, channel="room", user_id="")
    assert one(seen, LogKind.OCCUPIED, channel="room")
    assert one(seen, LogKind.SUBSCRIBED, socket_id=sid, channel="presence-room", user_id="ann")
    assert one(seen, LogKind.MEMBER_ADDED, channel="presence-room", user_id="ann", socket_id=sid)
    assert one(seen, LogKind.SIGNED_IN, socket_id=sid, user_id="ann")
    whisper = one(seen, LogKind.CLIENT_EVENT, socket_id=sid, channel="presence-room", event="client-typing")
    assert whisper is not None and whisper.user_id == "ann"
    assert json.loads(whisper.preview) == {"who": "ann"} and whisper.size == len(whisper.preview)
    unsubscribed = one(seen, LogKind.UNSUBSCRIBED, socket_id=sid, channel="room", user_id="ann")
    assert seen.index(unsubscribed) < seen.index(one(seen, LogKind.VACATED, channel="room"))
    error = one(seen, LogKind.ERROR_SENT, socket_id=sid)
    assert error is not None and error.code == 4009 and error.channel == "private-secret"
    assert error.message == "private-secret: invalid signature"
    closed = one(seen, LogKind.DISCONNECTED, socket_id=sid)
    assert closed is not None and closed.code == 1000 and closed.user_id == "ann"
    assert one(seen, LogKind.MEMBER_REMOVED, channel="presence-room", user_id="ann")
    assert all(entry.app_id == server.app.id for entry in seen)


async def test_a_server_close_is_logged_with_its_code_and_reason() -> None:
    strict = make_app(authorized_connections_only=True, auth_timeout=0.2)
    async with serve(make_settings(strict)) as server:
        watcher = server.application[STATE].console.watch(strict.id)
        async with connect(server) as client:
            await client.ws.send_bytes(b"\x00")  # refused with a pusher:error; the socket stays open
            assert await client.expect_close() == 4009  # never authorized in time
        seen = await entries_until(watcher, has(LogKind.DISCONNECTED, socket_id=client.socket_id))
    error = one(seen, LogKind.ERROR_SENT, socket_id=client.socket_id)
    assert error is not None and "binary" in error.message
    closed = one(seen, LogKind.DISCONNECTED, socket_id=client.socket_id)
    assert closed is not None and closed.code == 4009 and closed.message == "sign in or join a private channel in time"


async def test_a_connection_lost_without_a_close_frame_is_logged_as_1006(server: RunningServer) -> None:
    watcher = server.application[STATE].console.watch(server.app.id)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    writer.write(
        f"GET /app/{server.app.key}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"connection_established")
    seen = await entries_until(watcher, has(LogKind.CONNECTED))
    writer.transport.abort()  # a reset, no close frame
    seen += await entries_until(watcher, has(LogKind.DISCONNECTED))
    assert one(seen, LogKind.DISCONNECTED, code=1006, message="connection lost")


async def test_api_events_are_logged_with_size_and_a_cut_preview(server: RunningServer) -> None:
    watcher = server.application[STATE].console.watch(server.app.id)
    big = "x" * (PREVIEW_CHARS * 2)
    status, _ = await trigger(server, ["news", "sport"], "headline", {"text": big})
    assert status == 200
    seen = await entries_until(watcher, lambda entries: len(entries) >= 2)
    news = one(seen, LogKind.API_EVENT, channel="news", event="headline")
    assert one(seen, LogKind.API_EVENT, channel="sport", event="headline")
    assert news is not None and news.size == len(json.dumps({"text": big}))
    assert len(news.preview) == PREVIEW_CHARS and news.preview.endswith("…")


async def test_batch_events_are_logged_each(server: RunningServer) -> None:
    watcher = server.application[STATE].console.watch(server.app.id)
    batch = [{"channel": f"c{i}", "name": "tick", "data": str(i)} for i in range(3)]
    status, _ = await api_request(server, "POST", f"/apps/{server.app.id}/batch_events", body={"batch": batch})
    assert status == 200
    seen = await entries_until(watcher, lambda entries: len(entries) >= 3)
    assert [(e.channel, e.preview, e.size) for e in seen] == [("c0", "0", 1), ("c1", "1", 1), ("c2", "2", 1)]


async def test_only_the_watched_app_is_recorded(server: RunningServer) -> None:
    console = server.application[STATE].console
    watcher = console.watch(server.app.id)
    assert not console.watching(OTHER_APP.id)
    status, _ = await trigger(server, "news", "for-the-other-app", {}, app=OTHER_APP)
    assert status == 200
    status, _ = await trigger(server, "news", "for-the-watched-app", {})
    seen = await entries_until(watcher, has(LogKind.API_EVENT, event="for-the-watched-app"))
    assert [e.event for e in seen] == ["for-the-watched-app"]
    assert console.held() == (1, 1)  # the watched app's ring alone; the other app has none


async def test_nothing_is_held_once_the_last_watcher_left(server: RunningServer) -> None:
    console = server.application[STATE].console
    first, second = console.watch(server.app.id), console.watch(server.app.id)
    await trigger(server, "news", "seen", {})
    await entries_until(first, has(LogKind.API_EVENT, event="seen"))
    assert console.held()[0] == 1
    console.unwatch(first)
    assert console.watching(server.app.id)  # the second still watches
    console.unwatch(second)
    assert not console.watching(server.app.id)
    assert console.held() == (0, 0)
    async with connect(server) as client:
        await client.subscribe("room")
    status, _ = await trigger(server, "room", "unseen", {})
    assert status == 200
    assert console.held() == (0, 0)  # nothing collected while nobody watches
    late = console.watch(server.app.id)
    assert late.recent == []  # a new console starts empty: nothing was kept meanwhile


async def test_a_new_watcher_gets_the_recent_entries_first(server: RunningServer) -> None:
    console = server.application[STATE].console
    first = console.watch(server.app.id)
    await trigger(server, "news", "earlier", {})
    await entries_until(first, has(LogKind.API_EVENT, event="earlier"))
    second = console.watch(server.app.id)
    assert [e.event for e in second.recent] == ["earlier"]


async def test_a_watcher_that_never_reads_holds_a_bounded_queue(server: RunningServer) -> None:
    console = server.application[STATE].console
    idle = console.watch(server.app.id)  # never read
    reader = console.watch(server.app.id)
    channels = [f"ch-{i}" for i in range(server.app.max_channels_per_trigger)]
    total = 0
    while total <= WATCHER_QUEUE_SIZE + RING_SIZE:
        status, _ = await trigger(server, channels, "flood", {"n": total})
        assert status == 200
        total += len(channels)
        await entries_until(reader, lambda entries: bool(entries))  # the reading watcher keeps up
    assert idle.unread == WATCHER_QUEUE_SIZE
    assert idle.dropped == total - WATCHER_QUEUE_SIZE
    apps, held = console.held()
    assert apps == 1 and held <= RING_SIZE + WATCHER_QUEUE_SIZE + reader.unread
    assert held >= RING_SIZE + WATCHER_QUEUE_SIZE
    taken = await idle.next()
    assert len(taken) == WATCHER_QUEUE_SIZE and taken[-1].preview == json.dumps({"n": total - len(channels)})


async def test_no_entry_is_even_built_for_an_app_nobody_watches(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost of the console for an app nobody watches is one lookup per would-be entry: no ``LogEntry`` is made
    (counted where each tap builds one), so nothing is allocated, kept or sent."""
    built: list[LogKind] = []

    def counting(**fields: Any) -> LogEntry:
        built.append(fields["kind"])
        return LogEntry(**fields)

    for module in (taps, http_events, announcer):
        monkeypatch.setattr(module, "LogEntry", counting)
    console = server.application[STATE].console
    other = console.watch(OTHER_APP.id)  # another app is watched: its entries are built, this one's are not
    async with connect(server, headers={"Origin": "https://example.test"}) as client:
        await client.subscribe("presence-room", user_id="ann")
        await client.sign_in("ann")
        await client.expect("pusher:signin_success")
        await client.send("client-typing", {}, channel="presence-room")
        await client.send("pusher:unsubscribe", {"channel": "presence-room"})
        await client.subscribe("private-x", auth="key:bad")
        status, _ = await trigger(server, "news", "unwatched", {})
        assert status == 200
    assert built == []
    async with connect(server, app=OTHER_APP):
        await entries_until(other, has(LogKind.CONNECTED))
        assert built == [LogKind.CONNECTED]  # the counting works: the watched app's entry was built
