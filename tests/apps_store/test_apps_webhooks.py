"""Webhooks of an app kept in a database: its ``[[apps.webhooks]]`` from the row's settings, signed with the secret
the server read last (a rotation changes the signature of the next batch)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from aiohttp import web

from pusherpy.protocol import signing
from pusherpy.protocol.apps import AppConfig
from pusherpy.server.apps_store import StoredApp, open_store
from tests.apps_store.cli import ok
from tests.apps_store.server import served, serving, until
from tests.helpers import DEADLINE, connect, post_endpoint, trigger


async def test_webhooks_come_from_the_row_and_are_signed_with_the_rotated_secret(tmp_path: Path) -> None:
    path = tmp_path / "apps.db"
    sqlite3.connect(path).close()
    store_url = f"sqlite:///{path}"
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await received.put((request.headers["X-Pusher-Signature"], await request.read()))
        return web.Response()

    async with post_endpoint("/hooks", receive) as url, serving(store_url) as server:
        hooks = {"webhooks": [{"url": url, "event_types": ["channel_occupied"]}]}
        store = open_store(store_url)
        try:
            await store.insert(StoredApp(id="801", key="hooked", secret="first-secret", settings=json.dumps(hooks)))
        finally:
            await store.close()
        app = AppConfig(id="801", key="hooked", secret="first-secret")
        await served(server, app)
        async with connect(server, app=app) as client:
            await client.subscribe("orders")
            signature, body = await asyncio.wait_for(received.get(), DEADLINE)
            assert signature == signing.hmac_sha256_hex("first-secret", body)
            assert json.loads(body)["events"][0]["channel"] == "orders"

            secret = (await ok("apps", "rotate-secret", "801", "--store", store_url, "--json")).json()["secret"]
            rotated = AppConfig(id="801", key="hooked", secret=secret)

            async def rotation_read() -> bool:
                return (await trigger(server, "nobody", "e", {}, app=rotated))[0] == 200

            await until(rotation_read, "the rotated secret read")
            await client.subscribe("invoices")
            signature, body = await asyncio.wait_for(received.get(), DEADLINE)
            assert json.loads(body)["events"][0]["channel"] == "invoices"
            assert signature == signing.hmac_sha256_hex(secret, body)
