"""A server out of file descriptors says so: one WARNING naming the limit and how to raise it (no traceback, at
most one per 10 s), ``pusherpy_accept_failures_total{reason="emfile"}`` in ``/metrics``, and service again as soon
as clients hang up.

The server is a real ``pusherpy serve`` process whose RLIMIT_NOFILE is lowered to 64 before it starts, soft and hard
limits both, as ``ulimit -n 64`` does (pusherpy raises its soft limit to the hard one at start), on each event loop:
``pusherpy serve`` runs uvloop whenever it can import it, so the asyncio run hides uvloop from the process.
"""

from __future__ import annotations

import asyncio
import errno
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import aiohttp
import pytest

from pusherpy.server.accept import WarningThrottle, failure_message
from tests.helpers import DEADLINE
from tests.server.serve_process import LISTENING, clean_env

LIMIT = 64
"""The open-files limit of the server under test (``ulimit -n 64``): about 20 go to the process itself."""

_LAUNCH = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[1])))
if sys.argv[2] == "asyncio":
    sys.modules["uvloop"] = None  # an import of it now fails, so pusherpy serve runs asyncio's own loop
from pusherpy.cli import main
sys.exit(main(sys.argv[3:]))
"""


@dataclass
class LimitedServer:
    process: asyncio.subprocess.Process
    port: int = 0
    log: list[str] = field(default_factory=list)
    """Every stderr line so far."""
    logged: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a line is added to ``log``."""

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def log_line(self, text: str) -> str:
        async with asyncio.timeout(DEADLINE):
            while not (lines := [line for line in self.log if text in line]):
                self.logged.clear()
                await self.logged.wait()
        return lines[0]


@asynccontextmanager
async def limited_server(loop: str) -> AsyncIterator[LimitedServer]:
    """``pusherpy serve --port 0`` with RLIMIT_NOFILE lowered to ``LIMIT`` (soft and hard) on ``loop``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LAUNCH, str(LIMIT), loop, "serve", "--port", "0",
        env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    server = LimitedServer(process)

    async def read_log() -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            server.log.append(line.decode().rstrip("\n"))
            server.logged.set()

    reader = asyncio.create_task(read_log())
    try:
        assert process.stdout is not None
        async with asyncio.timeout(DEADLINE * 2):
            while not server.port:
                line = (await process.stdout.readline()).decode()
                assert line, f"pusherpy serve exited before listening: {server.log}"
                if match := LISTENING.match(line.strip()):
                    server.port = int(match["port"])
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
        with suppress(ProcessLookupError):
            await asyncio.wait_for(process.wait(), DEADLINE)
        await asyncio.wait_for(reader, DEADLINE)


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        async with session.get(url) as response:
            return response.status, await response.text()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_out_of_descriptors_is_logged_counted_and_served_again_once_clients_leave(loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    async with limited_server(loop) as server:
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(LIMIT + 16)]
        warning = await server.log_line("cannot accept connections")
        for _reader, writer in held:
            writer.close()

        status, _ = await get(server.http_url + "/up")
        assert status == 200
        _, metrics = await get(server.http_url + "/metrics")
        failures = re.search(r'^pusherpy_accept_failures_total\{reason="emfile"\} (\d+)$', metrics, re.M)
        assert failures is not None and int(failures[1]) >= 1
        url = f"ws://127.0.0.1:{server.port}/app/pusherpy-dev-key?protocol=7"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            established = await ws.receive_json(timeout=DEADLINE)
            assert established["event"] == "pusher:connection_established"

    assert " WARNING pusherpy.server.accept: " in warning
    assert f"EMFILE: RLIMIT_NOFILE soft limit {LIMIT}, hard limit " in warning
    assert "`ulimit -n N`" in warning and "LimitNOFILE=N" in warning
    assert [line for line in server.log if "cannot accept" in line] == [warning]  # one episode, one line
    assert not [line for line in server.log if "Traceback" in line or " ERROR " in line], server.log


class TestWarningThrottle:
    def test_the_first_failure_of_a_reason_is_logged(self) -> None:
        throttle = WarningThrottle(interval=10)
        assert throttle.failed("emfile", now=100.0) == 0
        assert throttle.failed("enfile", now=100.5) == 0

    def test_failures_within_the_interval_are_counted_into_the_next_warning(self) -> None:
        throttle = WarningThrottle(interval=10)
        throttle.failed("emfile", now=100.0)
        assert [throttle.failed("emfile", now=100.0 + step) for step in (0.25, 5, 9.99)] == [None, None, None]
        assert throttle.failed("emfile", now=110.0) == 3
        assert throttle.failed("emfile", now=110.25) is None
        assert throttle.failed("emfile", now=200.0) == 1


def test_the_warning_says_how_many_failures_went_unlogged() -> None:
    message = failure_message("emfile", OSError(errno.EMFILE, "Too many open files"), 37)
    assert message.endswith("(37 more failed accepts since the last warning)")
    assert "since the last warning" not in failure_message("emfile", OSError(errno.EMFILE, "x"), 0)


def test_a_full_system_file_table_names_fs_file_max() -> None:
    message = failure_message("enfile", OSError(errno.ENFILE, "Too many open files in system"), 0)
    assert "(ENFILE)" in message and "fs.file-max" in message
