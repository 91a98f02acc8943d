"""Secrets stay out of sight: a config object printed in a log line, a traceback or a debugger shows no secret
(app secrets, master keys, passwords and tokens inside URLs, the example's JWT secret and model API key)."""

from __future__ import annotations

import base64
from pathlib import Path

from bench.servers import Target
from examples.chat.backend.config import BrowserPusher, ChatConfig, ModelConfig
from examples.chat.launcher import LaunchOptions
from pusherpy.protocol.apps import AppConfig, WebhookTarget
from pusherpy.publisher import ClientConfig
from pusherpy.server.settings import Settings

SECRET = "s3cr3t-that-must-not-show"
MASTER_KEY = bytes(range(32))


def test_an_app_config_shows_its_id_and_key_but_not_its_secret() -> None:
    shown = repr(AppConfig(id="1", key="app-key", secret=SECRET))
    assert "app-key" in shown and SECRET not in shown


def test_server_settings_show_no_app_secret() -> None:
    settings = Settings(apps=(AppConfig(id="1", key="app-key", secret=SECRET),), uses_dev_app=False)
    assert SECRET not in repr(settings)


def test_a_publisher_config_shows_neither_the_secret_nor_the_encryption_master_key() -> None:
    config = ClientConfig.build(
        "1", "app-key", SECRET, host="127.0.0.1", encryption_master_key_base64=base64.b64encode(MASTER_KEY).decode()
    )
    shown = repr(config)
    assert "app-key" in shown
    assert SECRET not in shown and repr(MASTER_KEY) not in shown


# -- every other config object -----------------------------------------------------------------------------------

PASSWORD = "redis-pa55word"
HOOK_PASSWORD = "hook-pa55word"
HOOK_TOKEN = "hook-t0ken"


def test_server_settings_show_the_redis_url_without_its_password_and_no_metrics_token() -> None:
    settings = Settings(
        apps=(AppConfig(id="1", key="app-key", secret=SECRET),),
        uses_dev_app=False,
        redis_url=f"redis://pusherpy:{PASSWORD}@10.0.0.5:6379/0",
        metrics_token=SECRET,
    )
    shown = repr(settings)
    assert "redis://pusherpy:***@10.0.0.5:6379/0" in shown
    assert PASSWORD not in shown and SECRET not in shown


def test_a_webhook_target_shows_its_url_without_the_credentials_in_it() -> None:
    target = WebhookTarget(url=f"https://pusher:{HOOK_PASSWORD}@hooks.example.com/pusher?token={HOOK_TOKEN}")
    app = AppConfig(id="1", key="app-key", secret=SECRET, webhooks=(target,))
    for shown in (repr(target), repr(app), repr(Settings(apps=(app,), uses_dev_app=False))):
        assert "https://pusher:***@hooks.example.com/pusher?token=***" in shown
        assert HOOK_PASSWORD not in shown and HOOK_TOKEN not in shown and SECRET not in shown


def test_the_chat_examples_config_shows_no_jwt_secret_api_key_or_app_secret() -> None:
    model = ModelConfig(base_url="https://api.openai.com/v1", api_key="sk-openai-key-that-must-not-show", model="m")
    config = ChatConfig(
        database=Path("chat.sqlite3"),
        jwt_secret="jwt-secret-that-must-not-show",
        pusher=ClientConfig.build("1", "chat-key", SECRET, host="127.0.0.1"),
        browser=BrowserPusher(key="chat-key", ws_host=None, ws_port=8080),
        model=model,
    )
    options = LaunchOptions(
        jwt_secret="jwt-secret-that-must-not-show", openai_api_key="sk-openai-key-that-must-not-show"
    )
    for shown in (repr(model), repr(config), repr(options)):
        assert "must-not-show" not in shown and SECRET not in shown
    assert "chat-key" in repr(config) and "api.openai.com" in repr(model)


def test_the_benchmarks_target_shows_no_app_secret() -> None:
    shown = repr(Target("pusherpy", "127.0.0.1", 8080, "1", "bench-key", SECRET))
    assert "bench-key" in shown and SECRET not in shown


def test_server_settings_show_no_cluster_secret() -> None:
    settings = Settings(cluster_secret=SECRET, redis_url="redis://127.0.0.1:6379/0")
    assert SECRET not in repr(settings)
