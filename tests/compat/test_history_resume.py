"""Exact resume, rewind and ``pusherpy:resume_failed`` with the real, unmodified pusher-js 8 and Laravel Echo 2.

The page side is the documented helper (``examples/chat/frontend/src/shared/resume.js``, shown in
``docs/history.md``): it reads serials from pusher-js's raw frames and passes the last one as ``resume_after`` to
the backend's auth endpoint, here pusherpy.publisher's real ``broadcasting_routes``, which signs it. Clients reach
the server through a TCP relay (``relay.py``) that the test cuts while the publisher keeps publishing; pusher-js
reconnects by itself.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pusherpy import AsyncPusher
from pusherpy.publisher import ChannelRules, bearer_token, broadcasting_routes
from tests.compat.conftest import DEADLINE, MAIN_APP, CompatServer, NodeSession, running_server
from tests.compat.relay import Relay, relay_to
from tests.compat.test_publisher_with_real_clients import Backend, expect, publisher_for, session
from tests.helpers import running_web_app

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "examples/chat/frontend/src/shared/resume.js"
TOKEN = "ada-token"
HISTORY = """
[[apps.history]]
channels = "private-rewind.*"
rewind = 3

[[apps.history]]
channels = "private-small.*"
size = 3

[[apps.history]]
channels = "private-conversation.*"
size = 1000
"""


@pytest.fixture(scope="module")
def history_server(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatServer]:
    """The main compat app, with history kept on three channel patterns."""
    directory = tmp_path_factory.mktemp("history-server")
    with running_server(directory, MAIN_APP.toml() + HISTORY) as server:
        yield server


def rules() -> ChannelRules:
    """Ada may listen to every channel these tests use, except ``forbidden.*``."""
    rules = ChannelRules()
    for pattern in ("conversation.{id}", "rewind.{id}", "small.{id}"):
        rules.rule(pattern)(lambda user, **params: True)
    rules.rule("forbidden.{id}")(lambda user, **params: False)
    return rules


@pytest.fixture
async def backend(history_server: CompatServer) -> AsyncIterator[Backend]:
    app = web.Application()
    users = {TOKEN: {"id": "1", "name": "Ada"}}
    app.add_routes(
        broadcasting_routes(
            publisher_for(history_server),
            rules(),
            lambda request: users.get(bearer_token(request.headers.get("Authorization")) or ""),
        )
    )
    async with running_web_app(app) as url:
        yield Backend(url)


@pytest.fixture
async def relay(history_server: CompatServer) -> AsyncIterator[Relay]:
    async with relay_to(history_server.host, history_server.port) as running:
        yield running


@pytest.fixture
async def publisher(history_server: CompatServer) -> AsyncIterator[AsyncPusher]:
    app = MAIN_APP
    async with AsyncPusher(
        app.id, app.key, app.secret, host=history_server.host, port=history_server.port, ssl=False, timeout=DEADLINE
    ) as pusher:
        yield pusher


def channel(prefix: str) -> str:
    return f"private-{prefix}.{uuid.uuid4().hex[:10]}"


def spec(backend: Backend, relay: Relay, *clients: dict[str, Any]) -> dict[str, Any]:
    return {"endpoints": backend.endpoints(), "token": TOKEN, "port": relay.port, "clients": list(clients)}


def subscribed(label: str, count: int = 1) -> Any:
    return lambda m: m["type"] == "subscribed" and m["client"] == label and m["count"] == count


def received(running: NodeSession, label: str) -> list[Any]:
    return [m["data"] for m in running.messages if m["type"] == "event" and m["client"] == label]


async def count_reached(running: NodeSession, label: str, count: int) -> None:
    """Wait until ``label`` got ``count`` channel events (replayed or live)."""
    await expect(
        running,
        lambda m: m["type"] == "event" and m["client"] == label and len(received(running, label)) >= count,
        f"{count} events at {label}",
    )


LARAVEL_EVENT = "App\\Events\\MessageCreated"
"""What Laravel's ``broadcast(new MessageCreated)`` publishes; Echo's ``listen('MessageCreated')`` binds it."""


def event_name(number: int, *, laravel: bool) -> str:
    return LARAVEL_EVENT if laravel and number % 2 == 0 else "message"


async def publish(
    publisher: AsyncPusher, channel: str, numbers: range, every: float = 0.0, *, laravel: bool = False
) -> list[float]:
    """Publish ``{"n": n}`` for each number, in order (even ones as Laravel's event when ``laravel``); return when
    each was accepted."""
    accepted = []
    for number in numbers:
        await publisher.trigger(channel, event_name(number, laravel=laravel), {"n": number})
        accepted.append(time.monotonic())
        if every:
            await asyncio.sleep(every)
    return accepted


def numbers(events: list[Any]) -> list[Any]:
    return [event["n"] if isinstance(event, dict) and "n" in event else event for event in events]


@pytest.mark.parametrize("kind", ["pusher", "echo"])
async def test_a_cut_connection_resumes_with_every_event_exactly_once_in_order(
    history_server: CompatServer, backend: Backend, relay: Relay, publisher: AsyncPusher, kind: str
) -> None:
    name = channel("conversation")
    client = {"label": "ada", "kind": kind, "resume": True, "channel": name, "listen": [".message", "MessageCreated"]}
    with session(history_server, "history_resume.mjs", spec(backend, relay, client)) as running:
        first = await expect(running, subscribed("ada"), "the first subscription")
        assert first["resuming"] is False
        # The publisher keeps publishing, 25 ms apart, through the cut and the reconnection.
        flowing = asyncio.create_task(publish(publisher, name, range(1, 61), every=0.025, laravel=True))
        await count_reached(running, "ada", 5)
        async with relay.held():
            cut_at = time.monotonic()
            await expect(running, lambda m: m["type"] == "state" and m["current"] != "connected", "the drop")
            await asyncio.sleep(0.3)  # the client stays away while events are published
            released_at = time.monotonic()
        second = await expect(running, subscribed("ada", 2), "pusher-js's own resubscription")
        accepted = await asyncio.wait_for(flowing, 2 * DEADLINE)
        await count_reached(running, "ada", 60)

    assert second["resuming"] is True, "the second authorization did not carry resume_after"
    assert any(cut_at < at < released_at for at in accepted), "nothing was published while the client was away"
    assert numbers(received(running, "ada")) == list(range(1, 61))
    # Replayed events come under their original names: Echo's listen('MessageCreated') got the even ones.
    names = [m["event"] for m in running.messages if m["type"] == "event"]
    if kind == "echo":
        assert names == [".message" if n % 2 else "MessageCreated" for n in range(1, 61)]
    else:
        assert names == [event_name(n, laravel=True) for n in range(1, 61)]


async def test_rewind_delivers_exactly_the_last_n_events_before_live_ones(
    history_server: CompatServer, backend: Backend, relay: Relay, publisher: AsyncPusher
) -> None:
    name = channel("rewind")
    await publish(publisher, name, range(1, 6))
    client = {"label": "ada", "kind": "pusher", "resume": True, "channel": name}
    with session(history_server, "history_resume.mjs", spec(backend, relay, client)) as running:
        await expect(running, subscribed("ada"), "the subscription")
        await count_reached(running, "ada", 3)
        await publish(publisher, name, range(6, 8))
        await count_reached(running, "ada", 5)

    assert numbers(received(running, "ada")) == [3, 4, 5, 6, 7]


async def test_a_position_older_than_the_history_gets_resume_failed_trimmed_then_live_events(
    history_server: CompatServer, backend: Backend, relay: Relay, publisher: AsyncPusher
) -> None:
    name = channel("small")  # size = 3
    client = {"label": "ada", "kind": "echo", "resume": True, "channel": name}
    with session(history_server, "history_resume.mjs", spec(backend, relay, client)) as running:
        await expect(running, subscribed("ada"), "the first subscription")
        reply = await publisher.trigger(name, "message", {"n": 1})
        await count_reached(running, "ada", 1)
        async with relay.held():
            await expect(running, lambda m: m["type"] == "state" and m["current"] != "connected", "the drop")
            await publish(publisher, name, range(2, 8))
        await expect(running, subscribed("ada", 2), "pusher-js's own resubscription")
        failed = await expect(running, lambda m: m.get("event") == "pusherpy:resume_failed", "pusherpy:resume_failed")
        await publish(publisher, name, range(8, 9))
        await count_reached(running, "ada", 3)

    first_serial = reply["serials"][name]
    assert failed["data"] == {"after": first_serial, "position": first_serial + 6, "reason": "trimmed"}
    assert numbers(received(running, "ada")) == [1, failed["data"], 8]


async def test_plain_pusher_js_without_the_helper_ignores_the_serials(
    history_server: CompatServer, backend: Backend, relay: Relay, publisher: AsyncPusher
) -> None:
    name = channel("conversation")
    client = {"label": "plain", "kind": "pusher", "resume": False, "channel": name}
    payload = {"n": 1, "text": 'ünïcødé "serial": 5 }', "nested": {"serial": None}}
    with session(history_server, "history_resume.mjs", spec(backend, relay, client)) as running:
        await expect(running, subscribed("plain"), "the subscription")
        await publisher.trigger(name, "message", payload)
        await publisher.trigger(name, "message", {"n": 2})
        await count_reached(running, "plain", 2)

    assert received(running, "plain") == [payload, {"n": 2}]
    assert not [m for m in running.messages if m["type"] == "subscription_error"]


@pytest.mark.parametrize("kind", ["pusher", "echo"])
async def test_a_refusal_through_the_helper_reaches_the_app_with_its_status_as_without_it(
    history_server: CompatServer, backend: Backend, relay: Relay, kind: str
) -> None:
    client = {"label": "ada", "kind": kind, "resume": True, "channel": channel("forbidden")}
    with session(history_server, "history_resume.mjs", spec(backend, relay, client)) as running:
        refused = await expect(running, lambda m: m["type"] == "subscription_error", "the refusal")

    assert refused["error"]["type"] == "AuthError"
    assert refused["error"]["status"] == 403


def test_the_docs_show_the_helper_the_tests_and_the_example_use() -> None:
    page = (ROOT / "docs/history.md").read_text()
    start = page.index("```js\n// pusherpy exact resume") + len("```js\n")
    shown = page[start : page.index("```", start)]
    assert shown == HELPER.read_text()
