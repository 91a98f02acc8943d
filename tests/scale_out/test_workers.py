"""``pusherpy serve --workers 2``: two worker processes on one port look like one server to clients.

The server is started as a user starts it (``python -m pusherpy serve --workers 2 --config ...``) on a real
``redis-server``. Which worker a socket landed on is read from the workers' own ``/metrics`` listeners (worker ``i``
serves them on ``metrics_port + i``): a socket is opened, then the worker whose connection gauge went up has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import PusherClient, connect, trigger
from tests.scale_out.cluster import (
    _STARTED,
    LISTENING,
    MAIN_APP,
    START_DEADLINE,
    Node,
    RedisServer,
    _read_until,
    eventually,
    named,
)
from tests.server.test_service import notify_socket

HEARTBEAT_SECONDS = 0.3
TTL_SECONDS = 2.0
WORKER_PIDS = re.compile(r"2 workers share port \d+ \(pids (\d+), (\d+)\)")


def free_port_pair() -> int:
    """A port ``p`` such that ``p`` and ``p + 1`` were both free a moment ago (the two workers' metrics ports).

    They are taken below the kernel's ephemeral range: a port from ``bind(0)`` is in that range, and so is the
    local port of every outgoing connection, so ``p + 1`` could be taken (by a worker's own Redis connection) between
    this check and the worker's bind; below the range only an explicit bind can take it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(10_000, low - 1), 200):
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError(f"no two free consecutive ports below {low}")


def config(redis_url: str, metrics_port: int) -> str:
    return f"""
redis_url = "{redis_url}"
redis_prefix = "workers-test"
node_heartbeat_seconds = {HEARTBEAT_SECONDS}
node_ttl_seconds = {TTL_SECONDS}
metrics_port = {metrics_port}
shutdown_timeout = 2

[[apps]]
id = "{MAIN_APP.id}"
key = "{MAIN_APP.key}"
secret = "{MAIN_APP.secret}"
enable_subscription_count = true
enable_client_events = true
"""


@dataclass
class Workers:
    """The parent process, the shared port (as a ``Node`` the test helpers talk to), and the metrics ports."""

    parent: asyncio.subprocess.Process
    node: Node
    metrics_port: int
    pids: list[int]
    log: Path

    async def connections(self, index: int) -> int:
        """Worker ``index``'s own count of open sockets (its ``/metrics``)."""
        url = f"http://127.0.0.1:{self.metrics_port + index}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        match = re.search(rf'^pusherpy_connections{{app_id="{MAIN_APP.id}"}} (\d+)', text, re.MULTILINE)
        return int(match.group(1)) if match else 0

    async def worker_up(self, index: int) -> bool:
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{self.metrics_port + index}/up"
                async with session.get(url) as response:
                    return response.status == 200
        except aiohttp.ClientError:
            return False


@asynccontextmanager
async def running_workers(
    tmp_path: Path, redis: RedisServer, env: dict[str, str] | None = None
) -> AsyncIterator[Workers]:
    metrics_port = free_port_pair()
    path = tmp_path / "workers.toml"
    path.write_text(config(redis.url, metrics_port))
    log_path = tmp_path / "workers.log"
    with open(log_path, "wb") as log:
        parent = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pusherpy",
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--config",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env={**os.environ, **(env or {})},
        )
        _STARTED.append(parent)
        pids: list[int] = []
        try:
            assert parent.stdout is not None
            try:
                port = int((await _read_until(parent.stdout, LISTENING, "the workers' banner")).group(1))
            except (AssertionError, TimeoutError) as error:
                raise AssertionError(f"{error!r}; the parent's log:\n{log_path.read_text()}") from None
            found = WORKER_PIDS.search(log_path.read_text())
            assert found is not None, log_path.read_text()
            pids += [int(found.group(1)), int(found.group(2))]
            workers = Workers(parent, Node("workers", parent, port, apps=(MAIN_APP,)), metrics_port, pids, log_path)
            for index in (0, 1):
                await eventually(lambda i=index: workers.worker_up(i), timeout=START_DEADLINE, what=f"worker {index}")
            yield workers
        finally:
            if parent.returncode is None:
                parent.terminate()
                try:
                    await asyncio.wait_for(parent.wait(), 15)
                except TimeoutError:
                    parent.kill()
            for pid in pids:  # the first ones: restarted ones die with the parent's SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


async def one_on_each(workers: Workers, stack: AsyncExitStack) -> tuple[PusherClient, PusherClient]:
    """Open sockets until one is on worker 0 and one on worker 1; the others stay open, unused."""
    found: dict[int, PusherClient] = {}
    counts = [await workers.connections(0), await workers.connections(1)]
    for _ in range(40):
        client = await stack.enter_async_context(connect(workers.node))
        now = [await workers.connections(0), await workers.connections(1)]
        landed = 0 if now[0] > counts[0] else 1
        assert now[landed] == counts[landed] + 1, (counts, now)
        counts = now
        found.setdefault(landed, client)
        if len(found) == 2:
            return found[0], found[1]
    raise AssertionError("40 sockets all landed on one worker: the port is not shared")


async def test_clients_on_different_workers_see_one_server(tmp_path: Path, redis_server: RedisServer) -> None:
    async with running_workers(tmp_path, redis_server) as workers, AsyncExitStack() as stack:
        ann, bob = await one_on_each(workers, stack)
        await ann.subscribe("presence-room", user_id="ann", user_info={"name": "Ann"})
        reply = await bob.subscribe("presence-room", user_id="bob", user_info={"name": "Bob"})
        assert sorted(reply["data"]["presence"]["ids"]) == ["ann", "bob"]
        added = await ann.expect("pusher_internal:member_added", channel="presence-room")
        assert added["data"] == {"user_id": "bob", "user_info": {"name": "Bob"}}

        await ann.subscribe("counted")
        await bob.subscribe("counted")
        count = await ann.expect("pusher_internal:subscription_count", channel="counted")
        while count["data"]["subscription_count"] != 2:
            count = await ann.expect("pusher_internal:subscription_count", channel="counted")

        await bob.send("client-hello", {"from": "bob"}, channel="presence-room")
        relayed = await ann.expect("client-hello", channel="presence-room")
        assert relayed["data"] == {"from": "bob"}

        status, _ = await trigger(workers.node, "counted", "news", {"n": 1})
        assert status == 200
        assert (await ann.expect("news", channel="counted"))["data"] == {"n": 1}
        assert (await bob.expect("news", channel="counted"))["data"] == {"n": 1}


async def test_a_killed_worker_is_restarted_and_its_members_removed(tmp_path: Path, redis_server: RedisServer) -> None:
    async with running_workers(tmp_path, redis_server) as workers, AsyncExitStack() as stack:
        ann, bob = await one_on_each(workers, stack)
        await ann.subscribe("presence-crash", user_id="ann")
        await bob.subscribe("presence-crash", user_id="bob")
        await ann.expect("pusher_internal:member_added", channel="presence-crash")

        os.kill(workers.pids[1], signal.SIGKILL)
        removed = await ann.expect("pusher_internal:member_removed", channel="presence-crash", timeout=TTL_SECONDS * 3)
        assert removed["data"] == {"user_id": "bob"}
        assert named(ann.backlog, "pusher_internal:member_removed") == []

        restarted = re.compile(rf"worker 1 \(pid {workers.pids[1]}\) exited \(killed by SIGKILL\)")

        async def logged() -> bool:
            return restarted.search(workers.log.read_text()) is not None

        await eventually(logged, what="the restart log line")
        await eventually(lambda: workers.worker_up(1), timeout=START_DEADLINE, what="worker 1 serving again")
        carl, dora = await one_on_each(workers, stack)  # the restarted worker takes sockets on the shared port
        await carl.subscribe("presence-after", user_id="carl")
        reply = await dora.subscribe("presence-after", user_id="dora")
        assert sorted(reply["data"]["presence"]["ids"]) == ["carl", "dora"]
        assert workers.parent.returncode is None


async def test_sigterm_closes_every_socket_with_4200_and_the_parent_exits_0(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with running_workers(tmp_path, redis_server) as workers, AsyncExitStack() as stack:
        ann, bob = await one_on_each(workers, stack)
        workers.parent.send_signal(signal.SIGTERM)
        assert await ann.expect_close() == 4200
        assert await bob.expect_close() == 4200
        assert await asyncio.wait_for(workers.parent.wait(), 15) == 0
        for pid in workers.pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)  # gone, and reaped by the parent before it exited


async def test_more_than_one_worker_needs_redis(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pusherpy",
        "serve",
        "--workers",
        "2",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 2
    assert stdout == b""
    message = stderr.decode()
    assert message.count("\n") == 1, message
    assert "workers=2 needs redis_url" in message
    assert "--redis-url" in message


async def test_systemd_hears_ready_from_the_parent_once_every_worker_listens(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    address = str(tmp_path / "notify")
    with notify_socket(address) as notify:
        async with running_workers(tmp_path, redis_server, env={"NOTIFY_SOCKET": address}) as workers:
            ready = await notify.receive()
            assert ready["READY"] == "1"
            assert ready["MAINPID"] == str(workers.parent.pid)  # NotifyAccess=main: only the parent is heard
            assert ready["STATUS"] == f"2 workers listening on 127.0.0.1:{workers.node.port}"
            workers.parent.send_signal(signal.SIGTERM)
            assert (await notify.receive())["STOPPING"] == "1"
            assert await asyncio.wait_for(workers.parent.wait(), 15) == 0
        notify.sock.setblocking(False)
        with pytest.raises(BlockingIOError):  # and nothing from the workers themselves
            notify.sock.recv(4096)


async def test_worker_0_that_dies_before_it_listens_prints_the_banner_when_it_comes_back(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The banner is worker 0's to print once; a worker 0 that could not start (its metrics port was taken) has
    not printed it, so its restart does."""
    metrics_port = free_port_pair()
    path = tmp_path / "workers.toml"
    path.write_text(config(redis_server.url, metrics_port))
    log_path = tmp_path / "workers.log"
    with socket.create_server(("127.0.0.1", metrics_port)) as taken, open(log_path, "wb") as log:
        parent = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pusherpy", "serve", "--port", "0", "--workers", "2", "--config", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
        _STARTED.append(parent)
        try:

            async def restarting() -> bool:
                return re.search(r"worker 0 \(pid \d+\) exited .*; restarting it", log_path.read_text()) is not None

            await eventually(restarting, timeout=START_DEADLINE, what="worker 0 failing and being restarted")
            taken.close()
            assert parent.stdout is not None
            await _read_until(parent.stdout, LISTENING, "the banner from the restarted worker 0")
        finally:
            parent.terminate()
            assert await asyncio.wait_for(parent.wait(), 15) == 0
