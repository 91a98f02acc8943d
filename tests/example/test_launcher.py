"""``python -m examples.chat``: one command starts everything and says where to go and how to log in."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from examples.chat.launcher import READY
from tests.example.support import DEADLINE

ROOT = Path(__file__).resolve().parents[2]


async def test_the_one_command_serves_both_pages_prints_the_logins_and_stops_on_ctrl_c(
    frontend_dist: Path, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.chat",
        "--port",
        "0",
        "--pusher-port",
        "0",
        "--data-dir",
        str(tmp_path),
        cwd=ROOT,
        env={**os.environ, "CHAT_MODEL_WORD_DELAY": "0.001"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + DEADLINE
        while not (printed and printed[-1].startswith(READY)):
            line = await asyncio.wait_for(process.stdout.readline(), deadline - time.monotonic())
            assert line, f"the launcher exited early; it printed {printed}"
            printed.append(line.decode().rstrip("\n"))
        url = printed[-1].removeprefix(READY)
        banner = "\n".join(printed)
        assert "alice / alice-demo, bob / bob-demo, carol / carol-demo" in banner
        assert f"{url}classic.html" in banner
        assert (tmp_path / "chat.sqlite3").is_file()

        async with aiohttp.ClientSession() as session:
            async with session.get(url) as react_page:
                assert react_page.status == 200
                assert '<div id="root"></div>' in await react_page.text()
            async with session.get(url + "classic.html") as classic_page:
                assert classic_page.status == 200
                assert 'id="composer"' in await classic_page.text()
            async with session.get(url + "api/config") as config:
                pusher = (await config.json())["pusher"]
            assert pusher["key"] == "chat-key" and pusher["wsPort"] > 0

        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
