"""The real thing: soketi 1.6.1 installed from the npm registry into an empty cache, started and stopped by the bench.

Needs Node.js 20 and npm with the registry reachable (``scripts/test.sh`` installs both); ~20-30 s, most of it npm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp

from bench.soketi import CachedSoketi
from bench.soketi_install import SOKETI_VERSION, SoketiInstall

LOOPBACK_V4 = "0100007F"  # 127.0.0.1 as /proc/net/* writes it


def loopback_listeners(pid: int) -> tuple[list[str], list[str]]:
    """Return the local addresses of the process's UDP sockets and listening TCP sockets, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed since the listing: soketi opens and closes files as it runs
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found: dict[str, list[str]] = {"udp": [], "tcp": []}
    for table in ("udp", "udp6", "tcp", "tcp6"):
        kind = table[:3]
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cells = row.split()
            local, state, inode = cells[1], cells[3], cells[9]
            if inode in inodes and (kind == "udp" or state == "0A"):  # 0A: TCP_LISTEN
                found[kind].append(local)
    return found["udp"], found["tcp"]


async def test_soketi_is_installed_from_npm_then_serves_on_loopback_only(tmp_path: Path) -> None:
    install = SoketiInstall(tmp_path / "cache")
    soketi = CachedSoketi(install, None, 30)
    soketi.prepare()
    assert install.is_installed()
    package = json.loads((install.directory / "node_modules/@soketi/soketi/package.json").read_text())
    assert package["version"] == SOKETI_VERSION
    target = soketi.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{target.port}/app/{target.app_key}?protocol=7&client=js&version=8.4.0"
            async with session.ws_connect(url) as ws:
                established = await ws.receive_json(timeout=5)
                assert established["event"] == "pusher:connection_established"
        udp, tcp = loopback_listeners(target.pids[0])
        assert udp, "cluster discovery opened no UDP socket: the check below would prove nothing"
        assert all(address.startswith(LOOPBACK_V4 + ":") for address in udp + tcp), (udp, tcp)
        assert len(tcp) == 2  # the Pusher port and the metrics port
    finally:
        soketi.stop()
    assert not Path(f"/proc/{target.pids[0]}").exists()
