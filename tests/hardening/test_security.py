"""No one gets in: forged, stale, replayed or tampered API calls get 401 and publish nothing; signatures are
compared in constant time; secrets never reach the logs; sockets can only do what their signatures allow; socket
ids cannot be guessed; origins are compared by host."""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import time
from typing import Any

import aiohttp
import pytest

from pusherpy.protocol import signing
from pusherpy.server import ws
from tests.conftest import ServerFactory
from tests.hardening.watch import unharmed
from tests.hardening.wire import RawSocket
from tests.helpers import PusherClient, RunningServer, api_request, connect, make_app

SECRET = "hardening-secret-that-must-never-be-logged"


async def signed_call(
    server: RunningServer,
    *,
    body: dict[str, Any] | None = None,
    timestamp_offset: int = 0,
    tamper: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST an event to "target", signed with the app's secret; ``tamper`` breaks one part after signing."""
    app = server.app
    path = f"/apps/{app.id}/events"
    raw = json.dumps(body or {"name": "hack", "channel": "target", "data": "{}"}).encode()
    query = signing.signed_query(
        app.key, app.secret, "POST", path, timestamp=int(time.time()) + timestamp_offset, body=raw
    )
    if tamper == "signature":
        query["auth_signature"] = "0" * 64
    elif tamper == "body":
        raw = raw.replace(b"hack", b"evil")
    elif tamper == "path":
        path = f"/apps/{app.id}/batch_events"
    elif tamper == "key":
        query["auth_key"] = "another-key"
    elif tamper == "drop-signature":
        del query["auth_signature"]
    async with aiohttp.ClientSession() as session:
        async with session.post(server.http_url + path, params=query, data=raw) as response:
            return response.status, await response.json(content_type=None)


async def assert_refused(client: PusherClient, channel: str, code: int) -> None:
    """A subscription refused with a ``pusher:error`` of ``code`` and a ``pusher:subscription_error`` (both read)."""
    await client.send("pusher:subscribe", {"channel": channel})
    error = await client.expect("pusher:error", channel=channel)
    assert error["data"]["code"] == code
    refusal = await client.expect("pusher:subscription_error", channel=channel)
    assert refusal["data"]["status"] == 401


async def assert_nothing_published(listener: PusherClient) -> None:
    await listener.expect_nothing(0.2)


class TestSignedApi:
    @pytest.mark.parametrize("offset", [-601, 601, -1200], ids=["601s-old", "601s-ahead", "replayed-20-min-later"])
    async def test_timestamp_outside_600_seconds_gets_401_and_publishes_nothing(
        self, server: RunningServer, offset: int
    ) -> None:
        async with unharmed(server), connect(server) as listener:
            await listener.subscribe("target")
            status, body = await signed_call(server, timestamp_offset=offset)
            assert status == 401
            assert "auth_timestamp" in body["error"]
            await assert_nothing_published(listener)

    @pytest.mark.parametrize("offset", [-599, 599])
    async def test_timestamp_within_600_seconds_is_accepted(self, server: RunningServer, offset: int) -> None:
        status, body = await signed_call(server, timestamp_offset=offset)
        assert (status, body) == (200, {})

    @pytest.mark.parametrize(
        ("tamper", "reason"),
        [
            ("signature", "invalid signature"),
            ("body", "body_md5"),
            ("path", "invalid signature"),
            ("key", "auth_key"),
            ("drop-signature", "missing auth_signature"),
        ],
    )
    async def test_tampered_request_gets_401_with_the_reason_and_publishes_nothing(
        self, server: RunningServer, tamper: str, reason: str
    ) -> None:
        async with unharmed(server), connect(server) as listener:
            await listener.subscribe("target")
            status, body = await signed_call(server, tamper=tamper)
            assert status == 401
            assert reason in body["error"]
            await assert_nothing_published(listener)

    async def test_signatures_are_compared_with_hmac_compare_digest(
        self, server: RunningServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        compared: list[tuple[bytes, bytes]] = []
        real = hmac.compare_digest

        def spy(a: bytes, b: bytes) -> bool:
            compared.append((a, b))
            return real(a, b)

        monkeypatch.setattr(hmac, "compare_digest", spy)
        status, _ = await signed_call(server, tamper="signature")
        assert status == 401
        assert any(a == b"0" * 64 for a, _ in compared), "the forged signature was not compared by compare_digest"
        async with connect(server) as client:
            forged = f"{server.app.key}:{'1' * 64}"
            reply = await client.subscribe("private-x", auth=forged)
            assert reply["data"]["code"] == 4009
        assert any(a == forged.encode() for a, _ in compared)

    async def test_api_rate_limit_gets_429_with_retry_after_and_spares_other_apps(
        self, server_factory: ServerFactory
    ) -> None:
        limited = make_app(id="1", key="limited", secret="s1", max_api_requests_per_second=3)
        other = make_app(id="2", key="other", secret="s2")
        server = await server_factory(limited, other)
        async with unharmed(server, app=other):
            path = "/apps/1/connections"
            statuses = [(await api_request(server, "GET", path, app=limited))[0] for _ in range(4)]
            assert statuses == [200, 200, 200, 429]
            async with aiohttp.ClientSession() as session:
                query = signing.signed_query(limited.key, limited.secret, "GET", path, timestamp=int(time.time()))
                async with session.get(server.http_url + path, params=query) as response:
                    assert response.status == 429
                    assert response.headers["Retry-After"] == "1"
                    assert "rate limit" in (await response.json())["error"]

    async def test_unsigned_requests_do_not_use_up_the_apps_allowance(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(max_api_requests_per_second=2))
        for _ in range(5):
            status, _ = await api_request(server, "GET", "/apps/4242/connections", app=make_app(secret="wrong"))
            assert status == 401
        assert (await api_request(server, "GET", "/apps/4242/connections"))[0] == 200


async def test_secret_never_appears_in_the_logs_even_at_debug(
    server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app(secret=SECRET)
    server = await server_factory(app, debug=True)
    for tamper in ("signature", "body", "key", None):
        await signed_call(server, tamper=tamper)
    await signed_call(server, timestamp_offset=-5000)
    async with connect(server) as client:
        await client.subscribe("private-x", auth=f"{app.key}:{'1' * 64}")
        await client.subscribe("presence-x", user_id="u1")
        await client.send("pusher:signin", {"auth": f"{app.key}:{'2' * 64}", "user_data": '{"id":"u1"}'})
        await client.expect("pusher:error")
        await client.ws.send_str("{broken")
        await client.expect("pusher:error")
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for record in caplog.records:
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        assert SECRET not in text, f"secret logged by {record.name}: {text[:200]}"


class TestSocketPermissions:
    async def test_server_to_user_channel_is_only_for_that_signed_in_user(self, server: RunningServer) -> None:
        async with unharmed(server), connect(server) as client:
            await assert_refused(client, "#server-to-user-u1", 4009)  # not signed in
            await client.sign_in("u1")
            await client.expect("pusher:signin_success")
            await assert_refused(client, "#server-to-user-u2", 4009)  # another user's
            assert (await client.subscribe("#server-to-user-u1"))["event"] == "pusher_internal:subscription_succeeded"

    @pytest.mark.parametrize(
        ("channel", "code"),
        [
            ("public-room", 4301),
            ("private-encrypted-room", 4301),
            ("private-not-joined", 4009),
            ("presence-not-joined", 4009),
        ],
    )
    async def test_client_event_outside_a_joined_private_or_presence_channel_is_refused_and_not_relayed(
        self, server: RunningServer, channel: str, code: int
    ) -> None:
        async with unharmed(server), connect(server) as sender, connect(server) as receiver:
            if not channel.endswith("not-joined"):
                await sender.subscribe(channel)
            await receiver.subscribe(channel, user_id="u2")
            await sender.send("client-hello", {"x": 1}, channel=channel)
            error = await sender.expect("pusher:error")
            assert error["data"]["code"] == code
            await receiver.expect_nothing(0.2)

    async def test_socket_ids_are_distinct_and_drawn_from_at_least_60_bits(
        self, server: RunningServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        bounds: list[int] = []
        real = secrets.randbelow

        def spy(bound: int) -> int:
            bounds.append(bound)
            return real(bound)

        monkeypatch.setattr(secrets, "randbelow", spy)  # the module ws draws socket ids from
        async with connect(server) as client:
            assert re.fullmatch(r"\d+\.\d+", client.socket_id)
        product = 1
        for bound in bounds:
            product *= bound
        assert product >= 2**60, f"socket ids come from only {product.bit_length()} bits"
        ids = {ws.new_socket_id() for _ in range(50_000)}
        assert len(ids) == 50_000


class TestOrigins:
    @pytest.mark.parametrize(
        ("allowed", "origin", "accepted"),
        [
            (("localhost",), "http://localhost:5173", True),
            (("http://localhost:3000",), "http://localhost:5173", True),
            (("http://localhost:3000",), "https://localhost", True),
            (("https://*.example.com",), "https://app.example.com:8443", True),
            (("*.example.com",), "https://example.com.evil.net", False),
            (("http://localhost:3000",), "http://evil.com:3000", False),
            (("localhost",), "http://[::1", False),
            (("localhost",), "null", False),
        ],
    )
    async def test_origin_is_compared_by_host(
        self, server_factory: ServerFactory, allowed: tuple[str, ...], origin: str, accepted: bool
    ) -> None:
        server = await server_factory(make_app(allowed_origins=allowed))
        async with unharmed(server):
            client = await RawSocket.open(server, origin=origin, established=False)
            first = await client.next_message()
            if accepted:
                assert first["event"] == "pusher:connection_established"
            else:
                assert first["event"] == "pusher:error" and first["data"]["code"] == 4009
                code, _ = await client.expect_close()
                assert code == 4009
            await client.close()
