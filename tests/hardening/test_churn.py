"""Churn leaves nothing behind: after a thousand connect / subscribe / disconnect cycles (presence channels,
sign-ins, clean closes, hang-ups and resets) no socket, task, file descriptor, channel, presence member or user
is left, and an idle subscribed socket costs the server a bounded amount of memory.

The 10,000-connection churn and the soak are ``python -m bench.churn``'s job; these are the small versions.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import struct
import sys
import time
import tracemalloc
from typing import Any

import aiohttp

from pusherpy.protocol import signing
from pusherpy.server.state import STATE
from tests.hardening.watch import unharmed
from tests.hardening.wire import CLOSE, RawSocket, client_frame
from tests.helpers import DEADLINE, RunningServer, api_request

CYCLES = 1000
CONCURRENCY = 50
HELD = 300
MAX_BYTES_PER_SOCKET = 16 * 1024
"""Python-level memory the server may spend on one idle socket subscribed to a presence channel."""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def settle(condition: Any, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not settle"
        await asyncio.sleep(0.02)


async def metrics(server: RunningServer) -> dict[str, float]:
    """The server's /metrics for its first app (and the process gauges), by name without the prefix."""
    async with aiohttp.ClientSession() as session, session.get(server.http_url + "/metrics") as response:
        text = await response.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        if "{" in name and f'app_id="{server.app.id}"' not in name:
            continue
        values[name.split("{")[0].removeprefix("pusherpy_")] = float(value)
    return values


async def one_cycle(server: RunningServer, index: int) -> None:
    """Connect, join a presence channel (users shared between sockets), sometimes sign in, then leave one of three
    ways: a close frame, a TCP hang-up, or a reset."""
    client = await RawSocket.open(server)
    app = server.app
    user_id = f"u{index % 37}"
    channel = f"presence-churn-{index % 5}"
    channel_data = json.dumps({"user_id": user_id, "user_info": {"i": index}})
    auth = signing.sign_channel(app.key, app.secret, client.socket_id, channel, channel_data)
    client.send_json(
        {"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth, "channel_data": channel_data}}
    )
    client.send_json({"event": "pusher:subscribe", "data": {"channel": f"public-{index}"}})
    if index % 3 == 0:
        user_data = json.dumps({"id": user_id, "watchlist": ["u1", "u2"]})
        signin = signing.sign_user(app.key, app.secret, client.socket_id, user_data)
        client.send_json({"event": "pusher:signin", "data": {"auth": signin, "user_data": user_data}})
    while (await client.next_message())["event"] != "pusher_internal:subscription_succeeded":
        pass
    way = index % 3
    if way == 0:
        client.send(client_frame(CLOSE, struct.pack("!H", 1000)))
        await client.expect_eof()
    elif way == 2:
        sock = client.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends a reset
    await client.close()


async def test_a_thousand_churned_presence_connections_leave_nothing_behind(server: RunningServer) -> None:
    state = server.application[STATE]
    async with unharmed(server):
        fds_before, tasks_before = open_fds(), len(asyncio.all_tasks())
        for start in range(0, CYCLES, CONCURRENCY):
            await asyncio.gather(*(one_cycle(server, index) for index in range(start, start + CONCURRENCY)))
        await settle(lambda: len(state.broker.local_clients()) == 1, "registered sockets")  # the bystander's
        await settle(lambda: not state.tasks, "server tasks")
        await settle(lambda: open_fds() <= fds_before, "file descriptors")
        await settle(lambda: len(asyncio.all_tasks()) <= tasks_before, "asyncio tasks")
        gauges = await metrics(server)
        assert gauges["connections"] == 1
        assert gauges["channels"] == 1  # the bystander's
        assert gauges["presence_members"] == 0 and gauges["signed_in_users"] == 0
        assert gauges["connections_opened_total"] == CYCLES + 1  # and the bystander
        status, body = await api_request(server, "GET", f"/apps/{server.app.id}/channels")
        assert (status, body) == (200, {"channels": {"private-hardening-watch": {}}})
        status, body = await api_request(server, "GET", f"/apps/{server.app.id}/connections")
        assert (status, body) == (200, {"connections": 1})
        registry = state.broker.node.registry(server.app)  # type: ignore[attr-defined]
        assert set(registry.channels) == {"private-hardening-watch"} and not registry.users
        assert not state.broker.announcer.remembered()  # type: ignore[attr-defined]


async def test_an_idle_subscribed_socket_costs_the_server_a_bounded_amount_of_memory(server: RunningServer) -> None:
    state = server.application[STATE]
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.hardening.holder",
        server.host,
        str(server.port),
        server.app.key,
        server.app.secret,
        str(HELD),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    tracemalloc.start()
    try:
        baseline = tracemalloc.take_snapshot()
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"ready\n"
        await settle(lambda: len(state.broker.local_clients()) == HELD, "held sockets")
        held = tracemalloc.take_snapshot()
        holder.stdin.write(b"close\n")
        assert await asyncio.wait_for(holder.stdout.readline(), DEADLINE) == b"done\n"
        await settle(lambda: not state.broker.local_clients() and not state.tasks, "released sockets")
        gc.collect()  # closed transports and their exceptions sit in reference cycles until the collector runs
        released = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        if holder.returncode is None:
            holder.kill()
        await holder.wait()
    per_socket = sum(s.size_diff for s in held.compare_to(baseline, "filename")) / HELD
    left = sum(s.size_diff for s in released.compare_to(baseline, "filename"))
    print(f"\nserver memory per idle presence socket: {per_socket / 1024:.1f} KiB; left after release: {left} B")
    assert per_socket < MAX_BYTES_PER_SOCKET
    # What stays is the capacity that dicts and sets keep after growing (the selector's map, the app's client set).
    assert left < HELD * 512, f"{left} bytes still held after the sockets left"
