"""``pusherpy`` on the command line: help that teaches, a banner that says how to connect (URL, credentials, a
Laravel .env block, a pusher-js snippet) whose every value works, and configuration errors that name the key."""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
import socket
import sys
from pathlib import Path

import aiohttp
import pusher

import pusherpy
from pusherpy import AsyncPusher
from pusherpy.envfile import parse_env
from pusherpy.server.settings import DEV_APP, load_settings
from tests.helpers import decode
from tests.server.serve_process import ServerProcess, banner_block, run_cli, serving, stopped


def credentials(banner: list[str]) -> list[dict[str, str]]:
    """The ``id=… key=…`` lines of the banner's ``apps:`` section (with ``secret=…`` for the dev app only)."""
    apps = []
    for line in banner:
        if line.startswith("  id="):
            apps.append(dict(part.split("=", 1) for part in line.split()))
    return apps


def laravel_env(banner: list[str]) -> dict[str, str]:
    """The ``Laravel .env`` block of the banner, read as Laravel reads a ``.env`` (quotes, ``${VAR}``)."""
    return parse_env("\n".join(banner_block(banner, "Laravel .env")), {})


async def first_message(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        message = await asyncio.wait_for(ws.receive(), 5)
        return decode(message.data)


class TestHelp:
    async def test_help_lists_the_serve_command(self) -> None:
        code, stdout, _ = await run_cli("--help")
        assert code == 0
        assert "serve" in stdout
        assert "Pusher" in stdout

    async def test_serve_help_explains_every_option_and_the_environment(self) -> None:
        code, stdout, _ = await run_cli("serve", "--help")
        assert code == 0
        for option in (
            "--host",
            "--port",
            "--config",
            "--app-id",
            "--app-key",
            "--app-secret",
            "--redis-url",
            "--redis-cluster",
        ):
            assert option in stdout
        for variable in ("PUSHERPY_PORT", "REVERB_APP_ID", "REVERB_SERVER_PORT", "PUSHER_APP_ID"):
            assert variable in stdout

    async def test_no_command_prints_the_help_with_its_commands_and_exits_2(self) -> None:
        code, stdout, stderr = await run_cli()
        assert code == 2
        assert stdout == ""
        assert stderr.startswith("usage: pusherpy")
        assert re.search(r"^commands:\n.*\n\s+serve\s+run the server$", stderr, re.MULTILINE), stderr

    async def test_version(self) -> None:
        code, stdout, _ = await run_cli("--version")
        assert (code, stdout) == (0, f"pusherpy {pusherpy.__version__}\n")
        assert pusherpy.__version__ == importlib.metadata.version("pusherpy"), "one version, in one place"

    async def test_an_unknown_serve_option_shows_serves_usage(self) -> None:
        code, stdout, stderr = await run_cli("serve", "--prot", "6001")
        assert code == 2
        assert stderr.startswith("usage: pusherpy serve [-h] [--host HOST] [--port PORT]"), stderr
        assert "pusherpy serve: error: unrecognized arguments: --prot 6001" in stderr
        assert "listening" not in stdout

    async def test_a_non_numeric_app_id_is_refused_naming_the_value(self) -> None:
        code, stdout, stderr = await run_cli("serve", "--app-id", "abc", "--app-key", "k", "--app-secret", "s")
        assert code == 2
        assert stderr == "pusherpy: --app-id='abc' must be digits (Pusher app ids are numeric)\n"
        assert "listening" not in stdout

    async def test_installed_console_script_runs(self) -> None:
        script = Path(sys.executable).with_name("pusherpy")
        process = await asyncio.create_subprocess_exec(
            str(script), "--help", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0
        assert b"serve" in stdout


class TestBanner:
    async def test_prints_where_it_listens_and_the_websocket_url_connects(self) -> None:
        async with serving() as server:
            assert server.banner[0] == f"pusherpy listening on http://127.0.0.1:{server.port}"
            assert server.port > 0
            (ws_line,) = [line for line in server.banner if line.startswith("WebSocket: ")]
            url = ws_line.removeprefix("WebSocket: ")
            assert url == f"ws://127.0.0.1:{server.port}/app/{credentials(server.banner)[0]['key']}?protocol=7"
            established = await first_message(url)
        assert established["event"] == "pusher:connection_established"

    async def test_default_dev_app_has_a_numeric_id_the_official_sdk_accepts(self) -> None:
        async with serving() as server:
            (app,) = credentials(server.banner)
            assert app["id"].isdigit()
            await assert_credentials_publish(server, app)

    async def test_printed_laravel_env_configures_the_same_app_and_address(self) -> None:
        """The dev app's block is complete (its secret is public); a configured app's leaves its secret out, see
        ``test_exposure``."""
        async with serving() as server:
            env = laravel_env(server.banner)
        assert env["BROADCAST_CONNECTION"] == "reverb"
        assert (env["REVERB_APP_ID"], env["REVERB_APP_KEY"], env["REVERB_APP_SECRET"]) == (
            DEV_APP.id,
            DEV_APP.key,
            DEV_APP.secret,
        )
        assert (env["REVERB_HOST"], env["REVERB_PORT"], env["REVERB_SCHEME"]) == ("127.0.0.1", str(server.port), "http")
        # The lines Laravel's stock resources/js/echo.js reads; without VITE_REVERB_SCHEME it would force TLS.
        assert (env["VITE_REVERB_APP_KEY"], env["VITE_REVERB_HOST"]) == (DEV_APP.key, "127.0.0.1")
        assert (env["VITE_REVERB_PORT"], env["VITE_REVERB_SCHEME"]) == (str(server.port), "http")
        # The same block, read back by pusherpy itself, gives the same app.
        (app,) = load_settings(environ=env).apps
        assert (app.id, app.key, app.secret) == (DEV_APP.id, DEV_APP.key, DEV_APP.secret)

    async def test_prints_a_pusher_url_that_the_publishers_read(self) -> None:
        async with serving() as server:
            (line,) = [line.strip() for line in server.banner if line.strip().startswith("PUSHER_URL=")]
            url = line.removeprefix("PUSHER_URL=")
            assert url == f"http://{DEV_APP.key}:{DEV_APP.secret}@127.0.0.1:{server.port}/apps/{DEV_APP.id}"
            for variable in ("PUSHER_URL", "PUSHERPY_URL"):
                async with AsyncPusher.from_env({variable: url}) as publisher:
                    assert await publisher.channels_info() == {"channels": {}}

    async def test_a_dotenv_here_that_is_not_read_is_mentioned(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text("REVERB_APP_ID=1\n")
        async with serving(cwd=tmp_path) as server:
            stderr = await stopped(server)
        assert "a .env is here, not read: pusherpy serve --env-file .env reads it" in stderr

    async def test_prints_a_pusher_js_snippet_for_the_app_and_port(self) -> None:
        async with serving("--app-id", "5", "--app-key", "js-key", "--app-secret", "s") as server:
            snippet = "\n".join(server.banner[server.banner.index("pusher-js:") + 1 :])
        assert "new Pusher('js-key'" in snippet
        assert "wsHost: '127.0.0.1'" in snippet
        assert f"wsPort: {server.port}" in snippet
        assert "forceTLS: false" in snippet

    async def test_lists_every_app_of_a_config_file(self, tmp_path: Path) -> None:
        config = tmp_path / "pusherpy.toml"
        config.write_text(
            '[[apps]]\nid = "1"\nkey = "one"\nsecret = "s1"\n\n[[apps]]\nid = "2"\nkey = "two"\nsecret = "s2"\n'
        )
        async with serving("--config", str(config)) as server:
            apps = credentials(server.banner)
            assert apps == [{"id": "1", "key": "one"}, {"id": "2", "key": "two"}]
            await assert_credentials_publish(server, {**apps[1], "secret": "s2"})

    async def test_laravel_reverb_env_is_served_as_it_is(self) -> None:
        env = {"REVERB_APP_ID": "4711", "REVERB_APP_KEY": "reverb-key", "REVERB_APP_SECRET": "reverb-secret"}
        async with serving(env=env) as server:
            (app,) = credentials(server.banner)
            assert app == {"id": "4711", "key": "reverb-key"}
            await assert_credentials_publish(server, {**app, "secret": env["REVERB_APP_SECRET"]})


class TestConfigurationErrors:
    async def test_bad_port_exits_non_zero_naming_the_key_and_value(self) -> None:
        code, stdout, stderr = await run_cli("serve", "--port", "eighty")
        assert code != 0
        assert "port" in stderr and "eighty" in stderr
        assert "listening" not in stdout

    async def test_bad_config_file_value_exits_non_zero_naming_the_key(self, tmp_path: Path) -> None:
        config = tmp_path / "bad.toml"
        config.write_text('[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nmax_connections = "lots"\n')
        code, _, stderr = await run_cli("serve", "--config", str(config))
        assert code != 0
        assert "apps[0].max_connections" in stderr and "lots" in stderr

    async def test_missing_config_file_exits_non_zero_naming_it(self, tmp_path: Path) -> None:
        code, _, stderr = await run_cli("serve", "--config", str(tmp_path / "nope.toml"))
        assert code != 0
        assert "nope.toml" in stderr

    async def test_bad_environment_value_exits_non_zero_naming_the_variable(self) -> None:
        code, _, stderr = await run_cli("serve", env={"REVERB_SERVER_PORT": "99999"})
        assert code != 0
        assert "REVERB_SERVER_PORT" in stderr and "99999" in stderr

    async def test_app_id_without_key_and_secret_exits_non_zero(self) -> None:
        code, _, stderr = await run_cli("serve", "--port", "0", "--app-id", "1")
        assert code != 0
        assert "--app-key" in stderr or "--app-secret" in stderr

    async def test_port_already_in_use_exits_non_zero_saying_so(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            code, _, stderr = await run_cli("serve", "--port", str(port))
        assert code != 0
        assert str(port) in stderr
        assert "Traceback" not in stderr


async def assert_credentials_publish(server: ServerProcess, app: dict[str, str]) -> None:
    """The printed credentials work with the official pusher-http-python SDK against the printed address."""
    sdk = pusher.Pusher(
        app_id=app["id"], key=app["key"], secret=app["secret"], ssl=False, host=server.host, port=server.port
    )
    assert await asyncio.to_thread(sdk.channels_info) == {"channels": {}}
