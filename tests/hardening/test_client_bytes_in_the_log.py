"""A client's bytes never reach the log as a bug: every path where hostile bytes used to raise (a target that
``urlsplit`` chokes on, a timestamp too large for a float, a malformed request on a connection aiohttp serves, a
body aiohttp cannot decode, JSON nested past the standard library's recursion limit) answers a clean 4xx, and
no ERROR record or traceback is logged, neither pusherpy's nor aiohttp's nor the event loop's."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from pathlib import Path

import pytest

from pusherpy.protocol import signing
from tests.conftest import ServerFactory
from tests.hardening.server_log import assert_no_bug_logged
from tests.hardening.watch import unharmed
from tests.hardening.wire import RawSocket, read_response, upgrade_request
from tests.helpers import DEADLINE, RunningServer, make_app
from tests.server.serve_process import serving


@pytest.fixture
async def server(server_factory: ServerFactory, caplog: pytest.LogCaptureFixture) -> RunningServer:
    caplog.set_level(logging.DEBUG)  # every record, so that a traceback at any level would be seen
    return await server_factory(make_app())


def signed_query_text(server: RunningServer, method: str, path: str, body: bytes = b"", **changes: str) -> str:
    query = signing.signed_query(server.app.key, server.app.secret, method, path, timestamp=int(time.time()), body=body)
    query.update(changes)
    return "&".join(f"{name}={value}" for name, value in query.items())


async def answer(server: RunningServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes on a fresh connection; return the first response."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        return await read_response(reader)
    finally:
        writer.close()


EVENT = b'{"name":"e","channel":"c","data":"{}"}'
HUGE_TIMESTAMP = "9" * 400  # an int, but float(now) - it overflows


class TestThePublishFastPath:
    @pytest.mark.parametrize("target", [b"//[", b"//[/apps/4242/events", b"//x/apps/4242/events"])
    async def test_a_path_starting_with_two_slashes_is_a_path_not_a_host(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture, target: bytes
    ) -> None:
        """``urlsplit`` reads a host out of ``//...`` (and raises on ``//[``); aiohttp reads a path, as RFC 9112
        §3.2.1 does, and so does the listener now: no route, 404."""
        async with unharmed(server):
            request = b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            status, _, body = await answer(server, request)
            assert status == 404 and json.loads(body)["error"]
        assert_no_bug_logged(caplog)

    async def test_a_timestamp_too_large_for_a_float_gets_401(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = f"/apps/{server.app.id}/events"
        query = signed_query_text(server, "POST", path, EVENT, auth_timestamp=HUGE_TIMESTAMP)
        request = f"POST {path}?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(EVENT)}\r\n\r\n".encode() + EVENT
        status, _, body = await answer(server, request)
        assert (status, json.loads(body)) == (401, {"error": "auth_timestamp is not a number of seconds"})
        assert_no_bug_logged(caplog)


class TestConnectionsAiohttpServes:
    """Requests that the listener hands to aiohttp: a kept-alive connection after ``GET /up``, chunked bodies."""

    async def test_a_timestamp_too_large_for_a_float_gets_401(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = f"/apps/{server.app.id}/connections"
        query = signed_query_text(server, "GET", path, auth_timestamp=HUGE_TIMESTAMP)
        status, _, body = await answer(server, f"GET {path}?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert (status, json.loads(body)) == (401, {"error": "auth_timestamp is not a number of seconds"})
        assert_no_bug_logged(caplog)

    @pytest.mark.parametrize(
        "second",
        [
            pytest.param(b"GET /up HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", id="signed-length"),
            pytest.param(b"GET /up HTTP/1.1\r\nHost : x\r\n\r\n", id="space-before-colon"),
            pytest.param(b"GET /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", id="two"),
        ],
    )
    async def test_a_malformed_request_after_a_kept_alive_one_gets_400(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture, second: bytes
    ) -> None:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(reader))[0] == 200  # the connection is aiohttp's now
        writer.write(second)
        assert (await read_response(reader))[0] == 400
        writer.close()
        assert_no_bug_logged(caplog)

    async def test_a_chunked_body_with_a_broken_chunk_size_gets_400(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = f"/apps/{server.app.id}/events"
        head = f"POST {path}?{signed_query_text(server, 'POST', path)} HTTP/1.1\r\nHost: x\r\n"
        request = (head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n").encode()
        assert (await answer(server, request))[0] == 400
        assert_no_bug_logged(caplog)

    async def test_a_body_whose_content_encoding_does_not_decode_gets_400(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = f"/apps/{server.app.id}/events"
        head = f"POST {path}?{signed_query_text(server, 'POST', path, EVENT)} HTTP/1.1\r\nHost: x\r\n"
        chunk = b"not gzip at all"
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
        request = (head + "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + body
        status, _, reply = await answer(server, request)
        assert status == 400
        assert json.loads(reply)["error"].startswith("request body cannot be read")
        assert_no_bug_logged(caplog)

    async def test_a_client_that_leaves_in_the_middle_of_its_body_is_no_bug(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = f"/apps/{server.app.id}/events"
        head = f"POST {path}?{signed_query_text(server, 'POST', path, EVENT)} HTTP/1.1\r\nHost: x\r\n"
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write((head + "Transfer-Encoding: chunked\r\n\r\n").encode() + b'5\r\n{"nam')
        await writer.drain()
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
        writer.close()
        deadline = time.monotonic() + DEADLINE  # the handler is done once aiohttp writes its access-log line
        while not any(record.name == "aiohttp.access" and path in record.getMessage() for record in caplog.records):
            assert time.monotonic() < deadline, "the request was never finished"
            await asyncio.sleep(0.01)
        assert_no_bug_logged(caplog)

    async def test_an_upgrade_with_a_key_that_is_not_base64_gets_400(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """On a connection aiohttp already serves, an upgrade arrives through aiohttp's route, with aiohttp's
        decoding of the headers (UTF-8, undecodable bytes kept as surrogates that cannot be hashed)."""
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(reader))[0] == 200  # the connection is aiohttp's now
        upgrade = upgrade_request(server)
        key_at = upgrade.index(b"Sec-WebSocket-Key: ") + len(b"Sec-WebSocket-Key: ")
        writer.write(upgrade[:key_at] + b"dGhlIHNhbXBsZSBub25j\xff\xff==" + upgrade[key_at + 24 :])
        status, _, body = await read_response(reader)
        assert (status, json.loads(body)) == (400, {"error": "invalid WebSocket upgrade request"})
        writer.close()
        assert_no_bug_logged(caplog)


class TestSocketQueries:
    async def test_a_protocol_version_of_digit_like_characters_gets_4006(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(upgrade_request(server).replace(b"protocol=7", b"protocol=%C2%B2"))  # "²"
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
        assert head.startswith(b"HTTP/1.1 101"), head
        raw = RawSocket(reader, writer)
        _, messages = await raw.expect_close()
        assert messages[0]["event"] == "pusher:error" and messages[0]["data"]["code"] == 4006
        await raw.close()
        assert_no_bug_logged(caplog)

    async def test_a_protocol_version_of_5000_digits_gets_4007(
        self, server: RunningServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(upgrade_request(server).replace(b"protocol=7", b"protocol=" + b"7" * 5000))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
        assert head.startswith(b"HTTP/1.1 101"), head
        raw = RawSocket(reader, writer)
        _, messages = await raw.expect_close()
        assert messages[0]["event"] == "pusher:error" and messages[0]["data"]["code"] == 4007
        await raw.close()
        assert_no_bug_logged(caplog)


class TestWithoutOrjson:
    """Without the ``speed`` extra, JSON is the standard library's, which raises RecursionError on deep nesting
    and ValueError on an integer of more than 4300 digits: both are the client's malformed JSON."""

    async def test_json_too_deep_or_too_long_gets_400_and_a_pusher_error_and_no_traceback(self, tmp_path: Path) -> None:
        (tmp_path / "orjson.py").write_text('raise ImportError("orjson is left out for this test")\n')
        app = make_app(id="1", key="no-orjson-key", secret="no-orjson-secret")
        cli_app = ("--app-id", app.id, "--app-key", app.key, "--app-secret", app.secret)
        async with serving(*cli_app, env={"PYTHONPATH": str(tmp_path)}) as process:
            path = f"/apps/{app.id}/events"
            for body in (b"[" * 50_000, b'{"name":"e","channel":"c","data":' + b"1" * 5000 + b"}"):
                query = signing.signed_query(app.key, app.secret, "POST", path, timestamp=int(time.time()), body=body)
                query_text = "&".join(f"{name}={value}" for name, value in query.items())
                head = f"POST {path}?{query_text} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
                reader, writer = await asyncio.open_connection(process.host, process.port)
                writer.write(head.encode() + body)
                status, _, reply = await read_response(reader)
                assert (status, json.loads(reply)) == (400, {"error": "body is not valid JSON"})
                writer.close()
            async with process.connect(app) as client:
                await client.ws.send_str("[" * 50_000)
                error = await client.expect("pusher:error")
                assert "not valid JSON" in error["data"]["message"]
            process.process.send_signal(signal.SIGTERM)
            assert await process.wait_exit() == 0
            stderr = await process.stderr()
        assert "Traceback" not in stderr and " ERROR " not in stderr, stderr[-2000:]
