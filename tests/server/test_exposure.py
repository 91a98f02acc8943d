"""What ``pusherpy serve`` lets others see, checked on real processes: a configured app's secret is never printed
(the dev app's, public anyway, is); the dev app is refused where other machines can reach it unless allowed; and
the log never holds a Redis password or the credentials inside a webhook URL."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from pusherpy.server.settings import DEV_APP
from tests.helpers import DEADLINE, make_app, post_endpoint
from tests.scale_out.cluster import free_cluster_port
from tests.server.serve_process import ServerProcess, run_cli, serving

SECRET = "app-s3cret-never-printed"
APP = make_app(id="31337", key="exposed-key", secret=SECRET)
REDIS_PASSWORD = "redis-pa55word-never-logged"
HOOK_PASSWORD = "hook-pa55word-never-logged"
HOOK_TOKEN = "hook-t0ken-never-logged"


async def finish(server: ServerProcess) -> str:
    """Stop the server (SIGTERM) and return everything it wrote after its banner: the rest of stdout, all stderr."""
    server.process.send_signal(signal.SIGTERM)
    assert server.process.stdout is not None and server.process.stderr is not None
    stdout, stderr = await asyncio.wait_for(
        asyncio.gather(server.process.stdout.read(), server.process.stderr.read()), DEADLINE * 2
    )
    await server.wait_exit()
    return stdout.decode() + stderr.decode()


def laravel_secret(banner: list[str]) -> str:
    (line,) = [line for line in banner if line.strip().startswith("REVERB_APP_SECRET=")]
    return line.strip().removeprefix("REVERB_APP_SECRET=")


class TestBanner:
    @pytest.mark.parametrize("source", ["command line", "environment", "config file"])
    async def test_a_configured_apps_secret_is_never_printed(self, tmp_path: Path, source: str) -> None:
        args: tuple[str, ...] = ()
        env: dict[str, str] = {}
        if source == "command line":
            args = ("--app-id", APP.id, "--app-key", APP.key, "--app-secret", SECRET)
        elif source == "environment":
            env = {"REVERB_APP_ID": APP.id, "REVERB_APP_KEY": APP.key, "REVERB_APP_SECRET": SECRET}
        else:
            config = tmp_path / "pusherpy.toml"
            config.write_text(f'[[apps]]\nid = "{APP.id}"\nkey = "{APP.key}"\nsecret = "{SECRET}"\n')
            args = ("--config", str(config))
        async with serving(*args, env=env) as server:
            assert f"  id={APP.id} key={APP.key}" in server.banner
            # The Laravel block names the secret instead of printing it, in a form no one mistakes for a value.
            assert re.fullmatch(r"<[a-z ]*secret[a-z ]*>", laravel_secret(server.banner))
            output = "\n".join(server.banner) + await finish(server)
        assert SECRET not in output

    async def test_the_dev_apps_secret_is_printed_with_a_word_on_why(self) -> None:
        async with serving() as server:
            assert f"  id={DEV_APP.id} key={DEV_APP.key} secret={DEV_APP.secret}" in server.banner
            assert laravel_secret(server.banner) == DEV_APP.secret
            assert any("public" in line for line in server.banner)


class TestDevAppOffLoopback:
    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "pusher.example.com"])
    async def test_is_refused_with_one_line_that_says_how_to_configure_an_app(self, host: str) -> None:
        code, stdout, stderr = await run_cli("serve", "--port", "0", "--host", host)
        assert code == 2
        assert stdout == ""
        (line,) = stderr.splitlines()
        assert line.startswith("pusherpy: configuration error: ")
        for way in ("--app-id", "--app-key", "--app-secret", "PUSHERPY_APP_ID", "[[apps]]", "--allow-dev-app"):
            assert way in line
        assert "Traceback" not in stderr

    @pytest.mark.parametrize("spelling", ["--allow-dev-app", "PUSHERPY_ALLOW_DEV_APP", "allow_dev_app"])
    async def test_is_served_when_explicitly_allowed(self, tmp_path: Path, spelling: str) -> None:
        args: tuple[str, ...] = ("--host", "0.0.0.0")
        env: dict[str, str] = {}
        if spelling == "--allow-dev-app":
            args += (spelling,)
        elif spelling == "PUSHERPY_ALLOW_DEV_APP":
            env[spelling] = "true"
        else:
            config = tmp_path / "pusherpy.toml"
            config.write_text("allow_dev_app = true\n")
            args += ("--config", str(config))
        async with serving(*args, env=env) as server:
            assert server.host == "0.0.0.0"
            assert f"  id={DEV_APP.id} key={DEV_APP.key} secret={DEV_APP.secret}" in server.banner
            server.host = "127.0.0.1"
            async with server.connect(DEV_APP) as client:
                assert client.socket_id
            log = await finish(server)
        assert "the dev app's secret is public" in log


# -- the log ---------------------------------------------------------------------------------------------------


@asynccontextmanager
async def redis_cluster_node_with_password(workdir: Path) -> AsyncIterator[int]:
    """A ``redis-server`` with ``requirepass`` in cluster mode: a node that addresses it as one Redis logs its URL
    (``the Redis at ... is a Redis Cluster node``). Yields its port."""
    port = free_cluster_port()  # redis-server cannot bind port 0 and report it; its cluster bus takes port + 10000
    process = await asyncio.create_subprocess_exec(
        "redis-server",
        *("--port", str(port), "--bind", "127.0.0.1", "--requirepass", REDIS_PASSWORD),
        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"),
        *("--dir", str(workdir)),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        said: list[bytes] = []
        async with asyncio.timeout(DEADLINE * 2):
            while not said or b"Ready to accept connections" not in said[-1]:
                said.append(await process.stdout.readline())
                assert said[-1], f"redis-server exited: {b''.join(said).decode()}"
        yield port
    finally:
        process.kill()
        await process.wait()


async def read_log_until(server: ServerProcess, pattern: str) -> list[str]:
    """Read the server's stderr until a line holds ``pattern``; return the lines read."""
    assert server.process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE * 2):
            while not lines or pattern not in lines[-1]:
                line = (await server.process.stderr.readline()).decode()
                assert line, f"the server exited; its log: {lines}"
                lines.append(line)
    except TimeoutError:
        raise AssertionError(f"no {pattern!r} in the log: {lines}") from None
    return lines


class TestLog:
    async def test_a_redis_url_is_logged_without_its_password(self, tmp_path: Path) -> None:
        """The Redis URL is logged when the Redis is a cluster node addressed as one Redis."""
        async with redis_cluster_node_with_password(tmp_path) as redis_port:
            async with serving("--redis-url", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0") as server:
                logged = await read_log_until(server, "is a Redis Cluster node")
                output = "\n".join(server.banner) + "".join(logged) + await finish(server)
        assert f"redis://:***@127.0.0.1:{redis_port}/0 is a Redis Cluster node" in output
        assert REDIS_PASSWORD not in output

    async def test_a_webhook_url_is_logged_without_the_credentials_in_it(self, tmp_path: Path) -> None:
        """The webhook URL is logged when a delivery is given up (here: at once, on the first 503)."""
        failed: list[str] = []

        async def failing_receiver(request: web.Request) -> web.Response:
            failed.append(request.path)
            return web.json_response({"error": "down for maintenance"}, status=503)

        async with post_endpoint("/hooks", failing_receiver) as hook_url:
            hook_host = hook_url.removeprefix("http://")
            config = tmp_path / "pusherpy.toml"
            config.write_text(
                "webhook_batch_interval = 0.05\nwebhook_retry_seconds = 0\n"
                f'[[apps]]\nid = "{APP.id}"\nkey = "{APP.key}"\nsecret = "{SECRET}"\n'
                f'[[apps.webhooks]]\nurl = "http://pusher:{HOOK_PASSWORD}@{hook_host}?token={HOOK_TOKEN}"\n'
            )
            async with serving("--config", str(config), "--debug") as server:
                async with server.connect(APP) as client:
                    await client.subscribe("occupied-now")  # channel_occupied: one webhook, answered 503, given up
                    logged = await read_log_until(server, "abandoned")
                output = "\n".join(server.banner) + "".join(logged) + await finish(server)
        assert failed and set(failed) == {"/hooks"}  # channel_occupied, then channel_vacated flushed at the stop
        assert f"webhook to http://pusher:***@{hook_host}?token=*** for app {APP.id} abandoned" in output
        for secret in (HOOK_PASSWORD, HOOK_TOKEN, SECRET):
            assert secret not in output
