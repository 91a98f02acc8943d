"""``pusherpy apps``: the same commands, answers and exit statuses on PostgreSQL, MariaDB and SQLite; and
``apps new`` without a database (blocks to paste, or a config file appended to)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pusherpy.server.settings import load_settings
from tests.apps_store.cli import new_app, ok, pusherpy


class TestOnEveryDatabase:
    async def test_migrate_creates_the_table_once_and_again_changes_nothing(self, store_url: str) -> None:
        await ok("apps", "migrate", "--store", store_url)
        app = await new_app(store_url)
        await ok("apps", "migrate", "--store", store_url)
        listed = (await ok("apps", "list", "--store", store_url, "--json")).json()
        assert [row["id"] for row in listed] == [app.id]

    async def test_new_apps_are_listed_without_their_secrets(self, store_url: str) -> None:
        await ok("apps", "migrate", "--store", store_url)
        first, second = await new_app(store_url, "shop"), await new_app(store_url, "blog")
        listed = (await ok("apps", "list", "--store", store_url, "--json")).json()
        assert {(row["id"], row["key"], row["name"], row["enabled"]) for row in listed} == {
            (first.id, first.key, "shop", True),
            (second.id, second.key, "blog", True),
        }
        human = (await ok("apps", "list", "--store", store_url)).out
        assert first.key in human and second.key in human
        assert first.secret not in human and second.secret not in human
        assert len({first.id, second.id, first.key, second.key, first.secret, second.secret}) == 6

    async def test_disable_enable_and_rotate_change_the_row(self, store_url: str) -> None:
        await ok("apps", "migrate", "--store", store_url)
        app = await new_app(store_url)
        await ok("apps", "disable", app.key, "--store", store_url)
        assert (await ok("apps", "list", "--store", store_url, "--json")).json()[0]["enabled"] is False
        await ok("apps", "enable", app.id, "--store", store_url)
        assert (await ok("apps", "list", "--store", store_url, "--json")).json()[0]["enabled"] is True
        rotated = (await ok("apps", "rotate-secret", app.id, "--store", store_url, "--json")).json()
        assert rotated["secret"] != app.secret and len(rotated["secret"]) == 40

    async def test_an_id_names_one_app_even_when_it_is_another_apps_key(self, store_url: str) -> None:
        from pusherpy.server.apps_store import StoredApp, open_store

        await ok("apps", "migrate", "--store", store_url)
        store = open_store(store_url)
        try:
            await store.insert(StoredApp(id="555", key="key-a", secret="a"))
            await store.insert(StoredApp(id="556", key="555", secret="b"))
        finally:
            await store.close()
        await ok("apps", "disable", "555", "--store", store_url)
        listed = (await ok("apps", "list", "--store", store_url, "--json")).json()
        assert {row["id"]: row["enabled"] for row in listed} == {"555": False, "556": True}
        await ok("apps", "disable", "key-a", "--store", store_url)  # by key when no id matches

    async def test_an_unknown_app_is_refused_with_status_1(self, store_url: str) -> None:
        await ok("apps", "migrate", "--store", store_url)
        for verb in ("disable", "enable", "rotate-secret", "delete"):
            ran = await pusherpy("apps", verb, "no-such-app", "--store", store_url)
            assert ran.status == 1, ran
            assert "no app has the id or key 'no-such-app'" in ran.err

    async def test_without_the_table_the_error_says_to_migrate(self, store_url: str) -> None:
        ran = await pusherpy("apps", "list", "--store", store_url)
        assert ran.status == 1, ran
        assert "pusherpy apps migrate" in ran.err and "Traceback" not in ran.err

    async def test_the_store_of_a_config_files_apps_source_is_used(self, store_url: str, tmp_path: Path) -> None:
        config = tmp_path / "pusherpy.toml"
        config.write_text(f'apps_source = "{store_url}"\n')
        await ok("apps", "migrate", "--config", str(config))
        ran = await ok("apps", "new", "--name", "shop", "--config", str(config), "--json")
        assert ran.json()["stored_in"]
        assert config.read_text() == f'apps_source = "{store_url}"\n'  # inserted, not appended
        listed = (await ok("apps", "list", "--config", str(config), "--json")).json()
        assert [row["id"] for row in listed] == [ran.json()["id"]]


async def test_an_unreachable_database_exits_3_and_hides_the_password() -> None:
    ran = await pusherpy("apps", "list", "--store", "postgresql://postgres:hunter2@127.0.0.1:1/apps")
    assert ran.status == 3, ran
    assert "cannot connect" in ran.err and "hunter2" not in ran.err and "Traceback" not in ran.err


async def test_without_any_store_the_commands_that_need_one_exit_2() -> None:
    ran = await pusherpy("apps", "list")
    assert ran.status == 2, ran
    assert "--store" in ran.err


async def test_an_unknown_scheme_exits_2() -> None:
    ran = await pusherpy("apps", "list", "--store", "oracle://db/apps")
    assert ran.status == 2, ran
    assert "postgresql://" in ran.err


class TestNewWithoutADatabase:
    async def test_prints_a_toml_table_a_laravel_env_and_a_pusher_js_client(self, tmp_path: Path) -> None:
        made = (await ok("apps", "new", "--name", "shop", "--json")).json()
        assert made["id"].isdigit() and len(made["key"]) == 20 and len(made["secret"]) == 40
        text = (await ok("apps", "new", "--name", "shop", "--port", "6001")).out
        toml_part = text.split("pusherpy.toml:\n")[1].split("Laravel .env:")[0]
        env_part = text.split("Laravel .env:\n")[1].split("pusher-js:")[0]
        js_part = text.split("pusher-js:\n")[1]
        (tmp_path / "pusherpy.toml").write_text(toml_part)
        (tmp_path / ".env").write_text(env_part)
        from_toml = load_settings(config_file=tmp_path / "pusherpy.toml", environ={}).apps[0]
        from_env = load_settings(env_file=tmp_path / ".env", environ={}).apps[0]
        assert from_toml.name == "shop"
        assert (from_env.id, from_env.key, from_env.secret) == (from_toml.id, from_toml.key, from_toml.secret)
        assert "REVERB_PORT=6001" in env_part
        assert f"new Pusher('{from_toml.key}'" in js_part and "wsPort: 6001" in js_part
        assert from_toml.secret not in js_part
        assert made["key"] != from_toml.key  # each run makes new credentials

    async def test_appends_the_table_to_a_config_file(self, tmp_path: Path) -> None:
        config = tmp_path / "pusherpy.toml"
        config.write_text('port = 6001\n\n[[apps]]\nid = "1"\nkey = "one"\nsecret = "s1"\n')
        made = (await ok("apps", "new", "--name", "two", "--config", str(config), "--json")).json()
        apps = load_settings(config_file=config, environ={}).apps
        assert [(a.id, a.key, a.secret, a.name) for a in apps] == [
            ("1", "one", "s1", ""),
            (made["id"], made["key"], made["secret"], "two"),
        ]

    async def test_a_file_that_would_not_be_valid_toml_is_left_unchanged(self, tmp_path: Path) -> None:
        config = tmp_path / "pusherpy.toml"
        before = 'apps = "not a table"\n'
        config.write_text(before)
        ran = await pusherpy("apps", "new", "--config", str(config))
        assert ran.status == 2, ran
        assert "not valid TOML" in ran.err and "left unchanged" in ran.err
        assert config.read_text() == before
        tomllib.loads(before)


async def test_serve_check_reads_the_apps_and_names_a_bad_row(store_url: str) -> None:
    from pusherpy.server.apps_store import StoredApp, open_store

    await ok("apps", "migrate", "--store", store_url)
    app = await new_app(store_url)
    env = {"PUSHERPY_APPS_SOURCE": store_url}
    ran = await pusherpy("serve", "--check", "--port", "0", env=env)
    assert ran.status == 0, ran
    assert f"id={app.id} key={app.key}" in ran.out and app.secret not in ran.out
    store = open_store(store_url)
    try:
        await store.insert(StoredApp(id="9", key="bad", secret="s", settings='{"max_batch_size": 0}'))
    finally:
        await store.close()
    ran = await pusherpy("serve", "--check", "--port", "0", env=env)
    assert ran.status == 1, ran
    assert "pusherpy_apps id='9'" in ran.err and "max_batch_size" in ran.err
