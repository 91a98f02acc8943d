"""pusherpy as a service: systemd's notify protocol, the open-files limit at start, and ``pusherpy serve --check``.

systemd is not needed to prove the notify protocol: the test does what systemd does, binding a datagram AF_UNIX
socket and naming it in ``$NOTIFY_SOCKET`` of a real ``pusherpy serve`` process, then reads what arrives.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import resource
import secrets
import signal
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import DEADLINE
from tests.scale_out.cluster import RedisServer, free_port
from tests.server.serve_process import ServerProcess, run_cli, serving, stopped

SO_TIMESTAMP = 29
"""Linux's socket option that stamps each datagram with the time it arrived (``socket`` does not name it)."""


class NotifySocket:
    """The service manager's end: a bound datagram socket and the messages it received, one dict per datagram.

    Each datagram carries the kernel's arrival time, so intervals are measured as sent even if the test reads late.
    """

    def __init__(self, address: str) -> None:
        self.name = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
        self.sock.settimeout(DEADLINE)

    async def receive(self) -> dict[str, str]:
        return (await self.receive_stamped())[0]

    async def receive_stamped(self) -> tuple[dict[str, str], float]:
        """The next message and when it arrived (seconds since the epoch)."""
        data, ancillary, _, _ = await asyncio.to_thread(self.sock.recvmsg, 4096, socket.CMSG_SPACE(16))
        stamps = [struct.unpack("qq", cdata[:16]) for _, kind, cdata in ancillary if kind == SO_TIMESTAMP]
        assert stamps, "no arrival time on the datagram"
        seconds, microseconds = stamps[0]
        return dict(line.split("=", 1) for line in data.decode().splitlines()), seconds + microseconds / 1e6


@contextmanager
def notify_socket(address: str) -> Iterator[NotifySocket]:
    notify = NotifySocket(address)
    try:
        yield notify
    finally:
        notify.sock.close()


async def is_up(server: ServerProcess) -> bool:
    async with aiohttp.ClientSession() as session, session.get(server.http_url + "/up") as response:
        return response.status == 200


@pytest.mark.parametrize("kind", ["path", "abstract"])
async def test_ready_once_listening_and_stopping_on_sigterm(tmp_path: Path, kind: str) -> None:
    address = str(tmp_path / "notify") if kind == "path" else f"@pusherpy-test-{secrets.token_hex(8)}"
    with notify_socket(address) as notify:
        async with serving(env={"NOTIFY_SOCKET": address}) as server:
            ready = await notify.receive()
            assert ready["READY"] == "1"
            assert ready["STATUS"] == f"listening on 127.0.0.1:{server.port}"
            assert ready["MAINPID"] == str(server.process.pid)
            assert await is_up(server)  # READY means clients can connect
            server.process.send_signal(signal.SIGTERM)
            stopping = await notify.receive()
            assert stopping["STOPPING"] == "1"
            assert await server.wait_exit() == 0
            assert "cannot notify" not in await server.stderr()


async def test_watchdog_pings_every_half_interval(tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    with notify_socket(address) as notify:
        async with serving(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}) as server:
            assert (await notify.receive())["READY"] == "1"
            arrivals = []
            for _ in range(4):
                message, arrived = await notify.receive_stamped()
                assert message == {"WATCHDOG": "1"}
                arrivals.append(arrived)
            gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
            assert min(gaps) >= 0.1 - 0.01, gaps  # every WatchdogSec/2 (0.1 s), never more often
            server.process.send_signal(signal.SIGTERM)
            while (message := await notify.receive()) == {"WATCHDOG": "1"}:
                pass
            assert message["STOPPING"] == "1"
            assert await server.wait_exit() == 0


async def test_no_watchdog_when_it_is_meant_for_another_process(tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}  # every 0.5 ms if it were ours
    with notify_socket(address) as notify:
        async with serving(env=env) as server:
            assert (await notify.receive())["READY"] == "1"
            assert await is_up(server)  # time for many pings, had they been sent
            server.process.send_signal(signal.SIGTERM)
            assert (await notify.receive())["STOPPING"] == "1"
            assert await server.wait_exit() == 0


async def test_an_unreachable_notify_socket_is_logged_once_and_the_server_serves_on(tmp_path: Path) -> None:
    async with serving(env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}) as server:
        assert await is_up(server)
        log = await stopped(server)
    warnings = [line for line in log.splitlines() if "cannot notify the service manager" in line]
    assert len(warnings) == 1 and " WARNING " in warnings[0], log  # READY and STOPPING failed: one line
    assert "Traceback" not in log


def open_files_limit(pid: int) -> tuple[int, int]:
    """The (soft, hard) RLIMIT_NOFILE of a running process, as the kernel reports it."""
    limits = Path(f"/proc/{pid}/limits").read_text()
    match = re.search(r"^Max open files\s+(\d+)\s+(\d+)", limits, re.M)
    assert match is not None, limits
    return int(match[1]), int(match[2])


def limited(soft: int, hard: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_the_soft_open_files_limit_is_raised_to_the_hard_limit_at_start() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 1024:
        pytest.skip(f"needs a finite hard open-files limit above 1024 (it is {hard})")
    async with serving(preexec_fn=limited(1024, hard)) as server:
        assert open_files_limit(server.process.pid) == (hard, hard)
        log = await stopped(server)
    assert f"INFO pusherpy.server.fdlimit: open-files limit raised from 1024 to {hard} (the hard limit)" in log, log
    assert "open-files limit is" not in log  # not low: no warning


async def test_a_low_open_files_limit_is_warned_about_with_the_connections_it_allows() -> None:
    async with serving(preexec_fn=limited(256, 256)) as server:
        assert open_files_limit(server.process.pid) == (256, 256)
        log = await stopped(server)
    warning = [line for line in log.splitlines() if "open-files limit is 256" in line]
    assert len(warning) == 1 and " WARNING " in warning[0], log
    assert "about 224 connections at most" in warning[0] and "LimitNOFILE=" in warning[0]


# -- pusherpy serve --check -----------------------------------------------------------------------------------------


async def test_check_prints_what_would_run_without_secrets_and_exits_0(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = tmp_path / "pusherpy.toml"
    config.write_text(
        '[[apps]]\nid = "7"\nkey = "seven-key"\nsecret = "seven-secret"\n'
        '[[apps]]\nid = "8"\nkey = "eight-key"\nsecret = "eight-secret"\n'
    )
    redis_url = f"redis://default:redis-password@127.0.0.1:{redis_server.port}/0"
    port = free_port()
    code, out, err = await run_cli(
        "serve", "--check", "--config", str(config), "--port", str(port), "--redis-url", redis_url
    )
    assert (code, err) == (0, ""), (out, err)
    assert f"would serve http://127.0.0.1:{port} " in out
    assert "  id=7 key=seven-key\n  id=8 key=eight-key\n" in out
    assert f"redis: redis://default:***@127.0.0.1:{redis_server.port}/0\n" in out
    assert "secret" not in out and "redis-password" not in out
    assert out.rstrip().endswith("pusherpy serve --check: OK")
    with socket.create_server(("127.0.0.1", port)):  # --check closed what it bound
        pass


async def test_check_names_each_problem_on_its_own_line_and_exits_1() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        dead_redis = free_port()  # nothing listens there
        code, out, err = await run_cli(
            "serve", "--check", "--port", str(port), "--redis-url", f"redis://:pw@127.0.0.1:{dead_redis}/0"
        )
    assert code == 1, (out, err)
    problems = err.splitlines()
    assert problems[0].startswith(f"pusherpy: problem: port: cannot bind 127.0.0.1:{port}: "), err
    assert "in use" in problems[0]
    assert problems[1].startswith(f"pusherpy: problem: redis: redis://:***@127.0.0.1:{dead_redis}/0 does not answer"), (
        err
    )
    assert problems[2:] == ["pusherpy serve --check: 2 problems"]
    assert "pw" not in err.replace("problem", "")
    assert "Traceback" not in err


async def test_check_refuses_a_bad_config_with_one_named_line() -> None:
    code, out, err = await run_cli("serve", "--check", "--port", "not-a-port")
    assert code == 2 and out == ""
    assert err.startswith("pusherpy: configuration error: ") and "port" in err and "not-a-port" in err, err
    assert len(err.splitlines()) == 1


async def test_check_gives_up_on_a_redis_that_does_not_answer(redis_server: RedisServer) -> None:
    redis_server.pause()  # accepts connections (the kernel does) but never answers: --check must not hang
    code, _, err = await run_cli("serve", "--check", "--redis-url", redis_server.url)
    assert code == 1
    assert err.splitlines()[0].startswith(f"pusherpy: problem: redis: {redis_server.url} does not answer PING: "), err
