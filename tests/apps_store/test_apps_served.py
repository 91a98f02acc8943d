"""A server reading its apps from PostgreSQL, MariaDB or SQLite: apps made, disabled, rotated or deleted with
``pusherpy apps`` take effect on a running server within ``apps_refresh_seconds``, sockets included."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from pusherpy.protocol import signing
from pusherpy.protocol.apps import AppConfig
from pusherpy.server.apps_store import StoredApp, open_store
from pusherpy.server.apps_store.store import TIMEOUT_SECONDS
from tests.apps_store.cli import new_app, ok, pusherpy
from tests.apps_store.server import REFRESH, first_message, served, serving, settings_for, until
from tests.compat.relay import relay_to
from tests.helpers import api_request, connect, serve, trigger


async def test_an_app_made_with_the_cli_is_served_without_a_restart(store_url: str) -> None:
    async with serving(store_url) as server:
        refused = await first_message(server, "not-yet")
        assert (refused["event"], refused["data"]) == ("pusher:error", {"code": 4001, "message": "no app has this key"})
        app = await new_app(store_url)
        await served(server, app)
        async with connect(server, app=app) as client:
            assert (await client.subscribe("private-orders"))["event"] == "pusher_internal:subscription_succeeded"
            status, _ = await trigger(server, "private-orders", "placed", {"id": 1}, app=app)
            assert status == 200
            assert (await client.expect("placed", channel="private-orders"))["data"] == {"id": 1}


async def test_disabling_an_app_closes_its_sockets_with_4003_and_refuses_it(store_url: str) -> None:
    async with serving(store_url) as server:
        app = await new_app(store_url)
        await served(server, app)
        async with connect(server, app=app) as client:
            await ok("apps", "disable", app.id, "--store", store_url)
            started = time.monotonic()
            assert await client.expect_close() == 4003
            assert time.monotonic() - started < 2 * REFRESH + 2.5  # a refresh, a read, a loaded CI machine
            error = await client.expect("pusher:error")
            assert error["data"]["code"] == 4003
        refused = await first_message(server, app.key)
        assert (refused["event"], refused["data"]["code"]) == ("pusher:error", 4003)
        status, body = await trigger(server, "orders", "placed", {}, app=app)
        assert (status, body) == (403, {"error": "this app is disabled"})
        await ok("apps", "enable", app.key, "--store", store_url)
        await served(server, app)


async def test_deleting_an_app_closes_its_sockets_with_4003(store_url: str) -> None:
    async with serving(store_url) as server:
        app, other = await new_app(store_url, "gone"), await new_app(store_url, "stays")
        await served(server, app)
        await served(server, other)
        async with connect(server, app=app) as client, connect(server, app=other) as bystander:
            await ok("apps", "delete", app.id, "--store", store_url)
            assert await client.expect_close() == 4003
            await bystander.send("pusher:ping")
            assert (await bystander.expect("pusher:pong"))["event"] == "pusher:pong"
        status, _ = await trigger(server, "orders", "placed", {}, app=app)
        assert status == 404


async def test_a_rotated_secret_refuses_old_signatures_on_the_api_and_on_open_sockets(store_url: str) -> None:
    async with serving(store_url) as server:
        app = await new_app(store_url)
        await served(server, app)
        async with connect(server, app=app) as client:
            rotated = (await ok("apps", "rotate-secret", app.id, "--store", store_url, "--json")).json()
            new = AppConfig(id=app.id, key=app.key, secret=rotated["secret"])

            async def old_refused() -> bool:
                return (await trigger(server, "orders", "placed", {}, app=app))[0] == 401

            await until(old_refused, "the old secret refused by the HTTP API")
            assert (await trigger(server, "orders", "placed", {}, app=new))[0] == 200
            # The socket opened before the rotation: its channel auth is now checked against the new secret.
            old_auth = await client.subscribe("private-a")
            assert (old_auth["event"], old_auth["data"]["code"]) == ("pusher:error", 4009), old_auth
            new_auth = signing.sign_channel(app.key, new.secret, client.socket_id, "private-b")
            assert (await client.subscribe("private-b", auth=new_auth))["event"].endswith("subscription_succeeded")
            status, _ = await api_request(server, "GET", f"/apps/{app.id}/channels", app=new)
            assert status == 200


async def test_settings_are_read_as_a_toml_apps_table_and_a_bad_row_is_skipped(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(store_url) as server:
        store = open_store(store_url)
        try:
            quiet = StoredApp(id="701", key="quiet", secret="s701", settings='{"enable_client_events": false}')
            broken = StoredApp(id="702", key="broken", secret="s702", settings='{"max_connections": "lots"}')
            await store.insert(quiet)
            await store.insert(broken)
        finally:
            await store.close()
        app = AppConfig(id="701", key="quiet", secret="s701")
        await served(server, app)
        async with connect(server, app=app) as client:
            await client.subscribe("private-room")
            await client.send("client-typing", {}, channel="private-room")
            error = await client.expect("pusher:error")
            assert "client events" in error["data"]["message"].lower()
        assert (await first_message(server, "broken"))["event"] == "pusher:error"
        assert any("702" in r.message for r in caplog.records if r.levelno >= logging.ERROR)


async def test_a_store_outage_keeps_the_last_apps_served(store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with serving(store_url) as server:
        app = await new_app(store_url)
        await served(server, app)
        store = open_store(store_url)
        driver = store._driver  # the test plays the administrator who renames the table away
        try:
            await driver.execute("ALTER TABLE pusherpy_apps RENAME TO pusherpy_apps_away", ())

            async def outage_seen() -> bool:
                return any("cannot read apps" in r.message for r in caplog.records)

            await until(outage_seen, "the outage logged")
            async with connect(server, app=app) as client:
                assert (await trigger(server, "orders", "placed", {"n": 1}, app=app))[0] == 200
                await driver.execute("ALTER TABLE pusherpy_apps_away RENAME TO pusherpy_apps", ())
                await ok("apps", "disable", app.id, "--store", store_url)  # read again: changes apply again
                assert await client.expect_close() == 4003
        finally:
            await store.close()
        logged = [r for r in caplog.records if "cannot read apps" in r.message]
        assert len(logged) == 1, "an outage is logged once, not at every refresh"


async def test_a_server_whose_store_cannot_be_read_does_not_start(store_url: str) -> None:
    ran = await pusherpy("serve", "--port", "0", env={"PUSHERPY_APPS_SOURCE": store_url})  # no table: not migrated
    assert ran.status == 1, ran
    assert "cannot read apps" in ran.err and "pusherpy_apps" in ran.err and "Traceback" not in ran.err


async def test_an_unreachable_store_at_start_is_said_without_the_password() -> None:
    env = {"PUSHERPY_APPS_SOURCE": "mysql://root:hunter2@127.0.0.1:1/apps"}
    ran = await pusherpy("serve", "--port", "0", env=env)
    assert ran.status == 1, ran
    assert "cannot connect" in ran.err and "hunter2" not in ran.err and "Traceback" not in ran.err


Outage = Callable[[], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def unreachable_while_held(
    store_url: str,
) -> AsyncIterator[tuple[str, Callable[[], AbstractAsyncContextManager[None]]]]:
    """The URL a server should read (through a TCP relay, or the SQLite file itself), and a context in which that
    store cannot be reached (connections cut and left unanswered, or the file moved away)."""
    if store_url.startswith("sqlite:"):
        path = Path(store_url.removeprefix("sqlite:///"))

        @asynccontextmanager
        async def moved() -> AsyncIterator[None]:
            path.rename(path.with_suffix(".away"))
            try:
                yield
            finally:
                path.with_suffix(".away").rename(path)

        yield store_url, moved
        return
    parts = urlsplit(store_url)
    assert parts.hostname is not None and parts.port is not None
    async with relay_to(parts.hostname, parts.port) as relay:
        userinfo = parts.netloc.rpartition("@")[0]
        relayed = urlunsplit(parts._replace(netloc=f"{userinfo}@127.0.0.1:{relay.port}"))
        yield relayed, relay.held


async def test_an_unreachable_store_keeps_the_last_apps_served_and_is_read_again_after(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await ok("apps", "migrate", "--store", store_url)
    async with unreachable_while_held(store_url) as (read_from, outage):
        async with serve(settings_for(read_from)) as server:
            app = await new_app(store_url)
            await served(server, app)
            async with outage():

                async def outage_seen() -> bool:
                    return any("cannot read apps" in r.message for r in caplog.records)

                await until(outage_seen, "the outage logged", timeout=3 * TIMEOUT_SECONDS)
                async with connect(server, app=app) as client:
                    assert (await client.subscribe("private-orders"))["event"].endswith("subscription_succeeded")
                    assert (await trigger(server, "private-orders", "placed", {"n": 1}, app=app))[0] == 200
                    assert (await client.expect("placed"))["data"] == {"n": 1}
            async with connect(server, app=app) as client:
                await ok("apps", "disable", app.id, "--store", store_url)
                assert await client.expect_close(timeout=3 * TIMEOUT_SECONDS) == 4003
    assert len([r for r in caplog.records if "cannot read apps" in r.message]) == 1, "logged once, not each refresh"
    assert any("apps read again" in r.message for r in caplog.records)


async def test_ops_commands_find_an_app_of_a_config_files_apps_source(store_url: str, tmp_path: Path) -> None:
    async with serving(store_url) as server:
        app, disabled = await new_app(store_url, "shop"), await new_app(store_url, "old")
        await ok("apps", "disable", disabled.id, "--store", store_url)
        await served(server, app)
        config = tmp_path / "pusherpy.toml"
        config.write_text(f'apps_source = "{store_url}"\nport = {server.port}\n')
        async with connect(server, app=app) as client:
            await client.subscribe("orders")
            await ok("trigger", "--config", str(config), "orders", "placed", '{"n": 1}')  # the one enabled app
            assert (await client.expect("placed", channel="orders"))["data"] == {"n": 1}
        ran = await pusherpy("trigger", "--config", str(config), "--app", disabled.key, "orders", "placed", "{}")
        assert ran.status == 2 and "no app with that id or key" in ran.err, ran
