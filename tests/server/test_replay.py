"""Replay protection for the signed HTTP API (``reject_replayed_signatures``): a signed request is accepted once.

A copy of a signed request (from a log, a proxy) sent again within the timestamp window gets 401; requests signed
anew are not affected. The memory of signatures is bounded: when it is full, new requests get 503 with
``Retry-After`` rather than forgetting signatures whose replays would then pass. Off (the default), nothing changes.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pusher

from pusherpy.protocol import signing
from tests.conftest import ServerFactory
from tests.helpers import RunningServer, connect, make_app

NEWS = {"name": "headline", "channels": ["news"], "data": json.dumps({"n": 1})}


def signed(server: RunningServer, method: str, path: str, body: bytes = b"", **params: str) -> dict[str, str]:
    """The query of a request signed now with the app's secret (to be sent as it is, once or more)."""
    app = server.app
    return signing.signed_query(app.key, app.secret, method, path, timestamp=int(time.time()), body=body, params=params)


async def send(
    server: RunningServer, method: str, path: str, query: dict[str, str], body: bytes = b""
) -> tuple[int, Any, dict[str, str]]:
    """Send a request exactly as given; return (status, decoded JSON body, headers)."""
    async with aiohttp.ClientSession() as session:
        async with session.request(method, server.http_url + path, params=query, data=body or None) as response:
            return response.status, json.loads(await response.read() or b"null"), dict(response.headers)


async def publish_twice(server: RunningServer) -> list[tuple[int, Any]]:
    """One signed publish of NEWS, sent twice as it is."""
    path, body = f"/apps/{server.app.id}/events", json.dumps(NEWS).encode()
    query = signed(server, "POST", path, body)
    return [(status, reply) for status, reply, _ in [await send(server, "POST", path, query, body) for _ in "12"]]


async def api_replays_refused(server: RunningServer) -> int:
    async with aiohttp.ClientSession() as session, session.get(server.http_url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(f'pusherpy_api_replays_refused_total{{app_id="{server.app.id}"}}'):
            return int(line.rsplit(" ", 1)[1])
    return 0


class TestReplaysAreRefused:
    async def test_a_signed_publish_sent_twice_is_delivered_once_and_the_copy_gets_401(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(), reject_replayed_signatures=True)
        async with connect(server) as listener:
            await listener.subscribe("news")
            (first, _), (second, reply) = await publish_twice(server)
            assert (first, second) == (200, 401)
            assert "already used" in reply["error"]
            assert (await listener.expect("headline"))["data"] == {"n": 1}
            await listener.expect_nothing()
        assert await api_replays_refused(server) == 1

    async def test_a_signed_query_sent_twice_gets_401_the_second_time(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(), reject_replayed_signatures=True)
        path = f"/apps/{server.app.id}/channels"
        query = signed(server, "GET", path, filter_by_prefix="presence-")
        assert (await send(server, "GET", path, query))[:2] == (200, {"channels": {}})
        status, reply, _ = await send(server, "GET", path, query)
        assert status == 401 and "already used" in reply["error"]

    async def test_requests_the_official_sdk_signs_anew_are_all_accepted(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(), reject_replayed_signatures=True)
        app = server.app
        sdk = pusher.Pusher(app.id, app.key, app.secret, ssl=False, host=server.host, port=server.port)
        async with connect(server) as listener:
            await listener.subscribe("news")
            for n in range(3):
                await asyncio.to_thread(sdk.trigger, "news", "headline", {"n": n})
                assert (await listener.expect("headline"))["data"] == {"n": n}
            reply = await asyncio.to_thread(sdk.channel_info, "news", ["subscription_count"])
            assert reply == {"occupied": True, "subscription_count": 1}


class TestBoundedMemory:
    async def test_when_the_memory_is_full_new_requests_get_503_and_replays_are_still_refused(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(), reject_replayed_signatures=True, replay_memory_limit=2)
        path = f"/apps/{server.app.id}/channels"
        queries = [signed(server, "GET", path, filter_by_prefix=prefix) for prefix in ("a", "b", "c")]
        assert [(await send(server, "GET", path, query))[0] for query in queries[:2]] == [200, 200]
        status, reply, headers = await send(server, "GET", path, queries[2])
        assert (status, headers["Retry-After"]) == (503, "1")
        assert "replay_memory_limit" in reply["error"]
        assert (await send(server, "GET", path, queries[0]))[0] == 401

    async def test_a_signature_is_forgotten_once_its_timestamp_leaves_the_window(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(), reject_replayed_signatures=True, replay_memory_limit=1)
        app, path = server.app, f"/apps/{server.app.id}/channels"
        oldest_accepted = int(time.time()) - signing.TIMESTAMP_WINDOW_SECONDS + 1  # out of the window within 1 s
        old = signing.signed_query(app.key, app.secret, "GET", path, timestamp=oldest_accepted)
        assert (await send(server, "GET", path, old))[0] == 200
        fresh = signed(server, "GET", path)
        assert (await send(server, "GET", path, fresh))[0] == 503  # the memory holds the old one
        deadline = time.monotonic() + 3
        while (status := (await send(server, "GET", path, fresh))[0]) == 503 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert status == 200, "the old signature was not forgotten when its second left the window"
        assert (await send(server, "GET", path, old))[0] == 401  # stale now: refused by its timestamp


class TestOffByDefault:
    async def test_without_the_setting_a_signed_request_sent_twice_is_accepted_twice(
        self, server: RunningServer
    ) -> None:
        assert [status for status, _ in await publish_twice(server)] == [200, 200]
