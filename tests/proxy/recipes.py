"""The proxy recipes of ``docs/proxy.md``, read from the doc itself, so the configuration the tests run is the one
users copy and the two cannot drift apart."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "proxy.md"
PUSHERPY_ADDRESS = "127.0.0.1:6001"
"""Where the recipes send traffic; the tests put their pusherpy's address in its place."""
START_DEADLINE = 10.0
STOP_DEADLINE = 10.0


def recipe(language: str) -> str:
    """The one fenced block of ``language`` (``nginx``, ``caddyfile``) in docs/proxy.md."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"docs/proxy.md should have exactly one ```{language} block, it has {len(blocks)}"
    return str(blocks[0])


def filled(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each key replaced by its value; each key must occur exactly once (else the recipe changed)."""
    for old, new in replacements.items():
        assert text.count(old) == 1, f"the recipe should contain {old!r} exactly once:\n{text}"
        text = text.replace(old, new)
    return text


def free_port() -> int:
    """A port nothing listens on now, for a proxy that cannot be told to pick one itself."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def installed(command: str, package: str) -> str:
    """The path of ``command`` (Debian puts nginx in /usr/sbin, off a user's PATH), or fail with how to get it."""
    for found in (shutil.which(command), f"/usr/sbin/{command}", f"/usr/bin/{command}"):
        if found and Path(found).is_file():
            return found
    raise AssertionError(f"the proxy tests need `{command}`: apt-get install {package} (scripts/test.sh does)")


@contextmanager
def proxy_running(process: subprocess.Popen[str], port: int, *logs: Path) -> Iterator[int]:
    """Yield ``port`` once the proxy listens on it; stop the proxy (SIGTERM, then SIGKILL) at the end."""
    try:
        wait_listening(process, port, *logs)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_listening(process: subprocess.Popen[str], port: int, *logs: Path) -> None:
    """Return once the proxy accepts a TCP connection on ``port``; fail with its log if it exits first or never does.

    Neither nginx nor Caddy says on stdout when it is ready, so this asks the port, as a health check would.
    """
    limit = time.monotonic() + START_DEADLINE
    while time.monotonic() < limit:
        if process.poll() is not None:
            logged = "\n".join(log.read_text() for log in logs if log.exists())
            raise AssertionError(f"{process.args!r} exited with {process.returncode}:\n{logged}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"{process.args!r} did not listen on 127.0.0.1:{port} within {START_DEADLINE} s")
