"""Fixtures for the compatibility suite: a real ``pusherpy serve`` process and the real, unmodified client libraries.

The Node side (pusher-js 8, laravel-echo 2 and the npm ``pusher`` SDK, pinned in ``package.json``) lives in
``tests/compat/node_modules``; CI installs it with ``npm ci --prefix tests/compat``. Each Node scenario reads the
server and app from ``COMPAT_*`` environment variables, prints JSON and exits; the tests assert on that JSON.
The Python side is the official PyPI ``pusher`` SDK, pointed at the same server.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pusher  # type: ignore[import-untyped]
import pytest

COMPAT_DIR = Path(__file__).parent
NODE_MODULES = COMPAT_DIR / "node_modules"
SCENARIOS = COMPAT_DIR / "scenarios"
DEADLINE = 5.0
"""Seconds any single wait may take; Node scenarios get the same bound per wait (COMPAT_TIMEOUT_MS)."""
NODE_RUN_LIMIT = 30.0
"""Seconds a whole Node scenario may take before the test fails."""
LISTENING = "pusherpy listening on http://"


@dataclass(frozen=True)
class CompatApp:
    """One app configured on the server under test, with the encryption master key its backend uses."""

    id: str
    key: str
    secret: str
    master_key_base64: str
    settings: dict[str, Any] = field(default_factory=dict)

    def toml(self) -> str:
        lines = ["[[apps]]", f'id = "{self.id}"', f'key = "{self.key}"', f'secret = "{self.secret}"']
        lines += [f"{name} = {json.dumps(value)}" for name, value in self.settings.items()]
        return "\n".join(lines) + "\n"


MAIN_APP = CompatApp(
    id="7001",
    key="compat-key",
    secret="compat-secret",
    master_key_base64=base64.b64encode(os.urandom(32)).decode(),
    settings={"enable_client_events": True, "enable_user_authentication": True, "enable_subscription_count": True},
)
QUIET_APP = CompatApp(
    id="7002",
    key="quiet-key",
    secret="quiet-secret",
    master_key_base64=base64.b64encode(os.urandom(32)).decode(),
    settings={"enable_subscription_count": False},
)


class LineReader:
    """Read a process's stdout lines on a thread, so the test can wait for one with a deadline."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, what: str, timeout: float = DEADLINE) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None
        if line is None:
            raise AssertionError(f"the process ended while waiting for {what}; it printed {self.seen!r}")
        self.seen.append(line)
        return line


@dataclass
class CompatServer:
    """A ``pusherpy serve`` subprocess on 127.0.0.1 and a free port, with the apps the scenarios use."""

    host: str
    port: int
    log_path: Path

    def env(self, app: CompatApp = MAIN_APP) -> dict[str, str]:
        return {
            **os.environ,
            "COMPAT_HOST": self.host,
            "COMPAT_PORT": str(self.port),
            "COMPAT_APP_ID": app.id,
            "COMPAT_APP_KEY": app.key,
            "COMPAT_APP_SECRET": app.secret,
            "COMPAT_MASTER_KEY_BASE64": app.master_key_base64,
            "COMPAT_TIMEOUT_MS": str(int(DEADLINE * 1000)),
        }

    def python_sdk(self, app: CompatApp = MAIN_APP, *, secret: str | None = None) -> pusher.Pusher:
        """The official PyPI SDK pointed at this server."""
        return pusher.Pusher(
            app_id=app.id,
            key=app.key,
            secret=secret or app.secret,
            host=self.host,
            port=self.port,
            ssl=False,
            timeout=DEADLINE,
            encryption_master_key_base64=app.master_key_base64,
        )

    def node(self, script: str, *args: Any, app: CompatApp = MAIN_APP) -> Any:
        """Run ``scenarios/<script>`` to completion and return the JSON it printed."""
        command = ["node", str(SCENARIOS / script), *(json.dumps(a) for a in args)]
        try:
            done = subprocess.run(
                command, env=self.env(app), capture_output=True, text=True, timeout=NODE_RUN_LIMIT, cwd=COMPAT_DIR
            )
        except subprocess.TimeoutExpired as error:
            raise AssertionError(f"{script} did not finish within {NODE_RUN_LIMIT} s: {error.stderr!r}") from None
        if done.returncode != 0:
            raise AssertionError(f"{script} exited with {done.returncode}:\n{done.stderr}\nstdout: {done.stdout}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def node_session(self, script: str, *args: Any, app: CompatApp = MAIN_APP) -> NodeSession:
        """Start a long-running scenario that prints one JSON line per thing that happens; end it with close()."""
        command = ["node", str(SCENARIOS / script), *(json.dumps(a) for a in args)]
        process = subprocess.Popen(
            command,
            env=self.env(app),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=COMPAT_DIR,
        )
        return NodeSession(script, process)


class NodeSession:
    """A running Node scenario: wait for the JSON lines it prints, then close its stdin to end it."""

    def __init__(self, script: str, process: subprocess.Popen[str]) -> None:
        self.script = script
        self.process = process
        self.reader = LineReader(process.stdout)
        self.messages: list[dict[str, Any]] = []

    def expect(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """Return the first message (already seen or still to come) matching ``predicate``, within the deadline."""
        for message in self.messages:
            if predicate(message):
                return message
        while True:
            try:
                line = self.reader.next_line(f"{what} from {self.script}")
            except AssertionError as error:
                raise AssertionError(f"{error}\nstderr: {self._stderr()}") from None
            received: dict[str, Any] = json.loads(line)
            self.messages.append(received)
            if predicate(received):
                return received

    def events(self, client: str, event: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("client") == client and m.get("event") == event]

    def close(self) -> None:
        """End the scenario: it disconnects its clients when its stdin closes."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"{self.script} did not exit after its stdin closed") from None

    def _stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """Fail (not skip) with the command to run when the pinned Node packages are not installed."""
    if shutil.which("node") is None:
        pytest.fail("the compat suite needs Node.js 18+ on PATH (`node` was not found)")
    missing = [name for name in ("pusher-js", "laravel-echo", "pusher") if not (NODE_MODULES / name).is_dir()]
    if missing:
        pytest.fail(
            f"tests/compat/node_modules lacks {', '.join(missing)}: run `npm ci --prefix tests/compat` first",
            pytrace=False,
        )
    return NODE_MODULES


@contextmanager
def running_server(directory: Path, config_toml: str) -> Iterator[CompatServer]:
    """Run ``python -m pusherpy serve --port 0`` with ``config_toml``; stop it with SIGTERM on exit.

    The server's log is checked at the end: an ERROR line or a traceback means the server hit a bug while real
    clients talked to it, and fails the caller even if every scenario's assertions held.
    """
    config = directory / "pusherpy.toml"
    config.write_text(config_toml)
    log_path = directory / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHERPY_", "REVERB_", "PUSHER_"))}
    command = [sys.executable, "-m", "pusherpy", "serve", "--host", "127.0.0.1", "--port", "0", "--config", str(config)]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env)
    reader = LineReader(process.stdout)
    try:
        line = reader.next_line("the server's listening line", timeout=15)
        while not line.startswith(LISTENING):
            line = reader.next_line("the server's listening line", timeout=15)
        host, _, port = line.removeprefix(LISTENING).rpartition(":")
        yield CompatServer(host=host, port=int(port), log_path=log_path)
    except AssertionError as error:
        raise AssertionError(f"{error}\nserver log:\n{log_path.read_text()}") from None
    finally:
        process.send_signal(signal.SIGTERM)
        code: int | None
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
    log = log_path.read_text()
    assert code == 0, f"pusherpy serve exited with {code} after SIGTERM; log:\n{log}"
    problems = [line for line in log.splitlines() if " ERROR " in line or line.startswith("Traceback")]
    assert not problems, "the server logged errors while real clients used it:\n" + log


@pytest.fixture(scope="module")
def compat_server(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatServer]:
    """The compat apps on one ``pusherpy serve`` process per test module (see ``running_server``)."""
    directory = tmp_path_factory.mktemp("compat-server")
    with running_server(directory, MAIN_APP.toml() + "\n" + QUIET_APP.toml()) as server:
        yield server
