"""The publish path the listener serves itself: ``POST /apps/{id}/events`` and ``/batch_events`` on keep-alive
connections, answered in order, with anything unusual left to aiohttp. Raw sockets, so the bytes are exact."""

from __future__ import annotations

import asyncio
import json
import time

from pusherpy.protocol import signing
from tests.helpers import RunningServer, connect

DEADLINE = 5.0


def publish_request(
    server: RunningServer, channel: str, n: int, *, extra_headers: str = "", version: str = "1.1"
) -> bytes:
    path = f"/apps/{server.app.id}/events"
    body = json.dumps({"name": "tick", "channel": channel, "data": json.dumps({"n": n})}).encode()
    query = signing.signed_query(server.app.key, server.app.secret, "POST", path, timestamp=int(time.time()), body=body)
    target = path + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    head = (
        f"POST {target} HTTP/{version}\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra_headers}\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), DEADLINE)
    return status, headers, body


async def test_several_publishes_on_one_keep_alive_connection_are_each_delivered(server: RunningServer) -> None:
    async with connect(server) as subscriber:
        await subscriber.subscribe("ticks")
        reader, writer = await asyncio.open_connection(server.host, server.port)
        for n in range(3):
            writer.write(publish_request(server, "ticks", n))
            status, headers, body = await read_response(reader)
            assert (status, json.loads(body)) == (200, {})
            assert headers["content-type"].startswith("application/json")
            assert headers["access-control-allow-origin"] == "*"
            assert (await subscriber.expect("tick"))["data"] == {"n": n}
        writer.close()


async def test_pipelined_publishes_are_answered_and_delivered_in_order(server: RunningServer) -> None:
    async with connect(server) as subscriber:
        await subscriber.subscribe("ticks")
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"".join(publish_request(server, "ticks", n) for n in range(5)))
        for _ in range(5):
            status, _, _ = await read_response(reader)
            assert status == 200
        assert [(await subscriber.expect("tick"))["data"]["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
        writer.close()


async def test_connection_close_and_http_1_0_get_their_answer_then_the_connection_ends(server: RunningServer) -> None:
    for request in (
        publish_request(server, "ticks", 1, extra_headers="Connection: close\r\n"),
        publish_request(server, "ticks", 2, version="1.0"),
    ):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(request)
        status, headers, _ = await read_response(reader)
        assert status == 200 and headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
        writer.close()


async def test_a_refused_publish_gets_its_json_error_and_the_connection_stays_usable(server: RunningServer) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    forged = publish_request(server, "ticks", 1).replace(b"auth_signature=", b"auth_signature=0", 1)
    writer.write(forged)
    status, _, body = await read_response(reader)
    assert status == 401 and "signature" in json.loads(body)["error"]
    writer.write(publish_request(server, "ticks", 2))
    assert (await read_response(reader))[0] == 200
    writer.close()


async def test_another_request_after_a_publish_on_the_same_connection_is_served_by_the_http_api(
    server: RunningServer,
) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(publish_request(server, "ticks", 1))
    assert (await read_response(reader))[0] == 200
    writer.write(b"GET /up HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, _, body = await read_response(reader)
    assert (status, json.loads(body)) == (200, {"health": "OK"})
    writer.close()


async def test_a_chunked_publish_is_left_to_aiohttp_and_still_works(server: RunningServer) -> None:
    async with connect(server) as subscriber:
        await subscriber.subscribe("ticks")
        request = publish_request(server, "ticks", 7)
        head, _, body = request.partition(b"\r\n\r\n")
        head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Content-Length"))
        chunked = (
            head + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        )
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(chunked)
        status, _, _ = await read_response(reader)
        assert status == 200
        assert (await subscriber.expect("tick"))["data"] == {"n": 7}
        writer.close()
