"""The chat in a real browser: Debian's Chromium, headless, running the built React and classic pages.

Alice and Bob open the Team room, each in their own browser context (their own tab storage, their own pusher-js
socket). Every page records, as it happens, each version of the newest assistant message it renders and each
typing label it shows (a ``MutationObserver`` added before the page's own scripts run), so the test can check the
reply *grew* and never lost or repeated text, not just how it ended.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page

from examples.chat.backend.model import reply_for
from examples.chat.launcher import ChatStack
from pusherpy.server.state import STATE
from tests.example.conftest import StartChat
from tests.example.support import logged_in, stored_message

WAIT_MS = 10_000
WORD_DELAY = 0.12
"""Seconds per word of the built-in model: a reply takes ~5 s, long enough to watch it grow and join midway."""

RECORDER = """
window.__frames = [];
window.__typing = [];
const record = () => {
  const replies = document.querySelectorAll(".message.assistant");
  const last = replies[replies.length - 1];
  if (last) {
    const frame = {
      id: Number(last.dataset.messageId),
      status: last.dataset.status,
      text: last.querySelector(".content").textContent,
    };
    const previous = window.__frames[window.__frames.length - 1];
    if (!previous || previous.id !== frame.id || previous.status !== frame.status || previous.text !== frame.text) {
      window.__frames.push(frame);
    }
  }
  const label = document.getElementById("typing")?.textContent || "";
  if (label && window.__typing[window.__typing.length - 1] !== label) window.__typing.push(label);
};
const watched = { subtree: true, childList: true, characterData: true, attributes: true };
new MutationObserver(record).observe(document, watched);
"""

PAGES = [pytest.param("", id="react"), pytest.param("classic.html", id="classic")]


@dataclass
class ChatPage:
    """One user's tab: the JavaScript errors it raised, the ``(url, status)`` of each response, the hosts it used."""

    page: Page
    user: str
    errors: list[str] = field(default_factory=list)
    responses: list[tuple[str, int]] = field(default_factory=list)
    hosts: set[str | None] = field(default_factory=set)
    """Every host the page sent a request to or opened a WebSocket on."""

    async def frames(self) -> list[dict[str, Any]]:
        return list(await self.page.evaluate("window.__frames"))

    async def typing_labels(self) -> list[str]:
        return list(await self.page.evaluate("window.__typing"))

    async def typing_label(self) -> str:
        return str(await self.page.text_content("#typing") or "")

    async def wait_for_typing(self, label: str) -> None:
        await self.page.wait_for_function(
            "(label) => document.getElementById('typing').textContent === label", arg=label
        )

    async def reply_text(self, message_id: int) -> str:
        return str(await self.page.text_content(f'.message[data-message-id="{message_id}"] .content'))


async def open_as(browser: Browser, stack: ChatStack, path: str, user: str, ready: str = "#composer") -> ChatPage:
    """A new tab (its own context) on ``path``, logged in by clicking the user in the login picker."""
    context = await browser.new_context()
    context.set_default_timeout(WAIT_MS)
    await context.add_init_script(RECORDER)
    page = await context.new_page()
    opened = ChatPage(page, user)
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.on("response", lambda response: opened.responses.append((response.url, response.status)))
    page.on("request", lambda request: opened.hosts.add(urlsplit(request.url).hostname))
    page.on("websocket", lambda socket: opened.hosts.add(urlsplit(socket.url).hostname))
    await page.goto(stack.url + path)
    await page.click(f"[data-login={user}]")
    await page.wait_for_selector(ready)
    return opened


def message_loads(viewer: ChatPage) -> int:
    """How many times the page loaded a conversation's messages from the backend (its catch-up)."""
    return sum(1 for url, _ in viewer.responses if urlsplit(url).path.endswith("/messages"))


def assert_exact_growth(frames: list[dict[str, Any]], final: str) -> list[str]:
    """Every version shown is a prefix of the final text (no gap, no repeat); return the streaming versions."""
    for frame in frames:
        assert final.startswith(frame["text"]), f"{frame['text']!r} is not how {final!r} begins"
    texts = [frame["text"] for frame in frames if frame["status"] == "streaming"]
    assert texts == sorted(texts, key=len), "the text shrank while streaming"
    return texts


@pytest.mark.parametrize("path", PAGES)
async def test_two_users_chat_and_watch_the_reply_stream_while_a_third_joins_midway(
    start_chat: StartChat, frontend_dist: Path, browser: Browser, path: str
) -> None:
    stack = await start_chat(word_delay=WORD_DELAY, frontend_dist=frontend_dist)
    alice = await open_as(browser, stack, path, "alice")
    bob = await open_as(browser, stack, path, "bob")

    # Each sees the other's avatar among the people here.
    await alice.page.wait_for_selector('.presence [data-user-id="bob"]')
    await bob.page.wait_for_selector('.presence [data-user-id="alice"]')

    # Alice types: Bob sees it, and it fades 3 s after her last whisper.
    started = time.monotonic()
    await alice.page.locator("#composer").press_sequentially("hel")
    await bob.wait_for_typing("1 user typing…")
    await bob.wait_for_typing("")
    assert time.monotonic() - started >= 2.8
    await alice.page.fill("#composer", "hello bob")
    await alice.page.press("#composer", "Enter")

    # Both see her message, then the reply.
    for viewer in (alice, bob):
        await viewer.page.wait_for_selector('.message.user .content:text-is("hello bob")')
    await bob.page.wait_for_function("window.__frames.filter((f) => f.status === 'streaming' && f.text).length >= 3")
    frames_so_far = await bob.frames()
    assert frames_so_far[-1]["status"] == "streaming"
    message_id = frames_so_far[-1]["id"]

    # Carol opens the conversation while the reply is still streaming.
    carol = await open_as(browser, stack, path, "carol")

    final = reply_for([{"role": "user", "content": "hello bob"}])
    for viewer in (alice, bob, carol):
        await viewer.page.wait_for_selector(f'.message[data-message-id="{message_id}"][data-status="complete"]')
    stored = stored_message(stack.config.database, message_id)
    assert (stored["status"], stored["content"]) == ("complete", final)
    for viewer in (alice, bob, carol):
        assert await viewer.reply_text(message_id) == stored["content"], viewer.user
        frames = [f for f in await viewer.frames() if f["id"] == message_id]
        growing = assert_exact_growth(frames, stored["content"])
        if viewer is carol:
            assert frames[0]["status"] == "streaming" and frames[0]["text"], "Carol did not join mid-stream"
        else:
            assert len(set(growing)) >= 3, f"{viewer.user} saw the reply in {len(set(growing))} versions only"
        assert viewer.errors == []
        assert viewer.hosts == {"127.0.0.1"}, "the page reached beyond this machine"

    # The typing whisper reached Bob and never came back to Alice.
    assert await bob.typing_labels() == ["1 user typing…"]
    assert await alice.typing_labels() == []
    assert await alice.typing_label() == ""


@pytest.mark.parametrize("path", PAGES)
async def test_a_page_whose_socket_the_server_cuts_mid_stream_resumes_through_pusherpy_history(
    start_chat: StartChat, frontend_dist: Path, browser: Browser, path: str
) -> None:
    stack = await start_chat(word_delay=WORD_DELAY, frontend_dist=frontend_dist)
    alice = await open_as(browser, stack, path, "alice")
    bob = await open_as(browser, stack, path, "bob")
    reconnections: list[str] = []
    bob.page.on("websocket", lambda socket: reconnections.append(socket.url))
    authorizations: list[str] = []
    bob.page.on(
        "request",
        lambda request: authorizations.append(request.post_data or "") if "/broadcasting/auth" in request.url else None,
    )
    await bob.page.wait_for_selector('.presence [data-user-id="alice"]')
    await alice.page.fill("#composer", "tell me a story")
    await alice.page.press("#composer", "Enter")
    await bob.page.wait_for_function("window.__frames.filter((f) => f.status === 'streaming' && f.text).length >= 2")

    # pusherpy drops Bob's TCP connection (no close frame): pusher-js notices and reconnects by itself, after ~1 s.
    socket_id = await bob.page.evaluate("window.Echo.socketId()")
    [client] = [c for c in stack.pusher[STATE].clients if c.socket_id == socket_id]
    message_id = (await bob.frames())[-1]["id"]
    chunks_at_cut = len(stored_message(stack.config.database, message_id)["chunks"])
    client.transport.abort()
    await bob.page.wait_for_function(
        "(old) => window.Echo.socketId() && window.Echo.socketId() !== old && "
        "window.Echo.connector.pusher.connection.state === 'connected'",
        arg=socket_id,
    )
    assert len(stored_message(stack.config.database, message_id)["chunks"]) > chunks_at_cut, "nothing was missed"

    for viewer in (alice, bob):
        await viewer.page.wait_for_selector(f'.message[data-message-id="{message_id}"][data-status="complete"]')
    stored = stored_message(stack.config.database, message_id)
    assert stored["content"] == reply_for([{"role": "user", "content": "tell me a story"}])
    frames = [f for f in await bob.frames() if f["id"] == message_id]
    assert_exact_growth(frames, stored["content"])
    assert await bob.reply_text(message_id) == stored["content"]
    # What Bob missed came from pusherpy's history: the page resumed, and never asked the backend again.
    resumed = [body for body in authorizations if "private-conversation.1" in body and "resume_after=" in body]
    assert len(resumed) == 1, authorizations
    assert message_loads(bob) == 1, "the page reloaded from the backend instead of resuming"
    assert len(reconnections) == 1, "pusher-js did not reconnect by itself"
    assert bob.errors == [] and alice.errors == []


@pytest.mark.parametrize("path", PAGES)
async def test_a_page_away_longer_than_pusherpy_keeps_catches_up_from_the_backend_without_gaps_or_repeats(
    start_chat: StartChat, frontend_dist: Path, browser: Browser, path: str
) -> None:
    # pusherpy keeps 2 events per conversation: Bob misses more, so his resume fails and the page reloads.
    stack = await start_chat(word_delay=WORD_DELAY, frontend_dist=frontend_dist, history_size=2)
    alice = await open_as(browser, stack, path, "alice")
    bob = await open_as(browser, stack, path, "bob")
    await bob.page.wait_for_selector('.presence [data-user-id="alice"]')
    await alice.page.fill("#composer", "are you still there?")
    await alice.page.press("#composer", "Enter")
    await bob.page.wait_for_function("window.__frames.filter((f) => f.status === 'streaming' && f.text).length >= 2")

    # Bob's socket drops; the reply goes on without him (Alice sees four more versions, Bob none).
    await bob.page.evaluate("window.Echo.connector.pusher.disconnect()")
    offline = await bob.frames()
    seen = len(await alice.frames())
    await alice.page.wait_for_function("(seen) => window.__frames.length >= seen + 4", arg=seen)
    assert await bob.frames() == offline
    await bob.page.evaluate("window.Echo.connector.pusher.connect()")

    message_id = offline[-1]["id"]
    offline = [f for f in offline if f["id"] == message_id]
    for viewer in (alice, bob):
        await viewer.page.wait_for_selector(f'.message[data-message-id="{message_id}"][data-status="complete"]')
    stored = stored_message(stack.config.database, message_id)
    assert stored["content"] == reply_for([{"role": "user", "content": "are you still there?"}])
    frames = [f for f in await bob.frames() if f["id"] == message_id]
    assert_exact_growth(frames, stored["content"])
    assert await bob.reply_text(message_id) == stored["content"]
    # What Bob missed came back from the store in one step: the first version after the drop skips words.
    caught_up = frames[len(offline)]["text"]
    assert len(caught_up.split()) - len(offline[-1]["text"].split()) >= 4
    assert bob.errors == [] and alice.errors == []
    assert message_loads(bob) == 2, "the page did not reload after pusherpy:resume_failed"


@pytest.mark.parametrize("path", PAGES)
async def test_a_reply_the_model_gives_up_on_shows_the_failure_instead_of_streaming_forever(
    start_chat: StartChat, frontend_dist: Path, browser: Browser, path: str
) -> None:
    stack = await start_chat(word_delay=0.01, fail_after_words=3, frontend_dist=frontend_dist)
    alice = await open_as(browser, stack, path, "alice")
    await alice.page.fill("#composer", "try your best")
    await alice.page.press("#composer", "Enter")

    failed = alice.page.locator('.message.assistant[data-status="failed"]')
    await failed.wait_for()
    message_id = int(await failed.get_attribute("data-message-id") or 0)
    stored = stored_message(stack.config.database, message_id)
    assert stored["status"] == "failed"
    assert await failed.locator(".content").text_content() == stored["content"]
    assert await failed.locator(".error").text_content() == f"The reply failed: {stored['error']}"
    assert not await failed.locator(".dots").is_visible()
    assert alice.errors == []


@pytest.mark.parametrize("path", PAGES)
async def test_a_conversation_the_user_is_not_a_member_of_is_refused_on_the_page_not_swapped_for_another(
    start_chat: StartChat, frontend_dist: Path, browser: Browser, path: str
) -> None:
    stack = await start_chat(frontend_dist=frontend_dist)
    async with logged_in(stack, "alice") as alice:
        await alice.send(2, "a secret between Alice and Bob")
    carol = await open_as(browser, stack, f"{path}?conversation=2", "carol", ready=".refused")
    refused = carol.page.locator(".refused")

    assert await refused.text_content() == "You cannot open conversation 2: you are not a member of this conversation."
    assert await carol.page.text_content("header h1") == "Conversation 2"
    assert await carol.page.locator(".conversations a").all_text_contents() == ["Team room"]
    assert await carol.page.locator(".message").count() == 0
    assert not await carol.page.locator("#composer").is_visible()
    # the page asked for the history and the backend refused it
    assert [status for url, status in carol.responses if url.endswith("/api/conversations/2/messages")] == [403]
    # and pusherpy, through the backend's channel auth, refuses her the conversation's channel
    status = await carol.page.evaluate(
        """() => new Promise((resolve) =>
             window.Echo.private("conversation.2").error((error) => resolve(error.status)))"""
    )
    assert status == 403
    assert carol.errors == []
