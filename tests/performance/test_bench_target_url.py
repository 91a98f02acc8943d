"""``--vs-url``: a server the user already runs, named by one URL; anything ambiguous is refused in one line that
never repeats the secret."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.target_url import from_url
from tests.helpers import RunningServer, connect

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-value"
SMALL_RUN = ["--scenarios", "connections", "--connections", "20", "--no-pin", "--seconds", "1"]


class TestParse:
    def test_key_secret_host_port_and_app_id_are_read_percent_decoded(self) -> None:
        target = from_url(f"http://app%2Dkey:{SECRET}%2F1@127.0.0.1:6001/apps/app-id?pid=12&pid=34")
        assert (target.host, target.port, target.app_id) == ("127.0.0.1", 6001, "app-id")
        assert (target.app_key, target.app_secret) == ("app-key", f"{SECRET}/1")
        assert target.pids == [12, 34]

    def test_the_name_comes_from_the_query_then_the_default_then_host_and_port(self) -> None:
        url = f"http://k:{SECRET}@localhost:6001/apps/1"
        assert from_url(url + "?name=reverb", "soketi").name == "reverb"
        assert from_url(url, "soketi").name == "soketi"
        assert from_url(url).name == "127.0.0.1:6001"

    def test_ws_and_ipv6_loopback_are_accepted(self) -> None:
        target = from_url(f"ws://k:{SECRET}@[::1]:6001/apps/1")
        assert (target.host, target.port) == ("::1", 6001)

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            (f"https://k:{SECRET}@127.0.0.1:6001/apps/1", "plain http:// only"),
            (f"ftp://k:{SECRET}@127.0.0.1:6001/apps/1", "not http://"),
            ("127.0.0.1:6001/apps/1", "scheme"),
            ("http://127.0.0.1:6001/apps/1", "no KEY:SECRET"),
            ("http://key@127.0.0.1:6001/apps/1", "no KEY:SECRET"),
            (f"http://k:{SECRET}@127.0.0.1:6001/", "/apps/ID"),
            (f"http://k:{SECRET}@127.0.0.1:6001/app/1", "/apps/ID"),
            (f"http://k:{SECRET}@127.0.0.1:6001/apps/1/events", "/apps/ID"),
            (f"http://k:{SECRET}@127.0.0.1:port/apps/1", "bad port"),
            (f"http://k:{SECRET}@127.0.0.1:70000/apps/1", "bad port"),
            (f"http://k:{SECRET}@10.1.2.3:6001/apps/1", "not a loopback address"),
            (f"http://k:{SECRET}@example.com:6001/apps/1", "not an IP address"),
            (f"http://k:{SECRET}@127.0.0.1:6001/apps/1?pid=abc", "not a process id"),
            (f"http://k:{SECRET}@127.0.0.1:6001/apps/1?secret=x", "unknown query parameter"),
        ],
    )
    def test_an_ambiguous_url_is_refused_without_showing_the_secret(self, url: str, reason: str) -> None:
        with pytest.raises(ValueError, match=reason) as refused:
            from_url(url)
        assert SECRET not in str(refused.value)


def bench_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bench ARGS`` to its end, as a user would."""
    return subprocess.run(bench_argv(*args), cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)


def test_a_bad_vs_url_ends_the_run_in_one_line_before_anything_starts() -> None:
    run = run_bench("--vs-url", f"http://k:{SECRET}@192.168.1.5:6001/apps/1", *SMALL_RUN)
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == "--vs-url: 192.168.1.5 is not a loopback address: the bench only talks to 127.0.0.1\n"


def test_a_vs_url_where_nothing_listens_ends_the_run_in_one_line() -> None:
    with socket.socket() as held:  # bound but not listening: connections to it are refused while the test runs
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        run = run_bench("--vs-url", f"http://k:{SECRET}@127.0.0.1:{port}/apps/1", *SMALL_RUN)
    assert (run.returncode, run.stdout) == (1, "")
    refused = f"nothing accepts connections on 127.0.0.1:{port} (Connection refused): start that server first\n"
    assert run.stderr == refused


async def test_a_running_server_is_measured_under_its_name_and_left_running(server: RunningServer) -> None:
    app = server.app
    url = f"http://{app.key}:{app.secret}@127.0.0.1:{server.port}/apps/{app.id}?pid={os.getpid()}&name=theirs"
    bench = await asyncio.create_subprocess_exec(
        *bench_argv("--vs-url", url, *SMALL_RUN),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    stdout, stderr = await asyncio.wait_for(bench.communicate(), 90)
    assert bench.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert lines[1].split()[2:5] == ["pusherpy", "theirs", "pusherpy/theirs"]
    errors = next(line for line in lines if line.startswith("connections.20.errors"))
    assert errors.split()[2:4] == ["0", "0"]
    async with connect(server):  # the bench did not stop it
        pass
