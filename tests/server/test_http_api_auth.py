"""Who may call the HTTP API and how refusals look (PROTOCOL.md §1.9, §2): every request is signed as Pusher signs
it, every refusal is a JSON ``{"error": ...}`` with the right status, API responses carry CORS headers, and an
oversized body is refused from its Content-Length before it is read."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import aiohttp
import pytest

from pusherpy.protocol import signing
from tests.conftest import ServerFactory
from tests.helpers import DEADLINE, RunningServer, api_request, connect, make_app

EVENT = {"name": "e", "channels": ["news"], "data": "{}"}


async def send(
    server: RunningServer,
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """Send a request exactly as given; return (status, decoded JSON body, headers)."""
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method, server.http_url + path, params=query, data=body or None, headers=headers
        ) as response:
            return response.status, json.loads(await response.read() or b"null"), dict(response.headers)


def signed_event_query(server: RunningServer, body: bytes, **overrides: str) -> dict[str, str]:
    app = server.app
    return signing.signed_query(
        app.key, app.secret, "POST", f"/apps/{app.id}/events", timestamp=int(time.time()), body=body, params=overrides
    )


def resigned(server: RunningServer, method: str, path: str, query: dict[str, str]) -> dict[str, str]:
    """Sign ``query`` (as it is, whatever it holds) with the app's secret."""
    query = {k: v for k, v in query.items() if k != "auth_signature"}
    query["auth_signature"] = signing.sign_request(server.app.secret, method, path, query)
    return query


class TestSignature:
    async def test_correctly_signed_request_is_accepted(self, server: RunningServer) -> None:
        body = json.dumps(EVENT).encode()
        status, reply, _ = await send(
            server, "POST", f"/apps/{server.app.id}/events", signed_event_query(server, body), body
        )
        assert (status, reply) == (200, {})

    @pytest.mark.parametrize(
        ("tamper", "reason"),
        [
            ("wrong signature", "invalid signature"),
            ("signed with another secret", "invalid signature"),
            ("wrong key", "auth_key"),
            ("missing auth_key", "missing auth_key"),
            ("missing auth_timestamp", "missing auth_timestamp"),
            ("missing auth_version", "missing auth_version"),
            ("missing auth_signature", "missing auth_signature"),
            ("timestamp not a number", "auth_timestamp"),
            ("body_md5 mismatch", "body_md5"),
            ("body_md5 missing for a body", "body_md5"),
            ("query changed after signing", "invalid signature"),
        ],
    )
    async def test_bad_signature_gets_401_with_the_reason_and_publishes_nothing(
        self, server: RunningServer, tamper: str, reason: str
    ) -> None:
        path = f"/apps/{server.app.id}/events"
        body = json.dumps(EVENT).encode()
        query = signed_event_query(server, body)
        if tamper == "wrong signature":
            query["auth_signature"] = "f" * 64
        elif tamper == "signed with another secret":
            query["auth_signature"] = signing.sign_request("other-secret", "POST", path, query)
        elif tamper == "wrong key":
            query = resigned(server, "POST", path, {**query, "auth_key": "other-key"})
        elif tamper.startswith("missing "):
            name = tamper.removeprefix("missing ")
            query = {k: v for k, v in query.items() if k != name}
            if name != "auth_signature":
                query = resigned(server, "POST", path, query)
        elif tamper == "timestamp not a number":
            query = resigned(server, "POST", path, {**query, "auth_timestamp": "yesterday"})
        elif tamper == "body_md5 mismatch":
            query = resigned(server, "POST", path, {**query, "body_md5": signing.body_md5(b"another body")})
        elif tamper == "body_md5 missing for a body":
            query = resigned(server, "POST", path, {k: v for k, v in query.items() if k != "body_md5"})
        elif tamper == "query changed after signing":
            query["socket_id"] = "1.1"
        async with connect(server) as listener:
            await listener.subscribe("news")
            status, reply, _ = await send(server, "POST", path, query, body)
            assert status == 401
            assert reason in reply["error"]
            await listener.expect_nothing()

    @pytest.mark.parametrize("direction", ["past", "future"])
    async def test_timestamp_601_seconds_from_the_servers_clock_gets_401(
        self, server: RunningServer, direction: str
    ) -> None:
        now = time.time()
        # Rounded away from now, so the server's clock (a few ms later) still sees more than 600 s.
        timestamp = math.floor(now) - 601 if direction == "past" else math.ceil(now) + 601
        status, reply = await api_request(
            server, "POST", f"/apps/{server.app.id}/events", body=EVENT, timestamp=timestamp
        )
        assert status == 401
        assert "auth_timestamp" in reply["error"]

    @pytest.mark.parametrize("direction", ["past", "future"])
    async def test_timestamp_599_seconds_from_the_servers_clock_is_accepted(
        self, server: RunningServer, direction: str
    ) -> None:
        now = time.time()
        timestamp = math.ceil(now) - 599 if direction == "past" else math.floor(now) + 599
        status, _ = await api_request(server, "POST", f"/apps/{server.app.id}/events", body=EVENT, timestamp=timestamp)
        assert status == 200

    async def test_get_with_the_empty_body_md5_signed_in_is_accepted(self, server: RunningServer) -> None:
        """pusher-http-python adds ``body_md5`` (of the empty body) to GETs and signs it."""
        path = f"/apps/{server.app.id}/channels"
        app = server.app
        query = signing.signed_query(
            app.key, app.secret, "GET", path, timestamp=int(time.time()), params={"body_md5": signing.body_md5(b"")}
        )
        status, reply, _ = await send(server, "GET", path, query)
        assert (status, reply) == (200, {"channels": {}})

    async def test_get_with_a_wrong_body_md5_gets_401(self, server: RunningServer) -> None:
        path = f"/apps/{server.app.id}/channels"
        app = server.app
        query = signing.signed_query(
            app.key, app.secret, "GET", path, timestamp=int(time.time()), params={"body_md5": signing.body_md5(b"x")}
        )
        status, reply, _ = await send(server, "GET", path, query)
        assert status == 401
        assert "body_md5" in reply["error"]

    async def test_another_apps_credentials_get_401(self, server_factory: ServerFactory) -> None:
        first = make_app(id="1", key="key-1", secret="secret-1")
        second = make_app(id="2", key="key-2", secret="secret-2")
        server = await server_factory(first, second)
        status, reply = await api_request(server, "GET", "/apps/1/channels", app=second)
        assert status == 401
        assert "auth_key" in reply["error"]
        assert (await api_request(server, "GET", "/apps/2/channels", app=second))[0] == 200

    async def test_unprefixed_terminate_path_with_an_unknown_key_gets_401(self, server: RunningServer) -> None:
        stranger = make_app(key="stranger", secret="x")
        status, reply = await api_request(server, "POST", "/users/alice/terminate_connections", app=stranger, body={})
        assert status == 401
        assert "auth_key" in reply["error"]


class TestAppStatus:
    async def test_unknown_app_id_gets_404(self, server: RunningServer) -> None:
        status, reply = await api_request(server, "POST", "/apps/999/events", body=EVENT)
        assert status == 404
        assert "app" in reply["error"]

    async def test_disabled_app_gets_403_even_when_correctly_signed(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(enabled=False))
        status, reply = await api_request(server, "POST", f"/apps/{server.app.id}/events", body=EVENT)
        assert status == 403
        assert "disabled" in reply["error"]
        status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels")
        assert status == 403

    async def test_disabled_app_still_checks_the_signature_first(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(enabled=False))
        status, _ = await api_request(server, "GET", f"/apps/{server.app.id}/channels", app=make_app(secret="wrong"))
        assert status == 401


class TestRoutes:
    @pytest.mark.parametrize(
        ("method", "path"), [("GET", "/nowhere"), ("POST", "/apps/4242/nowhere"), ("GET", "/apps/4242/channels/a/b/c")]
    )
    async def test_unknown_route_gets_a_json_404(self, server: RunningServer, method: str, path: str) -> None:
        status, reply, headers = await send(server, method, path, {})
        assert status == 404
        assert headers["Content-Type"].startswith("application/json")
        assert isinstance(reply["error"], str)

    async def test_wrong_method_gets_a_json_405(self, server: RunningServer) -> None:
        status, reply, headers = await send(server, "GET", f"/apps/{server.app.id}/events", {})
        assert status == 405
        assert headers["Content-Type"].startswith("application/json")
        assert isinstance(reply["error"], str)

    async def test_up_reports_health(self, server: RunningServer) -> None:
        status, reply, _ = await send(server, "GET", "/up", {})
        assert (status, reply) == (200, {"health": "OK"})


class TestCors:
    async def test_successful_api_response_has_cors_headers(self, server: RunningServer) -> None:
        path = f"/apps/{server.app.id}/channels"
        app = server.app
        query = signing.signed_query(app.key, app.secret, "GET", path, timestamp=int(time.time()))
        status, _, headers = await send(server, "GET", path, query, headers={"Origin": "http://example.test"})
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] == "*"

    async def test_refusal_has_cors_headers_too(self, server: RunningServer) -> None:
        status, _, headers = await send(server, "GET", f"/apps/{server.app.id}/channels", {})
        assert status == 401
        assert headers["Access-Control-Allow-Origin"] == "*"

    async def test_preflight_is_answered_without_a_signature(self, server: RunningServer) -> None:
        status, _, headers = await send(
            server,
            "OPTIONS",
            f"/apps/{server.app.id}/events",
            {},
            headers={
                "Origin": "http://example.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type",
            },
        )
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in headers["Access-Control-Allow-Methods"]
        assert "content-type" in headers["Access-Control-Allow-Headers"].lower()


class TestBodyLimit:
    async def test_body_declared_larger_than_the_limit_gets_413_before_any_of_it_is_sent(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(), max_request_body_bytes=1000)
        path = f"/apps/{server.app.id}/events"
        query = "&".join(f"{k}={v}" for k, v in signed_event_query(server, b"x" * 5000).items())
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            writer.write(
                f"POST {path}?{query} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n"
                "Content-Length: 5000000\r\n\r\n".encode()
            )
            await writer.drain()
            # Not a byte of the body is sent: the answer must come from the Content-Length alone.
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
            status_line, *header_lines = head.decode().split("\r\n")
            assert status_line.split()[1] == "413"
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines if line)}
            body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), DEADLINE)
        finally:
            writer.close()
            await writer.wait_closed()
        assert "1000 bytes" in json.loads(body)["error"]

    async def test_body_just_under_the_limit_is_read(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(), max_request_body_bytes=1000)
        body = {"name": "e", "channels": ["news"], "data": "x" * 900}
        assert len(json.dumps(body)) < 1000
        status, _ = await api_request(server, "POST", f"/apps/{server.app.id}/events", body=body)
        assert status == 200
