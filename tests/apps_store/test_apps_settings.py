"""``apps_source`` as a setting: apps come from one place, the URL is checked at load, its password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from pusherpy.protocol.errors import ConfigError
from pusherpy.server.apps_store import StoredApp, app_from_row
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


def test_apps_source_with_apps_in_the_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "pusherpy.toml"
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


def test_the_settings_example_of_the_docs_is_read_as_an_apps_table() -> None:
    text = (Path(__file__).parents[2] / "docs" / "apps-database.md").read_text()
    example = text.split("```json\n")[1].split("```")[0]
    app = app_from_row(StoredApp(id="1", key="k", secret="s", settings=example))
    assert app.max_connections == 1000 and app.enable_client_events is False
    assert [target.url for target in app.webhooks] == ["https://shop.example.com/pusher/webhooks"]
    assert app.history_rule("orders-1") is not None


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ('{"secret": "other"}', "must not hold 'secret'"),
        ('{"max_connections": -1}', "max_connections"),
        ('{"no_such_setting": 1}', "unknown key"),
        ("[1, 2]", "must be a JSON object"),
        ("{", "not JSON"),
    ],
)
def test_a_row_whose_settings_do_not_parse_is_named(settings: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said) as refused:
        app_from_row(StoredApp(id="77", key="k", secret="s", settings=settings))
    assert "pusherpy_apps id='77'" in str(refused.value)
