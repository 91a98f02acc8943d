"""Hold N subscribed sockets open from another process, so a test can measure the server's memory alone.

``python -m tests.hardening.holder HOST PORT KEY SECRET N`` opens N WebSockets, subscribes each to
``presence-held-<i // 50>`` (user ``u<i>``), prints ``ready``, waits for a line on stdin, closes them all and
prints ``done``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from pusherpy.protocol import signing
from tests.hardening.wire import TEXT, client_frame

CHANNEL = "presence-held-{}"
PER_CHANNEL = 50
"""Users per presence channel: under Pusher's limit of 100 members."""


async def hold(host: str, port: int, key: str, secret: str, count: int) -> None:
    sockets: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for index in range(count):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"GET /app/{key}?protocol=7 HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        socket_id = json.loads(json.loads(await read_text(reader))["data"])["socket_id"]
        channel_data = json.dumps({"user_id": f"u{index}", "user_info": {"name": f"user {index}"}})
        channel = CHANNEL.format(index // PER_CHANNEL)
        auth = signing.sign_channel(key, secret, socket_id, channel, channel_data)
        data = {"channel": channel, "auth": auth, "channel_data": channel_data}
        writer.write(client_frame(TEXT, json.dumps({"event": "pusher:subscribe", "data": data}).encode()))
        while "subscription_succeeded" not in (text := await read_text(reader)):
            assert "error" not in text, text
        sockets.append((reader, writer))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for _, writer in sockets:
        writer.close()
    print("done", flush=True)


async def read_text(reader: asyncio.StreamReader) -> str:
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return (await reader.readexactly(length)).decode()


if __name__ == "__main__":
    host, port, key, secret, count = sys.argv[1:6]
    asyncio.run(hold(host, int(port), key, secret, int(count)))
