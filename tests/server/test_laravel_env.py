"""A Laravel project's ``.env`` serves pusherpy as it is: ``--env-file`` reads the file ``php artisan
install:broadcasting`` writes, every Reverb variable means what it means to Reverb (same units), and a ``REVERB_*``
variable pusherpy does not read is named, never silently dropped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pusherpy.protocol.apps import AppConfig
from pusherpy.protocol.errors import ConfigError
from pusherpy.server.settings import Settings, load_settings
from pusherpy.server.settings_laravel import REVERB_VARIABLES, Use
from tests.helpers import DEADLINE
from tests.server.serve_process import ServerProcess, serving, stopped

FIXTURE = Path(__file__).parent / "fixtures" / "laravel.env"
APP = AppConfig(id="734821", key="k3ylaravelk3ylaravel", secret="s3cretlaravels3cretl")
DOCS = Path(__file__).parents[2] / "docs" / "laravel.md"


def load(**environ: str) -> Settings:
    return load_settings(env_file=FIXTURE, environ=environ)


class TestTheInstallersFile:
    def test_the_app_and_the_address_come_from_the_file(self) -> None:
        settings = load()
        (app,) = settings.apps
        assert (app.id, app.key, app.secret) == (APP.id, APP.key, APP.secret)
        assert (settings.host, settings.port) == ("127.0.0.1", 8090)
        assert not settings.uses_dev_app

    @pytest.mark.parametrize(
        ("variable", "value", "setting", "expected"),
        [
            ("REVERB_SERVER_HOST", "::1", "host", "::1"),
            ("REVERB_SERVER_PORT", "6001", "port", 6001),
            ("REVERB_APP_PING_INTERVAL", "60", "apps.ping_interval", 60),
            ("REVERB_APP_ACTIVITY_TIMEOUT", "30", "apps.activity_timeout", 30),
            ("REVERB_APP_MAX_MESSAGE_SIZE", "10000", "max_message_bytes", 10_000),
            ("REVERB_MAX_REQUEST_SIZE", "10000", "max_request_body_bytes", 10_000),
            ("REVERB_APP_MAX_CONNECTIONS", "500", "apps.max_connections", 500),
            ("REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM", "none", "apps.enable_client_events", False),
            ("REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM", "all", "apps.enable_client_events", True),
            ("REVERB_ALLOWED_ORIGINS", "app.test,*.app.test", "apps.allowed_origins", ("app.test", "*.app.test")),
            ("REVERB_SCALING_CHANNEL", "shop", "redis_prefix", "shop"),
        ],
    )
    def test_each_reverb_variable_sets_its_setting(
        self, variable: str, value: str, setting: str, expected: object
    ) -> None:
        """Set in the process environment, which wins over the file as it does for Laravel."""
        settings = load(**{variable: value})
        target: Any = settings.apps[0] if setting.startswith("apps.") else settings
        assert getattr(target, setting.removeprefix("apps.")) == expected

    def test_the_files_own_values(self) -> None:
        settings = load()
        (app,) = settings.apps
        assert (app.ping_interval, app.activity_timeout, app.max_connections) == (1, 45, 2)
        assert app.allowed_origins == ("localhost", "*.example.com")
        assert (settings.max_message_bytes, settings.max_request_body_bytes) == (2000, 3000)
        assert app.enable_client_events and app.max_messages_per_second == APP.max_messages_per_second
        assert settings.redis_url is None, "REVERB_SCALING_ENABLED=false"

    def test_rate_limiting_is_the_same_average_rate_per_second(self) -> None:
        enabled = {"REVERB_APP_RATE_LIMITING_ENABLED": "true"}
        assert load(**enabled).apps[0].max_messages_per_second == 1, "Reverb's default: 60 per 60 seconds"
        per_second = load(
            **enabled, REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS="25", REVERB_APP_RATE_LIMIT_DECAY_SECONDS="10"
        ).apps[0]
        assert per_second.max_messages_per_second == 3, "2.5 a second, rounded up"

    def test_scaling_uses_laravels_redis_connection(self) -> None:
        settings = load(REVERB_SCALING_ENABLED="true")
        assert settings.redis_url == "redis://127.0.0.1:6379/0", "REDIS_PASSWORD=null is no password"
        assert settings.redis_prefix == "reverb"
        secured = load(
            REVERB_SCALING_ENABLED="true", REDIS_USERNAME="app", REDIS_PASSWORD="pw", REDIS_DB="3", REDIS_PORT="6380"
        )
        assert secured.redis_url == "redis://app:pw@127.0.0.1:6380/3"
        assert load(REVERB_SCALING_ENABLED="true", REDIS_URL="redis://cache:6379/1").redis_url == "redis://cache:6379/1"

    def test_pusherpy_variables_win_over_reverbs(self) -> None:
        assert load(PUSHERPY_PORT="7000").port == 7000

    def test_a_bad_value_is_named_with_its_variable(self) -> None:
        with pytest.raises(ConfigError, match=re.escape("REVERB_APP_ACTIVITY_TIMEOUT='soon' is not an integer")):
            load(REVERB_APP_ACTIVITY_TIMEOUT="soon")


class TestNotices:
    def test_the_variables_read_from_the_file_are_named_without_their_values(self) -> None:
        (read, *others) = load().notices
        assert read.startswith(f"env file {str(FIXTURE)!r}: read ")
        for name in ("REVERB_APP_ID", "REVERB_APP_SECRET", "REVERB_SERVER_PORT", "REVERB_APP_PING_INTERVAL"):
            assert name in read
        assert APP.secret not in read
        assert "APP_KEY" not in read.replace("REVERB_APP_KEY", ""), "Laravel's own variables are not ours"
        assert others == []

    def test_an_unknown_reverb_variable_is_named(self) -> None:
        notices = load(REVERB_APP_PING_INTERVALL="5").notices
        assert any(n.startswith("REVERB_APP_PING_INTERVALL is not a Reverb setting pusherpy knows") for n in notices)

    def test_an_unsupported_reverb_variable_says_why(self) -> None:
        notices = load(REVERB_PULSE_INGEST_INTERVAL="15").notices
        assert any(n.startswith("REVERB_PULSE_INGEST_INTERVAL is not supported: ") for n in notices)
        assert not any("REVERB_PULSE" in n for n in load(REVERB_PULSE_INGEST_INTERVAL="").notices), "empty is unset"

    def test_reverb_server_path_is_the_path_prefix(self) -> None:
        assert load(REVERB_SERVER_PATH="/ws").path_prefix == "/ws"
        with pytest.raises(ConfigError, match=r"REVERB_SERVER_PATH='ws/' must be empty or a path such as '/ws'"):
            load(REVERB_SERVER_PATH="ws/")

    def test_app_options_without_an_app_are_named(self) -> None:
        notices = load_settings(environ={"REVERB_APP_ACTIVITY_TIMEOUT": "30"}).notices
        assert any(n.startswith("REVERB_APP_ACTIVITY_TIMEOUT: ignored, as no app is named") for n in notices)

    def test_every_reverb_variable_is_in_the_docs_table(self) -> None:
        table = DOCS.read_text()
        for name, variable in REVERB_VARIABLES.items():
            row = next((line for line in table.splitlines() if line.startswith(f"| `{name}`")), None)
            assert row is not None, f"{name} is missing from docs/laravel.md"
            if variable.target:
                assert f"`{variable.target}`" in row, f"{name}'s row must name {variable.target}"
            if variable.use in (Use.UNSUPPORTED, Use.NOT_NEEDED):
                assert variable.use.value in row, f"{name}'s row must say {variable.use.value!r}"


class TestServedWithEnvFile:
    """``pusherpy serve --env-file`` with the installer's file: the settings take effect on real sockets."""

    async def test_the_server_pings_after_reverbs_ping_interval_and_sends_the_activity_timeout(self) -> None:
        async with serving("--env-file", str(FIXTURE)) as server:
            url = f"ws://{server.host}:{server.port}/app/{APP.key}?protocol=7"
            async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
                established = json.loads((await ws.receive_json(timeout=DEADLINE))["data"])
                assert established["activity_timeout"] == 45
                # Silent for REVERB_APP_PING_INTERVAL=1 second, long before the activity timeout of 45.
                ping = await ws.receive_json(timeout=DEADLINE)
        assert ping["event"] == "pusher:ping"

    async def test_a_message_over_the_max_message_size_closes_with_1009(self) -> None:
        async with serving("--env-file", str(FIXTURE)) as server, server.connect(APP) as client:
            await client.send("pusher:subscribe", {"channel": "x" * 2100})
            assert await client.expect_close() == 1009

    async def test_an_origin_outside_the_allowed_origins_is_refused(self) -> None:
        async with serving("--env-file", str(FIXTURE)) as server:
            assert await first_event(server, {"Origin": "https://evil.test"}) == ("pusher:error", 4009)
            assert await first_event(server, {"Origin": "https://shop.example.com"}) == (
                "pusher:connection_established",
                None,
            )

    async def test_connections_over_max_connections_are_refused(self) -> None:
        async with serving("--env-file", str(FIXTURE)) as server:
            async with server.connect(APP), server.connect(APP):
                assert await first_event(server, {}) == ("pusher:error", 4004)

    async def test_client_events_turned_off_are_refused(self) -> None:
        env = {"REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM": "none"}
        async with serving("--env-file", str(FIXTURE), env=env) as server, server.connect(APP) as client:
            await client.subscribe("private-room")
            await client.send("client-typing", {}, channel="private-room")
            error = await client.expect("pusher:error")
        assert error["data"]["code"] == 4301

    async def test_rate_limiting_refuses_messages_over_the_rate(self) -> None:
        env = {
            "REVERB_APP_RATE_LIMITING_ENABLED": "true",
            "REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS": "3",
            "REVERB_APP_RATE_LIMIT_DECAY_SECONDS": "1",
        }
        async with serving("--env-file", str(FIXTURE), env=env) as server, server.connect(APP) as client:
            for _ in range(4):
                await client.send("pusher:ping")
            error = await client.expect("pusher:error")
        assert error["data"]["code"] == 4301

    async def test_a_request_over_the_max_request_size_gets_413(self) -> None:
        async with serving("--env-file", str(FIXTURE)) as server, aiohttp.ClientSession() as session:
            url = f"{server.http_url}/apps/{APP.id}/events"
            async with session.post(url, data=b"{" + b" " * 3100 + b"}") as response:
                assert response.status == 413

    async def test_unknown_reverb_variables_and_what_was_read_are_logged(self) -> None:
        env = {"REVERB_TYPO_SETTING": "1"}
        async with serving("--env-file", str(FIXTURE), env=env) as server:
            stderr = await stopped(server)
        assert "REVERB_TYPO_SETTING is not a Reverb setting pusherpy knows" in stderr
        assert "read REVERB_ALLOWED_ORIGINS" in stderr
        assert APP.secret not in stderr


async def first_event(server: ServerProcess, headers: dict[str, str]) -> tuple[str, int | None]:
    """The first message a new socket of ``APP`` gets: its event, and the error code if it is an error."""
    url = f"ws://{server.host}:{server.port}/app/{APP.key}?protocol=7"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        message = await ws.receive_json(timeout=DEADLINE)
    data = json.loads(message["data"]) if isinstance(message["data"], str) else message["data"]
    return message["event"], data.get("code") if message["event"] == "pusher:error" else None
