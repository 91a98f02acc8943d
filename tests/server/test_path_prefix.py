"""``path_prefix``: behind a proxy under a path, every route answers with and without the prefix, and a publish
verifies whether the publisher signed the path with the prefix or without it (``pusherpy/server/path_prefix.py``).

The official SDKs send the prefix but sign the path without it: pusher-http-php's ``path`` option goes into the
URL only, and pusher-http-node users put it in ``host``. ``PrefixSendingBackend`` makes the official PyPI SDK do
exactly that (it has no such option of its own), so the signature is the SDK's own.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pusher
import pytest
from pusher.requests import RequestsBackend

from pusherpy.protocol import signing
from pusherpy.protocol.errors import ConfigError
from pusherpy.publisher import AsyncPusher, Pusher
from pusherpy.publisher.config import ClientConfig
from pusherpy.server.path_prefix import unprefixed
from pusherpy.server.settings import load_settings
from tests.conftest import ServerFactory
from tests.helpers import DEADLINE, PusherClient, RunningServer, make_app

PREFIX = "/ws"


@pytest.fixture
async def prefixed(server_factory: ServerFactory) -> RunningServer:
    return await server_factory(make_app(), path_prefix=PREFIX)


class PrefixSendingBackend(RequestsBackend):  # type: ignore[misc]
    """The PyPI SDK's own backend, sending to ``{PREFIX}/apps/...`` what the SDK signed as ``/apps/...``: what
    pusher-http-php does with ``'path' => '/ws/'`` and pusher-http-node with ``host: 'example.com/ws'``."""

    def send_request(self, request: Any) -> Any:
        request.path = PREFIX + request.path  # after signing: only the URL changes
        return super().send_request(request)


def official_sdk(server: RunningServer) -> pusher.Pusher:
    app = server.app
    return pusher.Pusher(
        app_id=app.id,
        key=app.key,
        secret=app.secret,
        ssl=False,
        host=server.host,
        port=server.port,
        backend=PrefixSendingBackend,
    )


async def signed_call(
    server: RunningServer, method: str, sent_path: str, signed_path: str, body: Any = None
) -> tuple[int, Any]:
    """Send to ``sent_path`` a request signed for ``signed_path`` (as a proxy in between may change one of them)."""
    app = server.app
    raw = json.dumps(body).encode() if body is not None else b""
    query = signing.signed_query(app.key, app.secret, method, signed_path, timestamp=int(time.time()), body=raw)
    async with aiohttp.ClientSession() as session:
        async with session.request(method, server.http_url + sent_path, params=query, data=raw or None) as response:
            return response.status, await response.json(content_type=None)


async def open_socket(server: RunningServer, session: aiohttp.ClientSession, path: str) -> PusherClient:
    ws = await session.ws_connect(f"{server.http_url}{path}/{server.app.key}?protocol=7&client=js&version=8.4.0")
    client = PusherClient(ws, server.app)
    established = await client.receive()
    assert established["event"] == "pusher:connection_established", established
    client.socket_id = established["data"]["socket_id"]
    return client


class TestSetting:
    @pytest.mark.parametrize("value", ["", "/ws", "/pusher/v1", "/a.b_c~d-e"])
    def test_a_path_is_accepted(self, value: str) -> None:
        assert load_settings(environ={"PUSHERPY_PATH_PREFIX": value}).path_prefix == value

    @pytest.mark.parametrize("value", ["ws", "/ws/", "/", "/ws?x", "/ws#x", "//ws", "/a/../b", "/w s", "/%41"])
    def test_anything_else_is_refused_with_the_form_expected(self, value: str) -> None:
        with pytest.raises(ConfigError, match=r"PUSHERPY_PATH_PREFIX=.* must be empty or a path such as '/ws'"):
            load_settings(environ={"PUSHERPY_PATH_PREFIX": value})

    @pytest.mark.parametrize("value", ["/app", "/apps/v1", "/users", "/up", "/metrics", "/console"])
    def test_a_prefix_that_starts_like_a_route_is_refused(self, value: str) -> None:
        with pytest.raises(ConfigError, match=r"which is one of pusherpy's own routes"):
            load_settings(environ={"PUSHERPY_PATH_PREFIX": value})

    def test_a_long_prefix_is_refused(self) -> None:
        with pytest.raises(ConfigError, match=r"at most 100 characters"):
            load_settings(environ={"PUSHERPY_PATH_PREFIX": "/" + "a" * 100})

    @pytest.mark.parametrize(
        ("target", "expected"),
        [
            ("/ws/app/k?protocol=7", "/app/k?protocol=7"),
            ("/ws", "/"),
            ("/ws?x=1", "/?x=1"),
            ("/wss/app/k", "/wss/app/k"),
            ("/app/k", "/app/k"),
        ],
    )
    def test_only_a_whole_leading_segment_is_the_prefix(self, target: str, expected: str) -> None:
        assert unprefixed(target, PREFIX) == expected


class TestSockets:
    @pytest.mark.parametrize("path", [f"{PREFIX}/app", "/app"])
    async def test_a_socket_opens_with_and_without_the_prefix(self, prefixed: RunningServer, path: str) -> None:
        async with aiohttp.ClientSession() as session:
            client = await open_socket(prefixed, session, path)
            await client.subscribe("news")
            await client.ws.close()

    async def test_an_upgrade_on_a_kept_alive_connection_takes_the_prefix_too(self, prefixed: RunningServer) -> None:
        connector = aiohttp.TCPConnector(limit=1)  # one connection: the upgrade reuses the one aiohttp served
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(f"{prefixed.http_url}{PREFIX}/up") as response:
                assert response.status == 200
                await response.read()
            client = await open_socket(prefixed, session, f"{PREFIX}/app")
            await client.ws.close()

    async def test_a_path_that_only_starts_like_the_prefix_is_not_served(self, prefixed: RunningServer) -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{prefixed.http_url}{PREFIX}s/app/{prefixed.app.key}?protocol=7")
        assert refused.value.status == 404


class TestHttpApi:
    async def test_the_official_sdk_sending_the_prefix_it_did_not_sign_publishes(self, prefixed: RunningServer) -> None:
        async with aiohttp.ClientSession() as session:
            client = await open_socket(prefixed, session, "/app")
            await client.subscribe("news")
            sdk = official_sdk(prefixed)
            assert await asyncio.to_thread(sdk.trigger, "news", "headline", {"n": 1}) == {}
            assert (await client.expect("headline", channel="news"))["data"] == {"n": 1}
            batch = [{"channel": "news", "name": "batched", "data": {"n": 2}}]
            assert await asyncio.to_thread(sdk.trigger_batch, batch) == {}
            assert (await client.expect("batched", channel="news"))["data"] == {"n": 2}
            info = await asyncio.to_thread(sdk.channels_info, attributes=["subscription_count"])
            assert info == {"channels": {"news": {"subscription_count": 1}}}
            await client.ws.close()

    @pytest.mark.parametrize(
        ("sent", "signed"),
        [
            (PREFIX, ""),  # the official SDKs through a proxy that keeps the prefix
            ("", ""),  # the official SDKs through a proxy that strips it, or straight to pusherpy
            (PREFIX, PREFIX),  # a publisher that signs the path it sends (soketi checks this one)
            ("", PREFIX),  # the same through a proxy that strips the prefix
        ],
    )
    @pytest.mark.parametrize("route", ["events", "channels"])
    async def test_a_signature_verifies_with_or_without_the_prefix(
        self, prefixed: RunningServer, sent: str, signed: str, route: str
    ) -> None:
        path = f"/apps/{prefixed.app.id}/{route}"
        publish = {"name": "e", "channels": ["news"], "data": "{}"}
        method, body = ("POST", publish) if route == "events" else ("GET", None)
        status, reply = await signed_call(prefixed, method, sent + path, signed + path, body)
        assert status == 200, reply

    async def test_a_signature_for_another_prefix_is_refused(self, prefixed: RunningServer) -> None:
        path = f"/apps/{prefixed.app.id}/events"
        body = {"name": "e", "channels": ["news"], "data": "{}"}
        status, reply = await signed_call(prefixed, "POST", PREFIX + path, "/other" + path, body)
        assert (status, reply) == (401, {"error": "invalid signature"})

    async def test_without_a_prefix_setting_a_prefixed_signature_is_refused(self, server: RunningServer) -> None:
        path = f"/apps/{server.app.id}/events"
        status, _ = await signed_call(server, "POST", path, PREFIX + path, {"name": "e", "channels": ["c"], "data": ""})
        assert status == 401


class TestHealth:
    @pytest.mark.parametrize("path", [f"{PREFIX}/up", "/up", f"{PREFIX}/metrics", "/metrics"])
    async def test_up_and_metrics_answer_with_and_without_the_prefix(self, prefixed: RunningServer, path: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(prefixed.http_url + path, timeout=aiohttp.ClientTimeout(total=DEADLINE)) as reply:
                assert reply.status == 200


class TestPusherpyPublisher:
    """pusherpy's own publisher takes ``path`` (or a path before ``/apps/`` in its URL) as pusher-http-php does."""

    def test_a_path_in_the_url_becomes_the_path_option(self) -> None:
        config = ClientConfig.from_url("https://k:s@example.com/ws/apps/42")
        assert (config.host, config.path, config.app_id) == ("example.com", "/ws", "42")
        assert ClientConfig.from_url("https://k:s@example.com/apps/42").path == ""

    @pytest.mark.parametrize("path", ["ws", "/ws/"])
    def test_a_path_without_its_leading_slash_or_with_a_trailing_one_is_refused(self, path: str) -> None:
        with pytest.raises(ConfigError, match=r"must be empty or a path such as '/ws'"):
            ClientConfig.build("1", "k", "s", path=path)

    async def test_both_clients_publish_through_the_prefix(self, prefixed: RunningServer) -> None:
        app = prefixed.app
        options: dict[str, Any] = {"host": prefixed.host, "port": prefixed.port, "ssl": False, "path": PREFIX}
        async with aiohttp.ClientSession() as session:
            client = await open_socket(prefixed, session, f"{PREFIX}/app")
            await client.subscribe("news")
            sync = Pusher(app.id, app.key, app.secret, **options)
            await asyncio.to_thread(sync.trigger, "news", "from-sync", {"n": 1})
            assert (await client.expect("from-sync", channel="news"))["data"] == {"n": 1}
            async with AsyncPusher(app.id, app.key, app.secret, **options) as publisher:
                await publisher.trigger("news", "from-async", {"n": 2})
            assert (await client.expect("from-async", channel="news"))["data"] == {"n": 2}
            await client.ws.close()
