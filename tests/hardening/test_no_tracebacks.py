"""No client bytes on a socket ever reach the logs as an error or the event loop as an unhandled exception.

Hundreds of sockets each send a random mix of what a client can send after the upgrade: Pusher messages with
fields of every JSON type (subscriptions with forged auth and odd ``channel_data``, client events, sign-ins,
pings), broken JSON, binary and control frames, fragments (complete, interleaved with control frames, or
abandoned), and raw bytes. The sequences come from a seeded generator, so a failure is replayed by its seed.
Every socket must end in a Pusher error, a close, or nothing; the server must log nothing at ERROR or above and
the loop's exception handler must never be called.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.hardening.watch import unharmed
from tests.hardening.wire import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, RawSocket, client_frame
from tests.helpers import make_app

SOCKETS = 300
"""Random sockets per run; a run takes a few seconds."""

_VALUES: list[Callable[[random.Random], Any]] = [
    lambda r: None,
    lambda r: r.choice([True, False]),
    lambda r: r.randint(-(2**70), 2**70),
    lambda r: r.random() * 1e308 * r.choice([1, -1]),
    lambda r: "".join(chr(r.randint(0, 0x2FFF)) for _ in range(r.randint(0, 30))),
    lambda r: [r.randint(0, 9)] * r.randint(0, 5),
    lambda r: {"user_id": r.choice([1, "u", None, [], "x" * 300]), "user_info": r.choice([{}, "i", 5])},
    lambda r: "{" * r.randint(1, 400),
]
_CHANNELS = ["news", "private-a", "presence-a", "private-encrypted-a", "#server-to-user-u", "cache-a", "", "x" * 300]
_EVENTS = ["pusher:subscribe", "pusher:unsubscribe", "pusher:ping", "pusher:pong", "pusher:signin", "client-x", "e"]


def _value(rng: random.Random) -> Any:
    return rng.choice(_VALUES)(rng)


def _pusher_message(rng: random.Random) -> bytes:
    data: Any = {
        "channel": rng.choice(_CHANNELS) if rng.random() < 0.8 else _value(rng),
        "auth": rng.choice(["test-key:" + "0" * 64, "test-key:", ":", _value(rng)]),
        "channel_data": rng.choice([json.dumps({"user_id": "u"}), "{", json.dumps(_value(rng)), _value(rng)]),
        "user_data": rng.choice([json.dumps({"id": "u", "watchlist": ["a"] * 200}), "[]", _value(rng)]),
    }
    if rng.random() < 0.3:
        data = json.dumps(data) if rng.random() < 0.5 else _value(rng)
    message: dict[str, Any] = {"event": rng.choice(_EVENTS) if rng.random() < 0.9 else _value(rng), "data": data}
    if rng.random() < 0.5:
        message["channel"] = rng.choice(_CHANNELS)
    try:
        return json.dumps(message).encode()
    except ValueError:  # a float json cannot write
        return b'{"event":'


def _frames(rng: random.Random) -> bytes:
    """What one random socket sends after the upgrade."""
    out = bytearray()
    for _ in range(rng.randint(1, 12)):
        kind = rng.random()
        if kind < 0.5:
            out += client_frame(TEXT, _pusher_message(rng))
        elif kind < 0.6:
            payload = _pusher_message(rng)
            cut = rng.randint(1, max(1, len(payload) - 1))
            out += client_frame(TEXT, payload[:cut], fin=False)
            if rng.random() < 0.5:
                out += client_frame(rng.choice([PING, PONG]), bytes(rng.randrange(256) for _ in range(5)))
            if rng.random() < 0.8:
                out += client_frame(CONTINUATION, payload[cut:])
        elif kind < 0.7:
            out += client_frame(rng.choice([BINARY, PING, PONG]), bytes(rng.randrange(256) for _ in range(20)))
        elif kind < 0.8:
            out += client_frame(TEXT, bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))))
        elif kind < 0.85:
            out += client_frame(CLOSE, bytes(rng.randrange(256) for _ in range(rng.randint(0, 6))))
        elif kind < 0.9:
            out += client_frame(rng.randrange(16), b"{}", fin=rng.random() < 0.5, rsv=rng.randrange(8))
        else:
            out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 30)))
    return bytes(out)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _one_socket(server: Any, sent: bytes) -> None:
    raw = await RawSocket.open(server)
    try:
        raw.send(sent)
        await raw.writer.drain()
        await raw.expect_eof(timeout=0.3)
    except (TimeoutError, ConnectionError):
        pass  # still open and silent, or reset after a close: both fine
    finally:
        await raw.close()


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_bytes_on_sockets_log_no_error_and_raise_nothing_into_the_loop(
    server_factory: ServerFactory, seed: int
) -> None:
    server = await server_factory(make_app(enable_client_events=True), max_message_bytes=4096)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    rng = random.Random(seed)
    try:
        async with unharmed(server):
            for start in range(0, SOCKETS, 20):
                batch = [_frames(rng) for _ in range(min(20, SOCKETS - start))]
                await asyncio.gather(*(_one_socket(server, sent) for sent in batch))
    finally:
        loop.set_exception_handler(previous)
        logging.getLogger().removeHandler(errors)
    assert not unhandled, f"unhandled in the loop: {unhandled[:3]}"
    assert not errors.records, [f"{r.name}: {r.getMessage()}" for r in errors.records[:5]]
