"""Secrets stay out of sight: a config object printed in a log line, a traceback or a debugger shows no secret."""

from __future__ import annotations

import base64

from pusherpy.protocol.apps import AppConfig
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


def test_server_settings_show_no_cluster_secret() -> None:
    settings = Settings(cluster_secret=SECRET, redis_url="redis://127.0.0.1:6379/0")
    assert SECRET not in repr(settings)
