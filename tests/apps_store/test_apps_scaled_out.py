"""Nodes sharing one Redis and one apps database: an app made, rotated or disabled with ``pusherpy apps`` is served,
relayed between nodes and withdrawn on every node, without a restart (bus messages signed with ``cluster_secret``)."""

from __future__ import annotations

import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path

from pusherpy.protocol.apps import AppConfig
from pusherpy.server.settings import Settings
from tests.apps_store.cli import new_app, ok
from tests.apps_store.server import REFRESH, served, until
from tests.helpers import connect, serve, trigger
from tests.scale_out.cluster import RedisServer


async def test_an_app_of_the_database_is_relayed_between_nodes_and_withdrawn_on_all(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    path = tmp_path / "apps.db"
    sqlite3.connect(path).close()
    store_url = f"sqlite:///{path}"
    await ok("apps", "migrate", "--store", store_url)
    settings = Settings(
        apps=(),
        uses_dev_app=False,
        apps_source=store_url,
        apps_refresh_seconds=REFRESH,
        redis_url=redis_server.url,
        cluster_secret="the-cluster-secret-of-this-test",
        node_heartbeat_seconds=0.5,
        node_ttl_seconds=3.0,
    )
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(serve(settings))
        two = await stack.enter_async_context(serve(settings))
        app = await new_app(store_url)
        await served(one, app)
        await served(two, app)
        here = await stack.enter_async_context(connect(one, app=app))
        there = await stack.enter_async_context(connect(two, app=app))
        for client in (here, there):
            assert (await client.subscribe("orders"))["event"].endswith("subscription_succeeded")
        assert (await trigger(two, "orders", "placed", {"n": 1}, app=app))[0] == 200
        assert (await here.expect("placed", channel="orders"))["data"] == {"n": 1}
        assert (await there.expect("placed", channel="orders"))["data"] == {"n": 1}

        secret = (await ok("apps", "rotate-secret", app.id, "--store", store_url, "--json")).json()["secret"]
        rotated = AppConfig(id=app.id, key=app.key, secret=secret)

        # Wait until node one signs with the new secret; the bus between the nodes never depended on it.
        async def new_secret_accepted() -> bool:
            return (await trigger(one, "orders", "placed", {"n": 2}, app=rotated))[0] == 200

        await until(new_secret_accepted, "node one reading the rotated secret")
        assert (await there.expect("placed", channel="orders"))["data"] == {"n": 2}

        await ok("apps", "disable", app.id, "--store", store_url)
        assert await here.expect_close() == 4003
        assert await there.expect_close() == 4003
