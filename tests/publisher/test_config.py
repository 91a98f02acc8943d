"""Constructing clients: arguments, from_url and from_env with a Laravel app's variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from pusherpy.protocol.errors import ConfigError
from pusherpy.publisher import AsyncPusher, ClientConfig, Pusher

from .conftest import MASTER_KEY_B64


def test_defaults_follow_the_official_sdks() -> None:
    config = Pusher("1", "key", "secret").config
    assert (config.scheme, config.host, config.port, config.timeout, config.max_data_size) == (
        "https",
        "api-mt1.pusher.com",
        443,
        5.0,
        10_240,
    )
    assert Pusher("1", "k", "s", cluster="eu").config.host == "api-eu.pusher.com"
    assert Pusher("1", "k", "s", ssl=False).config.base_url == "http://api-mt1.pusher.com:80"
    assert Pusher(1, "k", "s", host="localhost", port=8080, scheme="http").config.base_url == "http://localhost:8080"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"app_id": "a/b"}, "app_id"),
        ({"key": ""}, "key"),
        ({"scheme": "ftp"}, "scheme"),
        ({"port": 0}, "port"),
        ({"timeout": 0}, "timeout"),
        ({"host": "a/b"}, "host"),
        ({"encryption_master_key_base64": "!!"}, "base64"),
        ({"encryption_master_key_base64": "c2hvcnQ="}, "32"),
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"retries": True}, "retries"),
        ({"retry_backoff": -0.1}, "retry_backoff"),
    ],
)
def test_invalid_arguments_are_config_errors_naming_the_argument(kwargs: dict[str, object], match: str) -> None:
    values: dict[str, object] = {"app_id": "1", "key": "k", "secret": "s", **kwargs}
    with pytest.raises(ConfigError, match=match):
        Pusher(**values)  # type: ignore[arg-type]


def test_retries_default_to_3_with_a_100_ms_backoff_and_are_set_everywhere_a_client_is_built() -> None:
    config = Pusher("1", "k", "s").config
    assert (config.retries, config.retry_backoff) == (3, 0.1)
    assert AsyncPusher("1", "k", "s", retries=0).config.retries == 0
    from_url = Pusher.from_url("http://k:s@localhost/apps/1", retries=5, retry_backoff=0.5).config
    assert (from_url.retries, from_url.retry_backoff) == (5, 0.5)
    env = {"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "k", "PUSHER_APP_SECRET": "s"}
    assert AsyncPusher.from_env(env, retries=1).config.retries == 1
    assert Pusher.from_env({"PUSHER_URL": "http://k:s@h/apps/1"}, retries=2).config.retries == 2


def test_from_url() -> None:
    pusher = Pusher.from_url("http://key:se%2Fcret@localhost:6001/apps/123")
    assert (pusher.app_id, pusher.key, pusher.config.secret) == ("123", "key", "se/cret")
    assert pusher.config.base_url == "http://localhost:6001"
    assert AsyncPusher.from_url("https://k:s@api.example.com/apps/9").config.base_url == "https://api.example.com:443"


@pytest.mark.parametrize(
    "url", ["localhost:6001/apps/1", "http://localhost/apps/1", "http://k:s@localhost/app/1", "ftp://k:s@h/apps/1"]
)
def test_from_url_rejects_incomplete_urls_without_showing_the_secret(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Pusher.from_url(url)
    assert ":s@" not in str(caught.value)


def test_from_env_reads_laravels_pusher_variables() -> None:
    env = {
        "PUSHER_APP_ID": "7",
        "PUSHER_APP_KEY": "pk",
        "PUSHER_APP_SECRET": "ps",
        "PUSHER_HOST": "127.0.0.1",
        "PUSHER_PORT": "6001",
        "PUSHER_SCHEME": "http",
        "PUSHER_APP_CLUSTER": "eu",
    }
    config = Pusher.from_env(env).config
    assert (config.app_id, config.key, config.secret, config.base_url) == ("7", "pk", "ps", "http://127.0.0.1:6001")


def test_from_env_uses_the_cluster_without_a_host() -> None:
    env = {"PUSHER_APP_ID": "7", "PUSHER_APP_KEY": "k", "PUSHER_APP_SECRET": "s", "PUSHER_APP_CLUSTER": "ap1"}
    assert Pusher.from_env(env).config.base_url == "https://api-ap1.pusher.com:443"


def test_from_env_reads_reverb_variables() -> None:
    env = {
        "REVERB_APP_ID": "1",
        "REVERB_APP_KEY": "rk",
        "REVERB_APP_SECRET": "rs",
        "REVERB_HOST": "localhost",
        "REVERB_PORT": "8080",
        "REVERB_SCHEME": "http",
        "REVERB_ENCRYPTION_MASTER_KEY_BASE64": MASTER_KEY_B64,
    }
    config = AsyncPusher.from_env(env).config
    assert (config.key, config.base_url) == ("rk", "http://localhost:8080")
    assert config.encryption_master_key is not None


def test_broadcast_connection_picks_the_prefix() -> None:
    env = {
        "BROADCAST_CONNECTION": "reverb",
        "PUSHER_APP_ID": "1",
        "PUSHER_APP_KEY": "pk",
        "PUSHER_APP_SECRET": "ps",
        "REVERB_APP_ID": "2",
        "REVERB_APP_KEY": "rk",
        "REVERB_APP_SECRET": "rs",
    }
    assert Pusher.from_env(env).key == "rk"
    assert Pusher.from_env({**env, "BROADCAST_CONNECTION": "pusher"}).key == "pk"
    del env["BROADCAST_CONNECTION"]
    assert Pusher.from_env(env).key == "pk"


def test_from_env_falls_back_to_pusher_url() -> None:
    assert Pusher.from_env({"PUSHER_URL": "http://k:s@h:1/apps/5"}).app_id == "5"


def test_from_env_prefers_pusherpy_url_over_everything_else() -> None:
    env = {"PUSHERPY_URL": "http://ours:s@h:1/apps/9", "PUSHER_URL": "http://k:s@h:1/apps/5", "REVERB_APP_ID": "2"}
    env |= {"REVERB_APP_KEY": "rk", "REVERB_APP_SECRET": "rs"}
    config = Pusher.from_env(env).config
    assert (config.app_id, config.key, config.scheme, config.host, config.port) == ("9", "ours", "http", "h", 1)


def test_a_bad_url_variable_is_named_without_its_secret() -> None:
    with pytest.raises(ConfigError, match="PUSHERPY_URL: ") as raised:
        Pusher.from_env({"PUSHERPY_URL": "http://k:hidden@h:1/nowhere"})
    assert "hidden" not in str(raised.value)


class TestEnvFile:
    """``from_env(env_file=...)`` reads a Laravel ``.env`` as the server's ``--env-file`` does."""

    LARAVEL = (
        "BROADCAST_CONNECTION=reverb\nREVERB_APP_ID=734821\nREVERB_APP_KEY=rkey\nREVERB_APP_SECRET=rsecret\n"
        'REVERB_HOST="localhost"\nREVERB_PORT=8080\nREVERB_SCHEME=http\nVITE_REVERB_HOST="${REVERB_HOST}"\n'
    )

    def test_a_laravel_env_file_configures_the_client(self, tmp_path: Path) -> None:
        path = tmp_path / ".env"
        path.write_text(self.LARAVEL)
        for client in (Pusher.from_env({}, env_file=path), AsyncPusher.from_env({}, env_file=str(path))):
            config = client.config
            assert (config.app_id, config.key, config.secret) == ("734821", "rkey", "rsecret")
            assert (config.scheme, config.host, config.port) == ("http", "localhost", 8080)

    def test_the_environment_wins_over_the_file(self, tmp_path: Path) -> None:
        path = tmp_path / ".env"
        path.write_text(self.LARAVEL)
        assert Pusher.from_env({"REVERB_PORT": "9000"}, env_file=path).config.port == 9000

    def test_pusherpy_env_file_names_the_file(self, tmp_path: Path) -> None:
        path = tmp_path / "broadcast.env"
        path.write_text(self.LARAVEL)
        assert Pusher.from_env({"PUSHERPY_ENV_FILE": str(path)}).key == "rkey"

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="nope.env' does not exist"):
            Pusher.from_env({}, env_file=tmp_path / "nope.env")


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({}, "PUSHER_APP_ID"),
        ({"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "k"}, "PUSHER_APP_SECRET"),
        ({"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "k", "PUSHER_APP_SECRET": "s", "PUSHER_PORT": "abc"}, "PUSHER_PORT"),
        (
            {"REVERB_APP_ID": "1", "REVERB_APP_KEY": "k", "REVERB_APP_SECRET": "s", "REVERB_SCHEME": "ws"},
            "REVERB_SCHEME",
        ),
        ({"BROADCAST_CONNECTION": "reverb"}, "REVERB_APP_ID"),
    ],
)
def test_from_env_errors_name_the_variable(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Pusher.from_env(env)


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROADCAST_CONNECTION", "BROADCAST_DRIVER", "PUSHER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUSHER_APP_ID", "77")
    monkeypatch.setenv("PUSHER_APP_KEY", "k")
    monkeypatch.setenv("PUSHER_APP_SECRET", "s")
    assert Pusher.from_env().app_id == "77"


def test_config_is_frozen() -> None:
    config = ClientConfig(app_id="1", key="k", secret="s")
    with pytest.raises(AttributeError):
        config.key = "other"  # type: ignore[misc]
