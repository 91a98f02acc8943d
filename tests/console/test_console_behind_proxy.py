"""The console behind the real nginx and Caddy of docs/proxy.md's recipes (TLS, pusherpy under ``/ws``), in a real
Chromium: login sets a ``Secure`` cookie scoped to ``/ws/console``, the page's relative links work under the
prefix, the log streams through the proxy unbuffered, and the event creator's POST passes the origin check although
nginx forwards the host name without its port."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.compat.conftest import running_server
from tests.console.test_console_browser import PASSWORD, TIMEOUT_MS, entries
from tests.helpers import make_app
from tests.proxy.caddy import running_caddy
from tests.proxy.nginx import running_nginx
from tests.server.tls_certs import ServerPair, TestCa

Proxy = Callable[[Path, int, ServerPair], AbstractContextManager[int]]
PROXIES: dict[str, Proxy] = {"nginx": running_nginx, "caddy": running_caddy}
APP = make_app(name="Chat")


def pusherpy_toml() -> str:
    return f"""
path_prefix = "/ws"
trusted_proxies = ["127.0.0.1"]
console = true
console_password = {json.dumps(PASSWORD)}

[[apps]]
id = "{APP.id}"
key = "{APP.key}"
secret = "{APP.secret}"
name = "{APP.name}"
"""


@pytest.mark.parametrize("proxy", sorted(PROXIES))
async def test_the_console_works_behind_the_documented_proxies(
    proxy: str, browser: Browser, screenshots: Path, tmp_path: Path
) -> None:
    ca = await TestCa.make(tmp_path / "ca")
    pair = await ca.issue(2)
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with (
        running_server(server_dir, pusherpy_toml()) as server,
        PROXIES[proxy](tmp_path / proxy, server.port, pair) as port,
    ):
        context = await browser.new_context(ignore_https_errors=True)
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await page.goto(f"https://127.0.0.1:{port}/ws/console")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.locator("#stream-state")).to_have_text("live")
        assert page.url == f"https://127.0.0.1:{port}/ws/console#app={APP.id}"
        (cookie,) = await context.cookies()
        assert cookie["name"] == "pusherpy_console" and cookie["path"] == "/ws/console"
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        creator = page.locator("#creator")
        await creator.get_by_label("Channel").fill("news")
        await creator.get_by_label("Event").fill("through-the-proxy")
        await creator.get_by_role("button", name="Send").click()
        await expect(page.locator("#creator-result")).to_have_text("sent {}")
        await expect(entries(page, "api_event", "through-the-proxy")).to_have_count(1)
        await page.screenshot(path=screenshots / f"07-behind-{proxy}.png")
        await context.close()
