"""Request smuggling on the publish fast path: a head whose body length two parsers could read differently
(two Content-Lengths, Content-Length with Transfer-Encoding, digits that are not ASCII, a header that only a
lenient parser reads as Content-Length) is answered 400 and closed, and the request hidden behind it is never
run. The listener reads these heads itself, so it must never read a body with a length other than the one a
proxy in front would use (RFC 9112 §11.2)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from pusherpy.protocol import signing
from tests.conftest import ServerFactory
from tests.hardening.server_log import assert_no_bug_logged
from tests.hardening.watch import unharmed
from tests.hardening.wire import RawSocket, read_response, upgrade_request
from tests.helpers import DEADLINE, RunningServer, connect, make_app, trigger

TARGET_CHANNEL = "smuggling-target"


@pytest.fixture
async def server(server_factory: ServerFactory, caplog: pytest.LogCaptureFixture) -> RunningServer:
    caplog.set_level(logging.DEBUG)  # every record, so that a traceback at any level would be seen
    return await server_factory(make_app(), handshake_timeout=60)


def signed_publish(server: RunningServer, channel: str, event: str) -> bytes:
    """A whole, validly signed publish request."""
    path = f"/apps/{server.app.id}/events"
    body = json.dumps({"name": event, "channel": channel, "data": "{}"}).encode()
    query = signing.signed_query(server.app.key, server.app.secret, "POST", path, timestamp=int(time.time()), body=body)
    query_text = "&".join(f"{name}={value}" for name, value in query.items())
    return (
        f"POST {path}?{query_text} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def publish_head(server: RunningServer, *framing: bytes) -> bytes:
    """The head of a signed publish with the given framing lines (the body is what follows it)."""
    path = f"/apps/{server.app.id}/events"
    query = signing.signed_query(server.app.key, server.app.secret, "POST", path, timestamp=int(time.time()))
    query_text = "&".join(f"{name}={value}" for name, value in query.items())
    head = f"POST {path}?{query_text} HTTP/1.1\r\nHost: {server.host}\r\n".encode()
    return head + b"".join(line + b"\r\n" for line in framing) + b"\r\n"


AMBIGUOUS_FRAMING = [
    pytest.param((b"Content-Length: 120", b"Content-Length: 0"), id="two-content-lengths"),
    pytest.param((b"Content-Length: 0", b"Transfer-Encoding: chunked"), id="content-length-and-chunked"),
    pytest.param((b"Transfer-Encoding: chunked", b"Content-Length: 0"), id="chunked-and-content-length"),
    pytest.param(("Content-Length: ٠".encode(),), id="arabic-indic-zero"),
    pytest.param(("Content-Length: ０".encode(),), id="fullwidth-zero"),
    pytest.param((b"Content-Length: \xb2",), id="superscript-two-byte"),  # "²" in latin-1: str.isdigit() says yes
    pytest.param((b"Content-Length: +0",), id="signed-length"),
    pytest.param((b"Content-Length : 0",), id="space-before-the-colon"),
    pytest.param((b"X-Padding: a", b" Content-Length: 0"), id="folded-into-the-line-before"),
    pytest.param((b"X-Padding: a\nContent-Length: 0",), id="bare-lf-line-end"),
]


@pytest.mark.parametrize("framing", AMBIGUOUS_FRAMING)
async def test_an_ambiguous_body_length_gets_400_and_a_close_and_the_request_behind_it_never_runs(
    server: RunningServer, caplog: pytest.LogCaptureFixture, framing: tuple[bytes, ...]
) -> None:
    async with unharmed(server), connect(server) as subscriber:
        assert (await subscriber.subscribe(TARGET_CHANNEL))["event"] == "pusher_internal:subscription_succeeded"
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(publish_head(server, *framing) + signed_publish(server, TARGET_CHANNEL, "smuggled"))

        status, headers, body = await read_response(reader)
        assert status == 400
        assert headers.get("connection") == "close"
        assert json.loads(body)["error"]
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b"", "the connection stayed open"
        writer.close()

        # Published after the attack was answered: had the smuggled publish run, its event would come first.
        assert (await trigger(server, TARGET_CHANNEL, "marker", {}))[0] == 200
        assert (await subscriber.expect("marker", channel=TARGET_CHANNEL))["event"] == "marker"
        assert [m for m in subscriber.backlog if m["event"] == "smuggled"] == []
    assert_no_bug_logged(caplog)


async def test_a_websocket_upgrade_that_declares_a_body_gets_400_not_a_socket(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The bytes after an upgrade are frames to pusherpy but a body to a proxy in front: such a head is refused."""
    head = upgrade_request(server).replace(b"\r\n\r\n", b"\r\nContent-Length: 6\r\n\r\n")
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head + b"\x89\x80abcd")  # six bytes: a masked ping frame, or a body
    status, _, body = await read_response(reader)
    assert status == 400
    assert json.loads(body) == {"error": "a WebSocket upgrade request has no body"}
    writer.close()
    raw = await RawSocket.open(server)  # the same upgrade without a body opens a socket
    await raw.close()
    assert_no_bug_logged(caplog)
