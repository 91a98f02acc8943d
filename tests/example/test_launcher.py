"""``python -m examples.chat``: one command starts everything, says where it listens, and stops quietly.

Each test runs the real command in a subprocess, as a user would, and reads what it prints.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from examples.chat.backend import events
from examples.chat.backend.assistant import SHUTDOWN_ERROR
from examples.chat.cli import READY
from examples.chat.launcher import DEFAULT_PUSHER_PORT
from tests.example.support import DEADLINE, listener, logged_in, stored_message

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Launched:
    """The example started with the command: its process and the banner it printed."""

    process: asyncio.subprocess.Process
    banner: list[str]

    def line(self, label: str) -> str:
        """The banner's ``  <label>   <value>`` line."""
        return next(line for line in self.banner if line.startswith(f"  {label} "))

    @property
    def url(self) -> str:
        return self.banner[-1].removeprefix(READY)

    @property
    def pusher_url(self) -> str:
        return self.line("pusherpy").split()[1]

    async def stop(self) -> tuple[int, str]:
        """Ctrl+C; return the exit status and everything it wrote to stderr."""
        self.process.send_signal(signal.SIGINT)
        assert self.process.stderr is not None
        stderr = await asyncio.wait_for(self.process.stderr.read(), DEADLINE)
        return await asyncio.wait_for(self.process.wait(), DEADLINE), stderr.decode()


async def run_command(
    *args: str, word_delay: float = 0.001, cwd: Path = ROOT, **env: str
) -> asyncio.subprocess.Process:
    """Run ``python -m examples.chat`` as a user does: without the suite's asyncio debug mode, whose slow-callback
    warnings on a busy test machine are lines a user never sees."""
    environ = {name: value for name, value in os.environ.items() if name != "PYTHONASYNCIODEBUG"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.chat",
        *args,
        cwd=cwd,
        env={**environ, "CHAT_MODEL_WORD_DELAY": str(word_delay), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@asynccontextmanager
async def launched(*args: str, word_delay: float = 0.001, cwd: Path = ROOT, **env: str) -> AsyncIterator[Launched]:
    """Run the command and read its banner up to the ready line; kill it at the end if the test did not stop it."""
    process = await run_command(*args, word_delay=word_delay, cwd=cwd, **env)
    try:
        assert process.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + DEADLINE
        while not (printed and printed[-1].startswith(READY)):
            line = await asyncio.wait_for(process.stdout.readline(), deadline - time.monotonic())
            if not line:
                assert process.stderr is not None
                raise AssertionError(f"the example exited early: {printed} {(await process.stderr.read())!r}")
            printed.append(line.decode().rstrip("\n"))
        yield Launched(process, printed)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _port(url: str) -> int:
    match = re.search(r":(\d+)", url.removeprefix("http://"))
    assert match, url
    return int(match.group(1))


async def test_the_one_command_serves_both_pages_prints_the_logins_and_stops_on_ctrl_c(
    frontend_dist: Path, tmp_path: Path
) -> None:
    async with launched("--port", "0", "--data-dir", str(tmp_path)) as chat:
        banner = "\n".join(chat.banner)
        assert "alice / alice-demo, bob / bob-demo, carol / carol-demo" in banner
        assert f"{chat.url}classic.html" in banner
        assert (tmp_path / "chat.sqlite3").is_file()

        async with aiohttp.ClientSession() as session:
            async with session.get(chat.url) as react_page:
                assert react_page.status == 200
                assert '<div id="root"></div>' in await react_page.text()
            async with session.get(chat.url + "classic.html") as classic_page:
                assert classic_page.status == 200
                assert 'id="composer"' in await classic_page.text()
            async with session.get(chat.url + "api/config") as config:
                pusher = (await config.json())["pusher"]
            assert pusher["key"] == "chat-key" and pusher["wsPort"] > 0

        status, stderr = await chat.stop()
        assert status == 0, stderr


async def test_port_0_puts_everything_it_starts_on_free_ports_and_the_banner_prints_them(tmp_path: Path) -> None:
    async with launched("--port", "0", "--data-dir", str(tmp_path)) as chat:
        pusher_port = _port(chat.pusher_url)
        model_url = chat.line("model").split()[3].rstrip(",")
        assert pusher_port != DEFAULT_PUSHER_PORT, chat.banner
        async with aiohttp.ClientSession() as session:
            async with session.get(chat.url + "api/config") as config:
                assert (await config.json())["pusher"]["wsPort"] == pusher_port
            async with session.post(model_url + "/chat/completions", json={"messages": []}) as model:
                assert model.status == 400  # the built-in model answers where the banner says (it only streams)
        async with listener(chat):  # and pusherpy takes WebSocket connections on the port the banner names
            pass
        assert (await chat.stop())[0] == 0


@pytest.mark.parametrize(
    ("flag", "role", "other"), [("--pusher-port", "pusherpy", "--port"), ("--port", "the chat page", "--pusher-port")]
)
async def test_a_port_in_use_gets_one_line_naming_it_and_what_to_do(
    tmp_path: Path, flag: str, role: str, other: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        process = await run_command(flag, str(held), other, "0", "--data-dir", str(tmp_path))
        stdout, stderr = await asyncio.wait_for(process.communicate(), DEADLINE)
    assert process.returncode == 1
    assert stdout == b""
    assert stderr.decode().splitlines() == [
        f"python -m examples.chat: cannot listen on 127.0.0.1:{held} for {role}: the port is in use; "
        f"stop what holds it, or pass {flag} 0 to use a free port"
    ]


async def test_ctrl_c_while_a_reply_streams_stops_quietly_and_fails_the_reply(tmp_path: Path) -> None:
    async with launched("--port", "0", "--data-dir", str(tmp_path), word_delay=0.05) as chat:
        async with logged_in(chat, "alice") as alice, listener(chat) as socket_:
            await socket_.subscribe(alice, events.conversation_channel(1))
            sent = await alice.send(1, "tell me a long story")
            await socket_.expect(events.STREAMING_CHUNK)
            status, stderr = await chat.stop()
    assert status == 0, stderr
    assert "Traceback" not in stderr and " ERROR " not in stderr, stderr
    stored = stored_message(tmp_path / "chat.sqlite3", sent["reply"]["id"])
    assert (stored["status"], stored["error"]) == ("failed", SHUTDOWN_ERROR)
