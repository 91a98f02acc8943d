"""What can one hostile socket cost a pusherpy server? Each attack on a fresh server, its peak RSS measured.

``python -m bench.hostile`` starts pusherpy on a free loopback port once per attack (so no attack pays for
another's allocations), measures the server's resident memory after a warm-up, then lets ONE socket attack for
``--seconds`` while the server's RSS is sampled every few milliseconds. It prints, per attack, the peak RSS above
the baseline and how the attack ended (the close code the server sent, or still open). ``--limits-off`` sets
``max_messages_per_second = 0`` to show what the other bounds hold by themselves.

The attacks are what a client with nothing but a socket can do, plus one that reads nothing while the app
publishes to it. Every attacker reads nothing unless the attack says so (a small ``SO_RCVBUF``), so what the
server sends piles up on the server's side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.procstat import rss_bytes
from bench.servers import free_port, wait_for_port
from bench.signing import signed_query

KEY, SECRET, APP_ID = "hostile-key", "hostile-secret", "1"
MAX_MESSAGE_BYTES = 100_000
"""pusherpy's default ``max_message_bytes``."""


def frame(opcode: int, payload: bytes, *, fin: bool = True, declared: int | None = None) -> bytes:
    """One masked client frame; ``declared`` lies about the payload length."""
    length = len(payload) if declared is None else declared
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + b"\0\0\0\0" + payload  # a zero mask: the payload goes as it is


class Attacker:
    """One raw socket that has done the upgrade and read its greeting, then reads nothing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.closed_with: str = "still open"

    @classmethod
    async def open(cls, port: int) -> Attacker:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(
            f"GET /app/{KEY}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        await reader.read(200)  # connection_established
        return cls(reader, writer)

    async def send(self, data: bytes) -> bool:
        """Write and wait for the kernel to take it; False once the server has hung up."""
        if self.writer.is_closing():
            return False
        self.writer.write(data)
        try:
            await asyncio.wait_for(self.writer.drain(), 0.5)
        except TimeoutError:
            pass  # the server stopped reading us: keep the pressure on
        except ConnectionError:
            return False
        return True

    async def close_code(self) -> str:
        """Read what the server sent, looking for its close frame (used once the attack is over)."""
        data = bytearray()
        reset = False
        try:
            while chunk := await asyncio.wait_for(self.reader.read(1 << 20), 0.5):
                data += chunk
        except TimeoutError:
            pass
        except ConnectionError:
            reset = True
        closes = [m for m in CLOSE_FRAME.finditer(data) if 1000 <= int.from_bytes(m.group(1), "big") < 5000]
        if closes:
            return f"closed {int.from_bytes(closes[-1].group(1), 'big')}"
        if reset:
            return "reset (after a close frame that was not read)"
        return "closed" if self.reader.at_eof() else "still open"


CLOSE_FRAME = re.compile(rb"\x88[\x02-\x7d](..)", re.DOTALL)
"""A server's close frame: final, opcode 8, a short unmasked payload starting with the code."""


async def _flood(attacker: Attacker, data: bytes, until: float) -> None:
    while time.monotonic() < until and await attacker.send(data):
        pass


async def ping_flood(attacker: Attacker, until: float, port: int) -> None:
    """WebSocket pings with the largest payload, never reading the pongs."""
    await _flood(attacker, frame(0x9, b"p" * 125) * 500, until)


async def pusher_ping_flood(attacker: Attacker, until: float, port: int) -> None:
    """``pusher:ping`` messages, never reading the pongs."""
    await _flood(attacker, frame(0x1, b'{"event":"pusher:ping","data":{}}') * 500, until)


async def largest_messages(attacker: Attacker, until: float, port: int) -> None:
    """Messages of the largest size, each an error to answer, never reading the answers."""
    await _flood(attacker, frame(0x1, b"[" * (MAX_MESSAGE_BYTES - 10)), until)


async def fragment_trickle(attacker: Attacker, until: float, port: int) -> None:
    """A message of nearly the largest size in 127 fragments, never finished, kept alive by pongs."""
    piece = b" " * (MAX_MESSAGE_BYTES // 128)
    await attacker.send(frame(0x1, b"{", fin=False) + frame(0x0, piece, fin=False) * 126)
    while time.monotonic() < until and await attacker.send(frame(0xA, b"")):
        await asyncio.sleep(0.1)


async def partial_frame(attacker: Attacker, until: float, port: int) -> None:
    """One frame of the largest size, all but its last byte sent, then silence."""
    await attacker.send(frame(0x1, b" " * (MAX_MESSAGE_BYTES - 1), declared=MAX_MESSAGE_BYTES))
    await asyncio.sleep(max(0.0, until - time.monotonic()))


async def many_channels(attacker: Attacker, until: float, port: int) -> None:
    """Subscriptions to public channels with the longest names, as many as are allowed and more."""
    for index in range(200):
        name = f"c{index:03d}-" + "x" * 190
        await attacker.send(frame(0x1, json.dumps({"event": "pusher:subscribe", "data": {"channel": name}}).encode()))
    await asyncio.sleep(max(0.0, until - time.monotonic()))


async def unread_subscriber(attacker: Attacker, until: float, port: int) -> None:
    """Subscribed to a channel the app publishes 10 KB events to, never reading them."""
    await attacker.send(frame(0x1, b'{"event":"pusher:subscribe","data":{"channel":"feed"}}'))
    path = f"/apps/{APP_ID}/events"
    body = json.dumps({"name": "big", "channel": "feed", "data": "x" * 10_000}).encode()

    def publish() -> None:
        query = signed_query(KEY, SECRET, "POST", path, body)
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}?{query}", data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        urllib.request.urlopen(request, timeout=5).read()

    loop = asyncio.get_running_loop()
    while time.monotonic() < until:
        await loop.run_in_executor(None, publish)


Attack = Callable[[Attacker, float, int], Awaitable[None]]
ATTACKS: dict[str, Attack] = {
    "ping-flood-unread": ping_flood,
    "pusher-ping-flood-unread": pusher_ping_flood,
    "largest-messages-unread": largest_messages,
    "fragment-trickle": fragment_trickle,
    "partial-frame": partial_frame,
    "many-channels": many_channels,
    "unread-subscriber": unread_subscriber,
}


@dataclass
class Outcome:
    attack: str
    baseline: int
    peak: int
    ending: str


def _config(directory: Path, limits_off: bool) -> Path:
    path = directory / "hostile.toml"
    rate = "max_messages_per_second = 0\n" if limits_off else ""
    path.write_text(f'[[apps]]\nid = "{APP_ID}"\nkey = "{KEY}"\nsecret = "{SECRET}"\n{rate}')
    return path


async def run_attack(name: str, seconds: float, limits_off: bool, python: str) -> Outcome:
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        config = _config(Path(directory), limits_off)
        command = [python, "-m", "pusherpy", "serve", "--host", "127.0.0.1", "--port", str(port), "--config", config]
        server = subprocess.Popen([str(part) for part in command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port("127.0.0.1", port, time.monotonic() + 15, server)
            warm = await Attacker.open(port)  # one ordinary socket first: the first connection's one-time costs
            warm.writer.close()
            await asyncio.sleep(0.5)
            baseline = peak = rss_bytes(server.pid)
            attacker = await Attacker.open(port)
            task = asyncio.create_task(ATTACKS[name](attacker, time.monotonic() + seconds, port))
            while not task.done():
                peak = max(peak, rss_bytes(server.pid))
                await asyncio.sleep(0.005)
            task.result()
            ending = await attacker.close_code()
            peak = max(peak, rss_bytes(server.pid))
            attacker.writer.close()
            return Outcome(name, baseline, peak, ending)
        finally:
            server.terminate()
            server.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long each attack runs (default 3)")
    parser.add_argument("--limits-off", action="store_true", help="max_messages_per_second = 0")
    parser.add_argument("--only", choices=sorted(ATTACKS), action="append", help="run only this attack")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs pusherpy")
    args = parser.parse_args(argv)
    print(f"{'attack':<26} {'baseline MiB':>12} {'peak MiB':>9} {'cost MiB':>9}  ending")
    for name in args.only or ATTACKS:
        outcome = asyncio.run(run_attack(name, args.seconds, args.limits_off, args.python))
        mib = 1024 * 1024
        cost = (outcome.peak - outcome.baseline) / mib
        print(
            f"{name:<26} {outcome.baseline / mib:>12.1f} {outcome.peak / mib:>9.1f} {cost:>9.1f}  {outcome.ending}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
