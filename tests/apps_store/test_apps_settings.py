"""``apps_source`` as a setting: apps come from one place, the URL is checked at load, its password never shown."""

from __future__ import annotations

import pytest

from pusherpy.protocol.errors import ConfigError
from pusherpy.server.settings import load_settings


def test_apps_source_serves_no_configured_app_and_not_the_dev_app() -> None:
    settings = load_settings(environ={"PUSHERPY_APPS_SOURCE": "sqlite:///apps.db"})
    assert settings.apps == () and settings.uses_dev_app is False


@pytest.mark.parametrize(
    "also",
    [
        {"PUSHERPY_APP_ID": "1", "PUSHERPY_APP_KEY": "k", "PUSHERPY_APP_SECRET": "s"},
        {"REVERB_APP_ID": "1", "REVERB_APP_KEY": "k", "REVERB_APP_SECRET": "s"},
    ],
)
def test_apps_source_with_an_app_of_the_environment_is_refused(also: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="apps come from one place"):
        load_settings(environ={"PUSHERPY_APPS_SOURCE": "sqlite:///apps.db", **also})


def test_apps_source_with_apps_in_the_file_is_refused(tmp_path: object) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "pusherpy.toml"
    config.write_text('apps_source = "sqlite:///apps.db"\n[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n')
    with pytest.raises(ConfigError, match="apps come from one place"):
        load_settings(config_file=config, environ={})


def test_apps_source_with_redis_needs_a_cluster_secret() -> None:
    environ = {"PUSHERPY_APPS_SOURCE": "sqlite:///apps.db", "PUSHERPY_REDIS_URL": "redis://127.0.0.1:6379/0"}
    with pytest.raises(ConfigError, match="cluster_secret"):
        load_settings(environ=environ)
    settings = load_settings(environ={**environ, "PUSHERPY_CLUSTER_SECRET": "x" * 32})
    assert settings.redis_url and settings.apps == ()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("oracle://db/apps", "must start with postgresql://"),
        ("apps.db", "must start with postgresql://"),
        ("postgresql://u:pa/ss@db/apps", "not a valid URL"),
        ("sqlite://", "sqlite:////abs/path.db"),
    ],
)
def test_a_bad_apps_source_is_refused_at_load(url: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said) as refused:
        load_settings(environ={"PUSHERPY_APPS_SOURCE": url})
    assert "pa/ss" not in str(refused.value)


def test_the_password_of_apps_source_is_never_shown() -> None:
    settings = load_settings(environ={"PUSHERPY_APPS_SOURCE": "postgresql://pusherpy:hunter2@db/apps"})
    assert "hunter2" not in repr(settings)
