"""The README's two commands work on a fresh copy of the repository, as a newcomer runs them.

A clean copy (the files git tracks or would track: no ``.venv``, no ``node_modules``, no built frontend) gets each
command exactly as the README writes it. The first sets up a new virtualenv and serves; its banner must hold
everything a newcomer pastes (the Laravel ``.env`` block with the ``VITE_REVERB_*`` lines, a ``PUSHER_URL``, a
pusher-js snippet), and the real pusher-js, given exactly the printed snippet, must connect and receive an event
published with exactly the printed ``PUSHER_URL``. The second must set up everything the suite needs: its setup
half is run (``--co``: set up, lint, collect), not the suite itself, which is what is running this test.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest

from pusherpy import AsyncPusher
from pusherpy.envfile import parse_env
from tests.server.serve_process import banner_block, clean_env, pusher_js_runs_the_snippet

ROOT = Path(__file__).parents[2]
SETUP_DEADLINE = 300.0
"""A fresh virtualenv installs from the package index: generous, as a first run on a cold cache is slow."""


def readme_commands() -> list[str]:
    """The README's first two ``bash`` blocks: the command that serves and the one that runs the tests."""
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.DOTALL)
    return [block.strip() for block in blocks[:2]]


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as a fresh clone has it (tracked files and new ones not ignored), in a new directory."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    copy = tmp_path_factory.mktemp("fresh") / "pusherpy"
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    assert not (copy / ".venv").exists() and not (copy / "tests" / "compat" / "node_modules").exists()
    return copy


@asynccontextmanager
async def running(command: str, cwd: Path, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``command`` with bash in its own process group; stop the whole group at the end."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()


async def read_banner(process: asyncio.subprocess.Process) -> list[str]:
    """Every stdout line up to the pusher-js snippet's last line."""
    assert process.stdout is not None and process.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(SETUP_DEADLINE):
        while not lines or "enabledTransports" not in lines[-1]:
            line = await process.stdout.readline()
            if not line:
                stderr = (await process.stderr.read()).decode()
                raise AssertionError(f"the command ended before its banner: {lines} {stderr[-2000:]}")
            lines.append(line.decode().rstrip("\n"))
    return lines


class TestTheServeCommand:
    async def test_sets_up_serves_and_its_printed_snippet_and_url_work(self, clean_copy: Path) -> None:
        serve_command = readme_commands()[0]
        assert serve_command.startswith("python3 -m venv .venv && ") and serve_command.endswith("pusherpy serve")
        # Exactly the README's command; PUSHERPY_PORT=0 only picks a free port, as a reader's 8080 may be taken.
        env = clean_env({"PUSHERPY_PORT": "0"})
        async with running(serve_command, clean_copy, env) as process:
            banner = await read_banner(process)
            listening = re.fullmatch(r"pusherpy listening on http://127\.0\.0\.1:(\d+)", banner[0])
            assert listening is not None, banner
            port = int(listening[1])

            laravel = parse_env("\n".join(banner_block(banner, "Laravel .env")), {})
            assert laravel["BROADCAST_CONNECTION"] == "reverb"
            assert (laravel["VITE_REVERB_APP_KEY"], laravel["VITE_REVERB_HOST"]) == (
                laravel["REVERB_APP_KEY"],
                "127.0.0.1",
            )
            assert (laravel["VITE_REVERB_PORT"], laravel["VITE_REVERB_SCHEME"]) == (str(port), "http")

            (url_line,) = banner_block(banner, "Python")
            assert url_line.startswith("PUSHER_URL=http://")
            snippet = "\n".join(banner_block(banner, "pusher-js:"))
            pusher_url = url_line.removeprefix("PUSHER_URL=")

            async def publish() -> None:
                async with AsyncPusher.from_env({"PUSHER_URL": pusher_url}) as publisher:
                    await publisher.trigger("first-hour", "greeting", {"text": "hello from the README"})

            received, _ = await pusher_js_runs_the_snippet(snippet, publish)
        assert received["data"] == {"text": "hello from the README"}
        assert re.fullmatch(r"\d+\.\d+", received["socket_id"])


class TestTheTestCommand:
    async def test_sets_up_everything_the_suite_needs(self, clean_copy: Path) -> None:
        test_command = readme_commands()[1]
        assert test_command == "bash scripts/test.sh"
        # The setup half: everything the command does before running the tests (set up, lint, collect).
        async with running(f"{test_command} --co -q", clean_copy, clean_env()) as process:
            async with asyncio.timeout(SETUP_DEADLINE):
                stdout, stderr = await process.communicate()
        output = stdout.decode()
        assert process.returncode == 0, (output + stderr.decode())[-3000:]
        assert re.search(r"^\d+ tests collected", output, re.MULTILINE), output[-2000:]
        assert (clean_copy / ".venv" / "bin" / "pusherpy").exists()
        assert (clean_copy / "tests" / "compat" / "node_modules" / "pusher-js").is_dir()
