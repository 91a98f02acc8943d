"""The console in a real headless Chromium, watching real pusher-js clients: log in (a wrong password refused),
see connections, a presence join and a whisper appear in the log, send an event from the event creator and see
the clients receive it. Screenshots are saved in ``test-artifacts/console/``."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from pusherpy.server.settings import Settings
from tests.console.pusher_js import pusher_js_clients
from tests.helpers import make_app, make_settings, serve

PASSWORD = "console password for the browser test"
TIMEOUT_MS = 10_000


def settings() -> Settings:
    app = make_app(name="Chat", enable_client_events=True)
    return make_settings(app, console=True, console_password=PASSWORD)


def entries(page: Page, kind: str, *texts: str):  # type: ignore[no-untyped-def]
    locator = page.locator(f'#log .entry[data-kind="{kind}"]')
    for text in texts:
        locator = locator.filter(has_text=text)
    return locator


async def log_in(page: Page, url: str, password: str) -> None:
    await page.goto(f"{url}/console")
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def test_the_console_watches_pusher_js_clients_and_sends_them_an_event(
    browser: Browser, screenshots: Path
) -> None:
    async with serve(settings()) as server:
        page = await (await browser.new_context(viewport={"width": 1400, "height": 860})).new_page()
        page.set_default_timeout(TIMEOUT_MS)

        async with page.expect_response(lambda response: response.url.endswith("/console/login")) as refused:
            await log_in(page, server.http_url, "not the password")
        assert (await refused.value).status == 401
        await expect(page.get_by_role("alert")).to_have_text("Wrong password.")
        assert not await page.context.cookies()
        await page.screenshot(path=screenshots / "01-wrong-password.png")

        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.locator("#stream-state")).to_have_text("live")
        await expect(page.locator("#app")).to_have_value("4242")

        async with pusher_js_clients("127.0.0.1", server.port, server.app, ["alice", "bob"]) as clients:
            for socket_id in clients.socket_ids.values():
                await expect(entries(page, "connection_opened", socket_id)).to_have_count(1)
            await expect(page.locator('[data-stat="connections"]')).to_have_text("2")

            await clients.do({"do": "join", "client": "alice", "channel": "presence-room"}, "joined")
            await clients.do({"do": "join", "client": "bob", "channel": "presence-room"}, "joined")
            await expect(entries(page, "subscribed", "presence-room", "alice")).to_have_count(1)
            await expect(entries(page, "subscribed", "presence-room", "bob")).to_have_count(1)
            await expect(entries(page, "channel_occupied", "presence-room")).to_have_count(1)
            await expect(entries(page, "member_added", "presence-room", "bob")).to_have_count(1)
            await expect(page.locator('[data-stat="presence_members"]')).to_have_text("2")
            room = page.locator('#channels tr[data-channel="presence-room"]')
            await expect(room).to_contain_text("alice")
            await expect(room).to_contain_text("bob")

            whisper = {"do": "whisper", "client": "alice", "channel": "presence-room"}
            await clients.do({**whisper, "event": "client-typing", "data": {"typing": True}}, "whispered")
            await clients.expect(
                lambda line: line["type"] == "event" and line["client"] == "bob" and line["event"] == "client-typing",
                "bob receiving alice's whisper",
            )
            typing = entries(page, "client_event", "client-typing", clients.socket_ids["alice"])
            await expect(typing).to_have_count(1)
            await expect(typing).to_contain_text('{"typing":true}')
            await page.screenshot(path=screenshots / "02-presence-and-whisper.png")

            creator = page.locator("#creator")
            await creator.get_by_label("Channel").fill("presence-room")
            await creator.get_by_label("Event").fill("greeting")
            await creator.get_by_label("Data (JSON)").fill('{"text": "hello from the console"}')
            await creator.get_by_role("button", name="Send").click()
            await expect(page.locator("#creator-result")).to_have_text("sent {}")
            for user in ("alice", "bob"):
                received = await clients.expect(
                    lambda line, user=user: (
                        line["type"] == "event" and line["client"] == user and line["event"] == "greeting"
                    ),
                    f"{user} receiving the console's event",
                )
                assert received["data"] == {"text": "hello from the console"}
            await expect(entries(page, "api_event", "greeting", "presence-room")).to_have_count(1)
            await page.screenshot(path=screenshots / "03-event-sent.png", full_page=True)

            await room.get_by_role("button", name="presence-room").click()
            await expect(creator.get_by_label("Channel")).to_have_value("presence-room")
            await expect(page.locator("#text-filter")).to_have_value("presence-room")
            await expect(page.locator("#log .entry")).to_have_count(
                await page.locator("#log .entry", has_text="presence-room").count()
            )

            await page.locator("#text-filter").fill(clients.socket_ids["bob"])
            await expect(page.locator("#log .entry").first).to_be_visible()
            for text in await page.locator("#log .entry").all_inner_texts():
                assert clients.socket_ids["bob"] in text
            await page.locator("#text-filter").fill("")
            await page.locator("#kind-filter").select_option("member_added")
            await expect(page.locator("#log .entry")).to_have_count(
                await page.locator('#log .entry[data-kind="member_added"]').count()
            )
            await page.screenshot(path=screenshots / "04-filtered.png")

            await clients.do({"do": "disconnect", "client": "bob"}, "left")
            await page.locator("#kind-filter").select_option("")
            await expect(entries(page, "connection_closed", clients.socket_ids["bob"])).to_have_count(1)
            await expect(entries(page, "member_removed", "presence-room", "bob")).to_have_count(1)


async def test_a_bad_event_is_refused_with_the_api_s_message(browser: Browser) -> None:
    async with serve(settings()) as server:
        page = await browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await log_in(page, server.http_url, PASSWORD)
        creator = page.locator("#creator")
        await creator.get_by_label("Channel").fill("no spaces allowed")
        await creator.get_by_label("Event").fill("e")
        await creator.get_by_role("button", name="Send").click()
        await expect(page.locator("#creator-result")).to_contain_text("refused:")
        await creator.get_by_label("Channel").fill("ok")
        await creator.get_by_label("Data (JSON)").fill("{not json")
        await creator.get_by_role("button", name="Send").click()
        await expect(page.locator("#creator-result")).to_contain_text("data is not valid JSON")


async def test_scrolling_up_pauses_the_log_and_the_bottom_resumes_it(browser: Browser, screenshots: Path) -> None:
    async with serve(settings()) as server:
        context = await browser.new_context(viewport={"width": 1200, "height": 700}, color_scheme="dark")
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await log_in(page, server.http_url, PASSWORD)
        await expect(page.locator("#stream-state")).to_have_text("live")
        async with pusher_js_clients("127.0.0.1", server.port, server.app, [f"user{n}" for n in range(40)]):
            await expect(entries(page, "connection_opened")).to_have_count(40)
            log = page.locator("#log")
            await log.evaluate("el => { el.scrollTop = 0; }")
            await expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")
            await expect(page.locator("#resume")).to_be_visible()
            shown = await page.locator("#log .entry").count()
            async with pusher_js_clients("127.0.0.1", server.port, server.app, ["late"]) as late:
                await expect(page.locator("#resume")).to_have_text("1 new — resume")
                assert await page.locator("#log .entry").count() == shown
                await page.screenshot(path=screenshots / "05-paused-dark.png")
                await page.locator("#resume").click()
                await expect(entries(page, "connection_opened", late.socket_ids["late"])).to_have_count(1)
                await expect(page.locator("#pause")).to_have_attribute("aria-pressed", "false")
                at_bottom = await log.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight < 24")
                assert at_bottom


async def test_keyboard_shortcuts_and_copying_a_payload(browser: Browser) -> None:
    async with serve(settings()) as server:
        context = await browser.new_context()
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.http_url)
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await log_in(page, server.http_url, PASSWORD)
        await expect(page.locator("#stream-state")).to_have_text("live")
        creator = page.locator("#creator")
        await creator.get_by_label("Channel").fill("news")
        await creator.get_by_label("Event").fill("long")
        payload = {"text": "x" * 600}
        await creator.get_by_label("Data (JSON)").fill(json.dumps(payload))
        await creator.get_by_label("Data (JSON)").press("Tab")
        await page.keyboard.press("Enter")  # the Send button has the focus
        row = entries(page, "api_event", "long")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("size 611 B")
        await row.get_by_role("button", name="Copy payload").click()
        await expect(row.get_by_role("button", name="Copy payload")).to_have_text("copied")
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert len(copied) == 500 and copied.endswith("…") and copied.startswith('{"text":"xxx')

        await page.locator("#log").focus()
        await page.keyboard.press("p")
        await expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")
        await page.keyboard.press("p")
        await expect(page.locator("#pause")).to_have_attribute("aria-pressed", "false")
        await page.keyboard.press("/")
        await expect(page.locator("#text-filter")).to_be_focused()
        await page.keyboard.type("no such text")
        await expect(page.locator("#log .entry")).to_have_count(0)
        await page.keyboard.press("Escape")
        await expect(page.locator("#log .entry")).to_have_count(1)
