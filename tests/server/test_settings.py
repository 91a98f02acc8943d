"""Configuration (``load_settings``): a TOML file with several apps and their webhooks, ``PUSHERPY_*`` variables, a
Laravel project's Reverb or Pusher ``.env`` as it is, command-line overrides on top (CLI > env > file > defaults),
and a ``ConfigError`` naming the key and the value for every bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pusherpy.protocol.apps import WEBHOOK_EVENT_TYPES, AppConfig, WebhookTarget
from pusherpy.protocol.errors import ConfigError
from pusherpy.server.settings import DEV_APP, Settings, load_settings
from tests.server.tls_certs import self_signed

SEVERAL_APPS = """
host = "0.0.0.0"
port = 6001
webhook_delay_seconds = 1.5

[[apps]]
id = "1"
key = "chat-key"
secret = "chat-secret"
name = "chat"
enable_client_events = false
max_connections = 500
allowed_origins = ["example.com", "*.example.com"]

[[apps.webhooks]]
url = "https://chat.example.com/pusher/webhooks"
event_types = ["channel_occupied", "channel_vacated"]

[[apps.webhooks]]
url = "https://audit.example.com/hooks"

[[apps]]
id = "2"
key = "game-key"
secret = "game-secret"
enable_subscription_count = true
"""

LARAVEL_REVERB_ENV = {
    "APP_NAME": "Laravel",
    "BROADCAST_CONNECTION": "reverb",
    "REVERB_APP_ID": "734821",
    "REVERB_APP_KEY": "k3ylaravel",
    "REVERB_APP_SECRET": "s3cretlaravel",
    "REVERB_HOST": "localhost",
    "REVERB_PORT": "8080",
    "REVERB_SCHEME": "http",
    "REVERB_SERVER_HOST": "0.0.0.0",
    "REVERB_SERVER_PORT": "8081",
    "VITE_REVERB_APP_KEY": "${REVERB_APP_KEY}",
}

LARAVEL_PUSHER_ENV = {
    "BROADCAST_CONNECTION": "pusher",
    "PUSHER_APP_ID": "555",
    "PUSHER_APP_KEY": "pusher-key",
    "PUSHER_APP_SECRET": "pusher-secret",
    "PUSHER_HOST": "",
    "PUSHER_PORT": "443",
    "PUSHER_SCHEME": "https",
    "PUSHER_APP_CLUSTER": "mt1",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pusherpy.toml"
    path.write_text(text)
    return path


def load(
    tmp_path: Path,
    toml: str | None = None,
    env: dict[str, str] | None = None,
    cli: dict[str, Any] | None = None,
) -> Settings:
    config_file = write(tmp_path, toml) if toml is not None else None
    return load_settings(config_file=config_file, environ=env or {}, overrides=cli)


class TestDefaults:
    def test_no_configuration_serves_the_dev_app_on_localhost_8080(self, tmp_path: Path) -> None:
        settings = load(tmp_path)
        assert (settings.host, settings.port) == ("127.0.0.1", 8080)
        assert settings.apps == (DEV_APP,)
        assert settings.uses_dev_app
        assert settings.redis_url is None

    def test_dev_app_id_is_numeric_as_pusher_http_python_requires(self) -> None:
        assert DEV_APP.id.isdigit()


class TestTomlFile:
    def test_several_apps_with_their_switches_limits_and_webhooks(self, tmp_path: Path) -> None:
        settings = load(tmp_path, SEVERAL_APPS)
        assert (settings.host, settings.port, settings.webhook_delay_seconds) == ("0.0.0.0", 6001, 1.5)
        assert not settings.uses_dev_app
        chat, game = settings.apps
        assert (chat.id, chat.key, chat.secret, chat.name) == ("1", "chat-key", "chat-secret", "chat")
        assert chat.enable_client_events is False
        assert chat.max_connections == 500
        assert chat.allowed_origins == ("example.com", "*.example.com")
        assert chat.webhooks == (
            WebhookTarget(
                url="https://chat.example.com/pusher/webhooks",
                event_types=frozenset({"channel_occupied", "channel_vacated"}),
            ),
            WebhookTarget(url="https://audit.example.com/hooks", event_types=WEBHOOK_EVENT_TYPES),
        )
        assert (game.id, game.key, game.enable_subscription_count, game.webhooks) == ("2", "game-key", True, ())
        assert settings.app_by_key()["game-key"] is game

    def test_numeric_toml_ids_are_read_as_strings(self, tmp_path: Path) -> None:
        settings = load(tmp_path, '[[apps]]\nid = 42\nkey = "k"\nsecret = "s"\n')
        assert settings.apps[0].id == "42"

    def test_config_file_can_come_from_pusherpy_config(self, tmp_path: Path) -> None:
        path = write(tmp_path, SEVERAL_APPS)
        settings = load_settings(environ={"PUSHERPY_CONFIG": str(path)})
        assert [app.id for app in settings.apps] == ["1", "2"]


class TestEnvironment:
    def test_pusherpy_variables_set_top_level_settings_and_one_app(self, tmp_path: Path) -> None:
        settings = load(
            tmp_path,
            env={
                "PUSHERPY_HOST": "0.0.0.0",
                "PUSHERPY_PORT": "6001",
                "PUSHERPY_DEBUG": "true",
                "PUSHERPY_WEBHOOK_DELAY_SECONDS": "0.5",
                "PUSHERPY_MAX_REQUEST_BODY_BYTES": "2048",
                "PUSHERPY_APP_ID": "77",
                "PUSHERPY_APP_KEY": "env-key",
                "PUSHERPY_APP_SECRET": "env-secret",
            },
        )
        assert (settings.host, settings.port, settings.debug) == ("0.0.0.0", 6001, True)
        assert (settings.webhook_delay_seconds, settings.max_request_body_bytes) == (0.5, 2048)
        assert [(a.id, a.key, a.secret) for a in settings.apps] == [("77", "env-key", "env-secret")]
        assert not settings.uses_dev_app

    def test_laravel_reverb_env_works_unchanged(self, tmp_path: Path) -> None:
        settings = load(tmp_path, env=LARAVEL_REVERB_ENV)
        assert (settings.host, settings.port) == ("0.0.0.0", 8081)
        assert [(a.id, a.key, a.secret) for a in settings.apps] == [("734821", "k3ylaravel", "s3cretlaravel")]

    def test_laravel_pusher_env_works_unchanged(self, tmp_path: Path) -> None:
        settings = load(tmp_path, env=LARAVEL_PUSHER_ENV)
        assert [(a.id, a.key, a.secret) for a in settings.apps] == [("555", "pusher-key", "pusher-secret")]
        assert (settings.host, settings.port) == ("127.0.0.1", 8080), "PUSHER_PORT is where Laravel sends, not ours"

    def test_reverb_scaling_uses_laravels_redis(self, tmp_path: Path) -> None:
        env = {**LARAVEL_REVERB_ENV, "REVERB_SCALING_ENABLED": "true", "REDIS_HOST": "redis", "REDIS_PORT": "6380"}
        assert load(tmp_path, env=env).redis_url == "redis://redis:6380/0"

    def test_env_app_joins_the_apps_of_the_file(self, tmp_path: Path) -> None:
        settings = load(tmp_path, SEVERAL_APPS, env=LARAVEL_REVERB_ENV)
        assert [app.id for app in settings.apps] == ["734821", "1", "2"]

    def test_empty_variables_are_ignored(self, tmp_path: Path) -> None:
        settings = load(tmp_path, env={"PUSHERPY_PORT": "", "REVERB_APP_ID": ""})
        assert settings.port == 8080
        assert settings.uses_dev_app


class TestRedisCluster:
    """Scale-out on a Redis Cluster is one switch, from any source; the shard count and the prefix are checked."""

    def test_off_by_default_with_sixteen_bus_shards(self, tmp_path: Path) -> None:
        settings = load(tmp_path)
        assert (settings.redis_cluster, settings.redis_bus_shards, settings.redis_prefix) == (False, 16, "pusherpy")

    def test_from_the_file(self, tmp_path: Path) -> None:
        settings = load(tmp_path, 'redis_url = "redis://10.0.0.5:7000"\nredis_cluster = true\nredis_bus_shards = 32\n')
        assert (settings.redis_url, settings.redis_cluster, settings.redis_bus_shards) == (
            "redis://10.0.0.5:7000",
            True,
            32,
        )

    def test_from_the_environment_and_the_command_line(self, tmp_path: Path) -> None:
        env = {"PUSHERPY_REDIS_CLUSTER": "true", "PUSHERPY_REDIS_BUS_SHARDS": "8"}
        assert (load(tmp_path, env=env).redis_cluster, load(tmp_path, env=env).redis_bus_shards) == (True, 8)
        assert load(tmp_path, cli={"redis_cluster": True}).redis_cluster is True
        assert (
            load(tmp_path, env={"PUSHERPY_REDIS_CLUSTER": "true"}, cli={"redis_cluster": False}).redis_cluster is False
        )

    @pytest.mark.parametrize(
        ("env", "named"),
        [
            ({"PUSHERPY_REDIS_CLUSTER": "maybe"}, "PUSHERPY_REDIS_CLUSTER='maybe' is not a boolean"),
            ({"PUSHERPY_REDIS_BUS_SHARDS": "0"}, "PUSHERPY_REDIS_BUS_SHARDS='0' must be at least 1"),
            ({"PUSHERPY_REDIS_PREFIX": "app{1}"}, "redis_prefix='app{1}' must not contain braces"),
        ],
    )
    def test_bad_values_are_named(self, tmp_path: Path, env: dict[str, str], named: str) -> None:
        with pytest.raises(ConfigError, match=re.escape(named)):
            load(tmp_path, env=env)

    @pytest.mark.parametrize(
        ("url", "named"),
        [
            ("https://user:pa55word@10.0.0.5/0", "redis_url='https://user:***@10.0.0.5/0' must start with redis://"),
            ("redis://:pa55/word@10.0.0.5/0", "redis_url='redis://***' is not a valid URL"),
        ],
    )
    def test_a_url_redis_cannot_use_is_named_without_its_password(self, tmp_path: Path, url: str, named: str) -> None:
        """Caught here, as a configuration error, rather than as a traceback from the Redis client at start."""
        with pytest.raises(ConfigError, match=re.escape(named)):
            load(tmp_path, env={"PUSHERPY_REDIS_URL": url})


class TestPrecedence:
    def test_cli_beats_env_beats_file_beats_defaults(self, tmp_path: Path) -> None:
        toml = 'host = "127.0.0.2"\nport = 1111\nwebhook_delay_seconds = 2.0\npong_timeout = 9.0\n'
        env = {"PUSHERPY_PORT": "2222", "PUSHERPY_WEBHOOK_DELAY_SECONDS": "1.0"}
        settings = load(tmp_path, toml, env=env, cli={"port": 3333, "host": None})
        assert settings.port == 3333  # CLI
        assert settings.webhook_delay_seconds == 1.0  # env over file
        assert settings.host == "127.0.0.2"  # file, the CLI flag was not given
        assert settings.pong_timeout == 9.0  # file over default
        assert settings.shutdown_timeout == Settings().shutdown_timeout  # default

    def test_pusherpy_variables_beat_reverb_variables(self, tmp_path: Path) -> None:
        env = {**LARAVEL_REVERB_ENV, "PUSHERPY_PORT": "9000"}
        assert load(tmp_path, env=env).port == 9000

    def test_cli_app_replaces_the_env_app(self, tmp_path: Path) -> None:
        cli = {"app_id": "9", "app_key": "cli-key", "app_secret": "cli-secret"}
        settings = load(tmp_path, env=LARAVEL_REVERB_ENV, cli=cli)
        assert [(a.id, a.key, a.secret) for a in settings.apps] == [("9", "cli-key", "cli-secret")]

    def test_cli_app_replaces_a_file_app_with_the_same_id(self, tmp_path: Path) -> None:
        cli = {"app_id": "1", "app_key": "new-key", "app_secret": "new-secret"}
        settings = load(tmp_path, SEVERAL_APPS, cli=cli)
        assert [(a.id, a.key) for a in settings.apps] == [("1", "new-key"), ("2", "game-key")]

    def test_env_app_with_the_key_of_a_file_app_replaces_it(self, tmp_path: Path) -> None:
        env = {"PUSHERPY_APP_ID": "99", "PUSHERPY_APP_KEY": "chat-key", "PUSHERPY_APP_SECRET": "x"}
        settings = load(tmp_path, SEVERAL_APPS, env=env)
        assert [(a.id, a.key) for a in settings.apps] == [("99", "chat-key"), ("2", "game-key")]


BAD_FILES: list[tuple[str, str, list[str]]] = [
    ("bad port", "port = 70000\n", ["port", "70000"]),
    ("port not a number", 'port = "http"\n', ["port", "http"]),
    ("negative port", "port = -1\n", ["port", "-1"]),
    ("bad bool", 'debug = "maybe"\n', ["debug", "maybe"]),
    ("bad float", 'pong_timeout = "soon"\n', ["pong_timeout", "soon"]),
    ("zero size", "max_request_body_bytes = 0\n", ["max_request_body_bytes", "0"]),
    ("unknown top-level key", "prot = 6001\n", ["prot"]),
    ("unknown app key", '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\ncolour = "red"\n', ["apps[0].colour"]),
    ("missing secret", '[[apps]]\nid = "1"\nkey = "k"\n', ["apps[0]", "secret"]),
    ("missing id", '[[apps]]\nkey = "k"\nsecret = "s"\n', ["apps[0]", "id"]),
    ("empty secret", '[[apps]]\nid = "1"\nkey = "k"\nsecret = ""\n', ["apps[0].secret"]),
    (
        "duplicate app id",
        '[[apps]]\nid = "1"\nkey = "a"\nsecret = "s"\n[[apps]]\nid = "1"\nkey = "b"\nsecret = "s"\n',
        ["id", "'1'"],
    ),
    (
        "duplicate app key",
        '[[apps]]\nid = "1"\nkey = "same"\nsecret = "s"\n[[apps]]\nid = "2"\nkey = "same"\nsecret = "s"\n',
        ["key", "'same'"],
    ),
    (
        "bad app bool",
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nenable_client_events = "yes please"\n',
        ["apps[0].enable_client_events", "yes please"],
    ),
    (
        "bad app limit",
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\nmax_connections = -5\n',
        ["apps[0].max_connections", "-5"],
    ),
    (
        "bad webhook event type",
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n[[apps.webhooks]]\nurl = "http://x/h"\n'
        'event_types = ["channel_occupied", "member_joined"]\n',
        ["apps[0].webhooks[0].event_types", "member_joined"],
    ),
    (
        "webhook url not http",
        '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n[[apps.webhooks]]\nurl = "ftp://x/h"\n',
        ["apps[0].webhooks[0].url", "ftp://x/h"],
    ),
    ("apps not a list of tables", 'apps = "one"\n', ["apps"]),
    ("an app that is not a table", 'apps = ["one"]\n', ["apps[0]", "'one'", "table"]),
    ("invalid TOML", "port = \n", ["TOML", "pusherpy.toml"]),
]


BAD_ENV: list[tuple[str, dict[str, str], list[str]]] = [
    ("bad port", {"PUSHERPY_PORT": "eighty"}, ["PUSHERPY_PORT", "eighty"]),
    ("port out of range", {"PUSHERPY_PORT": "65536"}, ["PUSHERPY_PORT", "65536"]),
    ("bad reverb port", {"REVERB_SERVER_PORT": "x"}, ["REVERB_SERVER_PORT", "x"]),
    ("bad bool", {"PUSHERPY_DEBUG": "sometimes"}, ["PUSHERPY_DEBUG", "sometimes"]),
    ("bad float", {"PUSHERPY_PONG_TIMEOUT": "1s"}, ["PUSHERPY_PONG_TIMEOUT", "1s"]),
    ("missing secret", {"REVERB_APP_ID": "1", "REVERB_APP_KEY": "k"}, ["REVERB_APP_SECRET"]),
    ("missing key", {"PUSHER_APP_ID": "1", "PUSHER_APP_SECRET": "s"}, ["PUSHER_APP_KEY"]),
    ("bad scaling switch", {"REVERB_SCALING_ENABLED": "perhaps"}, ["REVERB_SCALING_ENABLED", "perhaps"]),
    ("misspelt pusherpy variable", {"PUSHERPY_PROT": "6001"}, ["PUSHERPY_PROT", "PUSHERPY_PORT"]),
]


BAD_CLI: list[tuple[str, dict[str, Any], list[str]]] = [
    ("bad port", {"port": "abc"}, ["port", "abc"]),
    ("unknown setting", {"colour": "red"}, ["colour"]),
    ("app without secret", {"app_id": "1", "app_key": "k"}, ["--app-secret"]),
]


class TestErrors:
    @pytest.mark.parametrize(
        ("toml", "mentions"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
    )
    def test_bad_file_value_names_the_key_and_the_value(self, tmp_path: Path, toml: str, mentions: list[str]) -> None:
        with pytest.raises(ConfigError) as raised:
            load(tmp_path, toml)
        for text in mentions:
            assert text in str(raised.value)

    @pytest.mark.parametrize(("env", "mentions"), [case[1:] for case in BAD_ENV], ids=[case[0] for case in BAD_ENV])
    def test_bad_environment_value_names_the_variable_and_the_value(
        self, tmp_path: Path, env: dict[str, str], mentions: list[str]
    ) -> None:
        with pytest.raises(ConfigError) as raised:
            load(tmp_path, env=env)
        for text in mentions:
            assert text in str(raised.value)

    def test_a_misspelt_variable_is_named_without_its_value_which_may_be_a_secret(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as raised:
            load(tmp_path, env={"PUSHERPY_APP_SECRETT": "s3cret-that-must-not-show"})
        assert "PUSHERPY_APP_SECRETT" in str(raised.value) and "must-not-show" not in str(raised.value)

    @pytest.mark.parametrize(("cli", "mentions"), [case[1:] for case in BAD_CLI], ids=[case[0] for case in BAD_CLI])
    def test_bad_command_line_value_names_the_option_and_the_value(
        self, tmp_path: Path, cli: dict[str, Any], mentions: list[str]
    ) -> None:
        with pytest.raises(ConfigError) as raised:
            load(tmp_path, cli=cli)
        for text in mentions:
            assert text in str(raised.value)

    def test_missing_file_names_the_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.toml"
        with pytest.raises(ConfigError) as raised:
            load_settings(config_file=missing, environ={})
        assert str(missing) in str(raised.value)
        assert "does not exist" in str(raised.value)


# -- every field, from the dataclasses ---------------------------------------------------------------------------

DERIVED_SETTINGS = ("apps", "uses_dev_app", "notices")
SINGLE_VALUED_SETTINGS = [f.name for f in dataclasses.fields(Settings) if f.name not in DERIVED_SETTINGS]
TABLE_APP_FIELDS = ("id", "key", "secret", "webhooks", "history")
"""App fields that are not one value (the credentials, and the [[apps.webhooks]] and [[apps.history]] tables)."""
APP_FIELDS = [f.name for f in dataclasses.fields(AppConfig) if f.name not in TABLE_APP_FIELDS]

SMALLEST: dict[str, float] = {
    "redis_bus_shards": 1,
    "replay_memory_limit": 1,
    "max_message_bytes": 1,
    "max_request_body_bytes": 1,
    "send_buffer_limit_bytes": 1,
    "webhook_batch_size": 1,
    "webhook_queue_limit": 1,
    "workers": 1,
    "apps_refresh_seconds": 0.1,
    "apps.auth_timeout": 0.1,
    "apps.max_presence_member_size_bytes": 1,
    "apps.max_presence_user_id_length": 1,
    "apps.max_event_payload_kb": 1,
    "apps.max_channels_per_trigger": 1,
    "apps.max_batch_size": 1,
    "apps.activity_timeout": 1,
    "apps.max_history_channels": 1,
}
"""The smallest value of each number that cannot be 0; every other number may be 0 but not negative."""


def another_value(cls: type[Any], name: str) -> Any:
    """A valid value that differs from the field's default, of the field's type."""
    default = {f.name: f.default for f in dataclasses.fields(cls)}[name]
    if name == "redis_url":
        return "redis://elsewhere:6379/0"
    if name == "host":
        return "::1"  # another loopback address: the dev app is refused on any other (see test_exposure)
    if name == "metrics_port":
        return 9100
    if name == "ping_interval":
        return 45
    if name == "path_prefix":
        return "/ws"
    if name == "trusted_proxies":
        return ["10.0.0.0/8", "::1"]
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        return default + 1
    if isinstance(default, tuple):
        return ["example.com"]
    return "another"


def env_text(value: Any) -> str:
    """A value as an environment variable spells it: a list comma-separated, a boolean in lower case."""
    if isinstance(value, list):
        return ",".join(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def toml(value: Any) -> str:
    return json.dumps(value)  # a JSON string, number, boolean or list of strings is the same TOML value


def numbers(cls: type[Any], prefix: str) -> list[tuple[str, float, bool]]:
    """Each number field: its name as the file spells it, its smallest value, and whether it is an integer."""
    found = []
    for f in dataclasses.fields(cls):
        if isinstance(f.default, int | float) and not isinstance(f.default, bool):
            found.append((f.name, SMALLEST.get(prefix + f.name, 0), isinstance(f.default, int)))
    return found


class TestEveryField:
    """What a setting accepts is derived from its field: each one is read from every source, and each number keeps
    its bounds, with no parsing code of its own."""

    @pytest.mark.parametrize("name", SINGLE_VALUED_SETTINGS)
    def test_each_top_level_setting_is_read_from_the_file_the_environment_and_the_command_line(
        self, tmp_path: Path, name: str
    ) -> None:
        value = another_value(Settings, name)
        companion: dict[str, str] = {}  # a setting that only goes with another: both from the same source
        if name in ("tls_cert", "tls_key"):
            pair = self_signed(tmp_path)
            files = {"tls_cert": str(pair.cert), "tls_key": str(pair.key)}
            value, companion = files.pop(name), files
        if name == "workers":  # more than one needs Redis
            companion = {"redis_url": "redis://127.0.0.1:6379/0"}
        expected = tuple(value) if isinstance(value, list) else value
        lines = "".join(f"{key} = {toml(other)}\n" for key, other in companion.items())
        assert getattr(load(tmp_path, f"{name} = {toml(value)}\n{lines}"), name) == expected
        variables = {f"PUSHERPY_{key.upper()}": env_text(other) for key, other in companion.items()}
        assert getattr(load(tmp_path, env={f"PUSHERPY_{name.upper()}": env_text(value), **variables}), name) == expected
        assert getattr(load(tmp_path, cli={name: value, **companion}), name) == expected

    @pytest.mark.parametrize("name", APP_FIELDS)
    def test_each_app_field_is_read_from_an_apps_table(self, tmp_path: Path, name: str) -> None:
        value = another_value(AppConfig, name)
        (app,) = load(tmp_path, f'[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n{name} = {toml(value)}\n').apps
        assert getattr(app, name) == (tuple(value) if isinstance(value, list) else value)

    @pytest.mark.parametrize(
        ("name", "smallest", "integer"),
        [*numbers(Settings, ""), *[(f"apps.{n}", s, i) for n, s, i in numbers(AppConfig, "apps.")]],
    )
    def test_each_number_takes_its_smallest_value_and_names_one_below_it(
        self, tmp_path: Path, name: str, smallest: float, integer: bool
    ) -> None:
        below = smallest - 1 if integer else round(smallest - 0.05, 2)
        shown = int(smallest) if integer else float(smallest)
        field_name = name.removeprefix("apps.")
        in_app = name.startswith("apps.")
        header = '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n' if in_app else ""

        settings = load(tmp_path, f"{header}{field_name} = {shown}\n")
        assert getattr(settings.apps[0] if in_app else settings, field_name) == shown
        spelt = f"apps[0].{field_name}" if in_app else name
        with pytest.raises(ConfigError, match=re.escape(f"{spelt}={below!r} must be at least {shown}")):
            load(tmp_path, f"{header}{field_name} = {below}\n")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"environ": {"PUSHERPY_WORKERS": "auto"}}, None),
        ({"overrides": {"workers": "3"}}, 3),
        ({"file": 'workers = "auto"'}, None),
        ({"file": "workers = 4"}, 4),
    ],
)
def test_workers_is_a_count_or_auto_for_one_per_cpu(
    tmp_path: Path, source: dict[str, Any], expected: int | None
) -> None:
    redis = {"PUSHERPY_REDIS_URL": "redis://127.0.0.1:6379/0"}
    config = None
    if "file" in source:
        config = tmp_path / "pusherpy.toml"
        config.write_text(source["file"] + "\n")
    settings = load_settings(
        config_file=config, environ={**redis, **source.get("environ", {})}, overrides=source.get("overrides")
    )
    assert settings.workers == (expected if expected is not None else (os.cpu_count() or 1))


@pytest.mark.parametrize("value", ["0", "many", "-2"])
def test_workers_refuses_what_is_not_a_positive_count(value: str) -> None:
    with pytest.raises(ConfigError, match="PUSHERPY_WORKERS="):
        load_settings(environ={"PUSHERPY_WORKERS": value, "PUSHERPY_REDIS_URL": "redis://127.0.0.1:6379/0"})


def test_more_than_one_worker_needs_redis_url_and_says_so() -> None:
    with pytest.raises(ConfigError, match=r"workers=2 needs redis_url \(--redis-url, PUSHERPY_REDIS_URL\)"):
        load_settings(environ={"PUSHERPY_WORKERS": "2"})
    assert load_settings(environ={"PUSHERPY_WORKERS": "1"}).workers == 1
