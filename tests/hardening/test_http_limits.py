"""Hostile HTTP: oversized and trickled heads and bodies are refused with a 4xx (or cut) before they are read in
full, aiohttp's own limits hold on keep-alive requests, and a bystander keeps receiving throughout."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.conftest import ServerFactory
from tests.hardening.watch import unharmed
from tests.hardening.wire import http_exchange, read_response, signed_post, upgrade_request
from tests.helpers import RunningServer, make_app

QUICK = {
    "handshake_timeout": 0.5,
    "request_body_timeout": 0.5,
    "http_keepalive_timeout": 0.5,
    "max_request_body_bytes": 64 * 1024,
}
TEN_MB = 10 * 1024 * 1024


@pytest.fixture
async def quick_server(server_factory: ServerFactory) -> RunningServer:
    """Short handshake, body and keep-alive deadlines; a 64 KiB body limit."""
    return await server_factory(make_app(), **QUICK)


def events_path(server: RunningServer) -> str:
    return f"/apps/{server.app.id}/events"


class TestBodies:
    async def test_body_declared_over_the_limit_gets_413_before_it_is_sent(self, quick_server: RunningServer) -> None:
        async with unharmed(quick_server):
            reader, writer = await asyncio.open_connection(quick_server.host, quick_server.port)
            writer.write(signed_post(quick_server, events_path(quick_server), TEN_MB) + b"x" * 65536)
            status, _, body = await read_response(reader)
            assert status == 413
            assert "larger than 65536 bytes" in json.loads(body)["error"]
            writer.close()

    async def test_the_answer_to_a_refused_body_survives_the_body_still_coming(
        self, quick_server: RunningServer
    ) -> None:
        """Closing with the client's bytes unread would make the kernel reset the connection over the answer."""
        async with unharmed(quick_server):
            reader, writer = await asyncio.open_connection(quick_server.host, quick_server.port)
            writer.write(signed_post(quick_server, events_path(quick_server), TEN_MB))
            for _ in range(20):  # the body keeps coming after the server has answered; nothing is read meanwhile
                writer.write(b"x" * 16384)
                await writer.drain()
                await asyncio.sleep(0.01)
            status, _, body = await read_response(reader)
            assert status == 413
            assert "larger than 65536 bytes" in json.loads(body)["error"]
            writer.close()

    async def test_chunked_body_over_the_limit_gets_413_while_it_streams(self, quick_server: RunningServer) -> None:
        async with unharmed(quick_server):
            reader, writer = await asyncio.open_connection(quick_server.host, quick_server.port)
            writer.write(signed_post(quick_server, events_path(quick_server), 0, chunked=True))
            response = asyncio.create_task(read_response(reader))
            sent = 0
            chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
            while not response.done() and sent < TEN_MB:
                writer.write(chunk)
                await writer.drain()
                sent += 0x4000
                await asyncio.sleep(0)
            status, _, body = await response
            assert status == 413
            assert sent < 1024 * 1024, f"the server let {sent} bytes in before refusing"
            assert "larger than" in json.loads(body)["error"]
            writer.close()

    async def test_body_that_trickles_gets_408_after_the_body_timeout(self, quick_server: RunningServer) -> None:
        async with unharmed(quick_server):
            reader, writer = await asyncio.open_connection(quick_server.host, quick_server.port)
            writer.write(signed_post(quick_server, events_path(quick_server), 1000))
            started = time.monotonic()
            response = asyncio.create_task(read_response(reader))
            while not response.done() and time.monotonic() - started < 5:
                writer.write(b" ")
                await asyncio.wait([response], timeout=0.05)
            status, _, body = await response
            assert status == 408
            assert "not received within" in json.loads(body)["error"]
            assert time.monotonic() - started < 3
            writer.close()


@pytest.fixture
async def patient_server(server_factory: ServerFactory) -> RunningServer:
    """A handshake timeout far longer than any answer may take, so that waiting it out cannot pass for an answer."""
    return await server_factory(make_app(), handshake_timeout=60)


class TestNotHttp:
    @pytest.mark.parametrize(
        "opening",
        [
            pytest.param(bytes.fromhex("16030100f4010000f00303") + bytes(32), id="tls-client-hello"),
            pytest.param(bytes(range(256)), id="binary-garbage"),
            pytest.param(b'{"event": "pusher:subscribe"', id="json-without-http"),
            pytest.param(b"GET /up HTTP/1.1 and more words", id="request-line-with-a-fourth-part"),
        ],
    )
    async def test_bytes_that_cannot_be_http_get_400_and_a_close_at_once(
        self, patient_server: RunningServer, opening: bytes
    ) -> None:
        async with unharmed(patient_server):
            started = time.monotonic()
            status, response = await http_exchange(patient_server, opening, timeout=3)
            assert status == 400
            assert b"Connection: close" in response
            assert time.monotonic() - started < 2, "held instead of refused at once"

    async def test_a_tls_handshake_on_the_plain_port_is_told_so(self, patient_server: RunningServer) -> None:
        _, response = await http_exchange(patient_server, bytes.fromhex("16030100f4010000f00303"), timeout=3)
        message = json.loads(response.partition(b"\r\n\r\n")[2])["error"]
        assert "TLS" in message and "http://" in message


class TestHeads:
    async def test_head_that_trickles_is_cut_after_the_handshake_timeout(self, quick_server: RunningServer) -> None:
        async with unharmed(quick_server):
            reader, writer = await asyncio.open_connection(quick_server.host, quick_server.port)
            writer.write(b"GET /up HTTP/1.1\r\n")
            started = time.monotonic()
            received = b""
            try:
                while time.monotonic() - started < 5:
                    writer.write(b"X-Slow: y\r\n")  # one header line every 50 ms, never the end of the head
                    try:
                        chunk = await asyncio.wait_for(reader.read(1024), 0.05)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    received += chunk
            except ConnectionError:
                pass
            assert received == b""
            assert time.monotonic() - started < 3
            writer.close()

    @pytest.mark.parametrize(
        "opening",
        [
            pytest.param(b"", id="sends-nothing"),
            pytest.param(b"GET /app/test-key?protocol=7 HTTP/1.1\r\nUpgrade: websocket\r\n", id="partial-upgrade"),
        ],
    )
    async def test_connection_that_never_completes_its_head_is_closed(
        self, quick_server: RunningServer, opening: bytes
    ) -> None:
        async with unharmed(quick_server):
            reader, writer = await asyncio.open_connection(quick_server.host, quick_server.port)
            writer.write(opening)
            started = time.monotonic()
            try:
                assert await asyncio.wait_for(reader.read(), 3) == b""
            except ConnectionResetError:
                pass
            assert time.monotonic() - started < 3
            writer.close()

    @pytest.mark.parametrize("upgrade", [False, True], ids=["http", "websocket-upgrade"])
    async def test_head_over_8_kib_in_one_packet_gets_431(self, quick_server: RunningServer, upgrade: bool) -> None:
        async with unharmed(quick_server):
            start = upgrade_request(quick_server)[:-2] if upgrade else b"GET /up HTTP/1.1\r\nHost: x\r\n"
            status, response = await http_exchange(quick_server, start + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n")
            assert status == 431
            assert b"too large" in response

    async def test_more_than_64_headers_get_431(self, quick_server: RunningServer) -> None:
        async with unharmed(quick_server):
            headers = b"".join(b"X-H%d: v\r\n" % index for index in range(65))
            status, response = await http_exchange(quick_server, b"GET /up HTTP/1.1\r\n" + headers + b"\r\n")
            assert status == 431
            assert b"too many headers" in response

    async def test_request_line_over_8_kib_gets_414(self, quick_server: RunningServer) -> None:
        async with unharmed(quick_server):
            long_query = b"filter_by_prefix=" + b"a" * 9000
            status, _ = await http_exchange(quick_server, b"GET /apps/4242/channels?" + long_query + b" HTTP/1.1\r\n")
            assert status == 414

    async def test_keep_alive_request_after_the_first_is_held_to_aiohttps_limits(
        self, quick_server: RunningServer
    ) -> None:
        async with unharmed(quick_server):
            reader, writer = await asyncio.open_connection(quick_server.host, quick_server.port)
            writer.write(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = await read_response(reader)
            assert (status, json.loads(body)) == (200, {"health": "OK"})
            writer.write(b"GET /up HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
            status, _, _ = await read_response(reader)
            assert status == 400
            assert await asyncio.wait_for(reader.read(), 3) == b""
            writer.close()

    async def test_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(
        self, quick_server: RunningServer
    ) -> None:
        async with unharmed(quick_server):
            reader, writer = await asyncio.open_connection(quick_server.host, quick_server.port)
            writer.write(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, _ = await read_response(reader)
            assert status == 200
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 3) == b""
            assert time.monotonic() - started < 3
            writer.close()
