"""Guards for the broadcast fast path and per-connection memory that do not depend on timing.

A broadcast is framed once and the same bytes object is written to every subscriber; an idle subscribed socket
costs the server a few KiB (measured with tracemalloc in a server process of its own).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

import pusherpy.server.broker.node as broker_node
from pusherpy.server.client import Client
from tests.helpers import RunningServer, connect, trigger

SUBSCRIBERS = 50
IDLE_CONNECTIONS = 1000
MAX_KIB_PER_IDLE_CONNECTION = 8.0
"""soketi (uWebSockets) holds an idle subscribed socket in 5-6.5 KiB; pusherpy must not need more than 1.5x."""


async def test_a_broadcast_is_framed_once_and_the_same_bytes_go_to_every_subscriber(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(server)) for _ in range(SUBSCRIBERS)]
        for client in clients:
            await client.subscribe("news")
        framed: list[bytes] = []
        written: list[int] = []
        real_text_frame, real_write_frame = broker_node.text_frame, Client.write_frame

        def counting_text_frame(payload: bytes) -> bytes:
            framed.append(payload)
            return real_text_frame(payload)

        def recording_write_frame(self: Client, data: bytes) -> bool:
            written.append(id(data))
            return real_write_frame(self, data)

        monkeypatch.setattr(broker_node, "text_frame", counting_text_frame)
        monkeypatch.setattr(Client, "write_frame", recording_write_frame)
        status, _ = await trigger(server, "news", "update", {"n": 1})
        assert status == 200
        for client in clients:
            assert (await client.expect("update"))["data"] == {"n": 1}
    assert len(framed) == 1, "the event must be framed once, not once per subscriber"
    assert len(written) == SUBSCRIBERS and len(set(written)) == 1, "every socket must get the same bytes object"


@pytest.fixture
async def probe() -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    root = Path(__file__).resolve().parents[2]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.performance.memory_probe",
        cwd=root,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={name: value for name, value in os.environ.items() if name != "PYTHONASYNCIODEBUG"},  # "0" turns it on
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    assert line.startswith(b"port "), line
    try:
        yield process, int(line.split()[1])
    finally:
        process.kill()
        await process.wait()


async def _measure(process: asyncio.subprocess.Process) -> tuple[int, int]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"measure\n")
    await process.stdin.drain()
    words = (await asyncio.wait_for(process.stdout.readline(), 20)).split()
    return int(words[1]), int(words[3])


async def _open_subscribed_socket(port: int) -> asyncio.StreamWriter:
    """A minimal raw WebSocket client: upgrade, read the greeting, subscribe, read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /app/test-key?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    await _read_frame(reader)
    payload = json.dumps({"event": "pusher:subscribe", "data": {"channel": "idle"}}).encode()
    writer.write(bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload)  # masked with a zero mask
    assert b"subscription_succeeded" in await _read_frame(reader)
    return writer


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    return await reader.readexactly(length)


async def test_an_idle_subscribed_connection_costs_the_server_a_few_kib(
    probe: tuple[asyncio.subprocess.Process, int],
) -> None:
    process, port = probe
    warm = [await _open_subscribed_socket(port) for _ in range(20)]
    before, _ = await _measure(process)
    writers = [await _open_subscribed_socket(port) for _ in range(IDLE_CONNECTIONS)]
    after, clients = await _measure(process)
    assert clients == IDLE_CONNECTIONS + len(warm)
    per_connection_kib = (after - before) / IDLE_CONNECTIONS / 1024
    print(f"tracemalloc: {per_connection_kib:.2f} KiB per idle subscribed connection")
    assert per_connection_kib < MAX_KIB_PER_IDLE_CONNECTION, f"{per_connection_kib:.2f} KiB per idle connection"
    for writer in [*warm, *writers]:
        writer.close()
