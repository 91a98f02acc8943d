"""The console is cluster-wide: in a real Chromium, the console of node 1 (one ``pusherpy serve`` process) shows
what a real pusher-js client does on node 2 (another process), both on one real ``redis-server``; its event
creator reaches that client. Screenshot: ``test-artifacts/console/06-cluster.png``."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.console.pusher_js import pusher_js_clients
from tests.console.test_console_browser import PASSWORD, TIMEOUT_MS, entries, log_in
from tests.helpers import connect, make_app
from tests.scale_out.cluster import HEARTBEAT_SECONDS, TTL_SECONDS, Cluster, RedisServer, WebhookReceiver

APP = make_app(name="Chat")


def config(redis_url: str) -> str:
    return f"""
redis_url = "{redis_url}"
redis_prefix = "console-{secrets.token_hex(4)}"
node_heartbeat_seconds = {HEARTBEAT_SECONDS}
node_ttl_seconds = {TTL_SECONDS}
shutdown_timeout = 2
console = true
console_password = "{PASSWORD}"

[[apps]]
id = "{APP.id}"
key = "{APP.key}"
secret = "{APP.secret}"
name = "{APP.name}"
"""


async def test_the_console_of_node_1_shows_a_pusher_js_client_on_node_2(
    browser: Browser, screenshots: Path, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    await redis.start()
    try:
        path = tmp_path / "cluster.toml"
        path.write_text(config(redis.url))
        cluster = Cluster(redis, WebhookReceiver(), "", path, tmp_path)
        async with cluster.stack:
            node1 = await cluster.start_node()
            node2 = await cluster.start_node()
            await cluster.wait_all_healthy()
            page = await (await browser.new_context(viewport={"width": 1400, "height": 860})).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            await log_in(page, node1.http_url, PASSWORD)
            await expect(page.locator("#stream-state")).to_have_text("live")

            # Node 2 forwards once it has heard that node 1 watches the app: wait for that (a deadline, no sleep).
            deadline = time.monotonic() + 10
            while not await entries(page, "connection_opened").count():
                assert time.monotonic() < deadline, "node 2's connections never reached node 1's console"
                async with connect(node2, app=APP):  # type: ignore[arg-type]
                    pass
                await page.wait_for_timeout(100)

            async with (
                pusher_js_clients("127.0.0.1", node1.port, APP, ["bob"]) as on_node1,
                pusher_js_clients("127.0.0.1", node2.port, APP, ["alice"]) as on_node2,
            ):
                alice = on_node2.socket_ids["alice"]
                bob = on_node1.socket_ids["bob"]
                await on_node2.do({"do": "join", "client": "alice", "channel": "presence-room"}, "joined")
                await on_node1.do({"do": "join", "client": "bob", "channel": "presence-room"}, "joined")
                alice_row = entries(page, "connection_opened", alice)
                bob_row = entries(page, "connection_opened", bob)
                await expect(alice_row).to_have_count(1)
                await expect(bob_row).to_have_count(1)
                alice_node = await alice_row.locator(".node").inner_text()
                bob_node = await bob_row.locator(".node").inner_text()
                assert alice_node.startswith("@") and bob_node.startswith("@") and alice_node != bob_node
                await expect(entries(page, "subscribed", "presence-room", "alice")).to_have_count(1)
                await expect(entries(page, "member_added", "presence-room", "alice")).to_have_count(1)
                await expect(page.locator('[data-stat="presence_members"]')).to_have_text("2")

                whisper = {"do": "whisper", "client": "alice", "channel": "presence-room"}
                await on_node2.do({**whisper, "event": "client-wave", "data": {"from": "node 2"}}, "whispered")
                await expect(entries(page, "client_event", "client-wave", alice)).to_have_count(1)

                creator = page.locator("#creator")
                await creator.get_by_label("Channel").fill("presence-room")
                await creator.get_by_label("Event").fill("from-node-1")
                await creator.get_by_label("Data (JSON)").fill('{"n": 1}')
                await creator.get_by_role("button", name="Send").click()
                received = await on_node2.expect(
                    lambda line: line["type"] == "event" and line["event"] == "from-node-1",
                    "alice (on node 2) receiving the event sent from node 1's console",
                )
                assert received["data"] == {"n": 1}
                await page.screenshot(path=screenshots / "06-cluster.png")
    finally:
        await redis.kill()
