"""pusherpy's publisher library (``pusherpy.publisher``) with the real, unmodified clients (issue 3).

- an aiohttp backend built on ``broadcasting_routes`` + ``ChannelRules`` + a bearer-token user resolver authorizes
  real pusher-js and laravel-echo 2 clients (private, presence, encrypted channels, user sign-in);
- pusher-js decrypts what ``Pusher.trigger`` encrypted on a ``private-encrypted-`` channel;
- a 2,000-token ``AsyncPusher.stream`` reply reaches pusher-js complete, in order and coalesced;
- the npm ``pusher`` SDK's webhook validator accepts the webhooks ``pusherpy serve`` sends.

Reading a Node scenario's output blocks, so the tests wait for it in a thread while the event loop keeps answering
the auth requests the scenario makes to the backend.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pusherpy import AsyncPusher, Pusher
from pusherpy.publisher import ChannelRules, bearer_token, broadcasting_routes
from pusherpy.publisher.stream import DEFAULT_INTERVAL
from tests.compat.conftest import DEADLINE, MAIN_APP, CompatApp, CompatServer, NodeSession, running_server
from tests.helpers import running_web_app

ADA: dict[str, Any] = {"id": "1", "name": "Ada", "token": "ada-token"}
BOB: dict[str, Any] = {"id": "2", "name": "Bob", "token": "bob-token"}
EVE: dict[str, Any] = {"id": "3", "name": "Eve", "token": "eve-token"}
SHARED = f"c{uuid.uuid4().hex[:10]}"
"""A conversation Ada and Bob are in and Eve is not (unique per run: the compat server is shared)."""
MEMBERSHIPS = {ADA["id"]: {SHARED}, BOB["id"]: {SHARED}, EVE["id"]: set()}
USERS_BY_TOKEN = {user["token"]: user for user in (ADA, BOB, EVE)}


def publisher_for(server: CompatServer, app: CompatApp = MAIN_APP) -> Pusher:
    """Our blocking publisher pointed at the server under test, with the app's encryption master key."""
    return Pusher(
        app.id,
        app.key,
        app.secret,
        host=server.host,
        port=server.port,
        ssl=False,
        timeout=DEADLINE,
        encryption_master_key_base64=app.master_key_base64,
    )


def async_publisher_for(server: CompatServer, app: CompatApp = MAIN_APP) -> AsyncPusher:
    return AsyncPusher(
        app.id,
        app.key,
        app.secret,
        host=server.host,
        port=server.port,
        ssl=False,
        timeout=DEADLINE,
        encryption_master_key_base64=app.master_key_base64,
    )


def conversation_rules() -> ChannelRules:
    """The app's ``routes/channels.php``: members of a conversation may listen to it and appear in its presence."""
    rules = ChannelRules()

    @rules.rule("conversation.{conversation_id}")
    def conversation(user: dict[str, Any], conversation_id: str) -> dict[str, Any] | bool:
        if conversation_id not in MEMBERSHIPS[user["id"]]:
            return False
        return {"id": user["id"], "name": user["name"]}

    return rules


def current_user(request: web.Request) -> dict[str, Any] | None:
    """The user a bearer token belongs to (a JWT check in a real app), or None when not logged in."""
    token = bearer_token(request.headers.get("Authorization"))
    return None if token is None else USERS_BY_TOKEN.get(token)


@dataclass(frozen=True)
class Backend:
    """The app backend under test, on 127.0.0.1 and a free port: only our auth routes."""

    url: str

    def endpoints(self) -> dict[str, str]:
        return {
            "channelEndpoint": f"{self.url}/broadcasting/auth",
            "userEndpoint": f"{self.url}/broadcasting/user-auth",
        }


@pytest.fixture
async def backend(compat_server: CompatServer) -> AsyncIterator[Backend]:
    app = web.Application()
    app.add_routes(
        broadcasting_routes(
            publisher_for(compat_server),
            conversation_rules(),
            current_user,
            user_data=lambda user: {"id": user["id"], "user_info": {"name": user["name"]}},
        )
    )
    async with running_web_app(app) as url:
        yield Backend(url)


@contextmanager
def session(server: CompatServer, script: str, *args: Any, app: CompatApp = MAIN_APP) -> Iterator[NodeSession]:
    """A long-running scenario, always ended (stdin closed, process reaped) when the block exits."""
    running = server.node_session(script, *args, app=app)
    try:
        yield running
    finally:
        running.close()


async def expect(running: NodeSession, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """``NodeSession.expect`` in a thread, so the loop keeps serving the backend the scenario is calling."""
    return await asyncio.to_thread(running.expect, predicate, what)


def of_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message["type"] == kind


class TestEncryptedChannels:
    async def test_pusher_js_decrypts_what_our_publisher_encrypted_with_our_shared_secret(
        self, compat_server: CompatServer, backend: Backend
    ) -> None:
        channel = f"private-encrypted-conversation.{SHARED}"
        secret = {"launch_code": "0000", "note": 'ünïcødé ✓ "quoted" \\ </script>', "n": [1, 2.5, None]}
        spec = {
            "endpoints": backend.endpoints(),
            "clients": [{"label": "ada", "token": ADA["token"], "channels": [channel]}],
        }
        with session(compat_server, "our_backend_listener.mjs", spec) as listener:
            ready = await expect(listener, of_type("ready"), "ada subscribed through our auth endpoint")
            assert ready["clients"]["ada"]["channels"][channel] == {"subscribed": True}

            await asyncio.to_thread(publisher_for(compat_server).trigger, channel, "secret", secret)
            received = await expect(listener, of_type("event"), "the encrypted event, decrypted by pusher-js")

        assert received == {"type": "event", "client": "ada", "channel": channel, "event": "secret", "data": secret}

    async def test_our_auth_endpoint_refuses_an_encrypted_channel_the_rule_refuses(
        self, compat_server: CompatServer, backend: Backend
    ) -> None:
        channel = f"private-encrypted-conversation.{SHARED}"
        spec = {
            "endpoints": backend.endpoints(),
            "clients": [{"label": "eve", "token": EVE["token"], "channels": [channel]}],
        }
        with session(compat_server, "our_backend_listener.mjs", spec) as listener:
            ready = await expect(listener, of_type("ready"), "eve's subscription outcome")

        outcome = ready["clients"]["eve"]["channels"][channel]
        assert outcome["subscribed"] is False
        assert outcome["error"]["status"] == 403


class TestEchoWithOurBackend:
    @pytest.fixture
    async def echo(self, compat_server: CompatServer, backend: Backend) -> AsyncIterator[tuple[NodeSession, Any]]:
        spec = {
            "endpoints": backend.endpoints(),
            "tokens": {"ada": ADA["token"], "bob": BOB["token"], "eve": EVE["token"]},
            "conversation": SHARED,
        }
        with session(compat_server, "echo_our_backend.mjs", spec) as running:
            ready = await expect(running, of_type("ready"), "every Echo subscription outcome and Ada's sign-in")
            yield running, ready["results"]

    async def test_private_channel_subscribes_for_a_member(self, echo: tuple[NodeSession, Any]) -> None:
        _, results = echo
        assert results["ada_private"] == {"subscribed": True}

    async def test_private_channel_gets_echo_error_403_for_a_user_the_rule_refuses(
        self, echo: tuple[NodeSession, Any]
    ) -> None:
        _, results = echo
        assert results["eve_private"]["subscribed"] is False
        assert results["eve_private"]["error"]["type"] == "AuthError"
        assert results["eve_private"]["error"]["status"] == 403

    async def test_private_channel_gets_echo_error_401_without_a_token(self, echo: tuple[NodeSession, Any]) -> None:
        _, results = echo
        assert results["anon_private"]["subscribed"] is False
        assert results["anon_private"]["error"]["status"] == 401

    async def test_presence_here_lists_the_member_dicts_our_rule_returned(self, echo: tuple[NodeSession, Any]) -> None:
        _, results = echo
        ada = {"id": ADA["id"], "name": ADA["name"]}
        bob = {"id": BOB["id"], "name": BOB["name"]}
        assert results["ada_here"] == [ada]
        assert sorted(results["bob_here"], key=lambda member: member["id"]) == [ada, bob]
        assert results["ada_joining"] == bob

    async def test_presence_gets_echo_error_403_for_a_user_the_rule_refuses(
        self, echo: tuple[NodeSession, Any]
    ) -> None:
        _, results = echo
        assert results["eve_presence"]["subscribed"] is False
        assert results["eve_presence"]["error"]["status"] == 403

    async def test_sign_in_through_our_user_auth_then_send_to_user_reaches_the_user(
        self, compat_server: CompatServer, echo: tuple[NodeSession, Any]
    ) -> None:
        running, results = echo
        assert results["ada_user_data"] == {"id": ADA["id"], "user_info": {"name": ADA["name"]}}

        notice = {"text": "you have mail", "unread": 3}
        await asyncio.to_thread(publisher_for(compat_server).send_to_user, ADA["id"], "notice", notice)
        received = await expect(running, of_type("user_event"), "send_to_user's event at Ada")

        assert received == {"type": "user_event", "client": "ada", "event": "notice", "data": notice}

    async def test_our_publisher_reaches_echo_listen_on_the_authorized_private_channel(
        self, compat_server: CompatServer, echo: tuple[NodeSession, Any]
    ) -> None:
        running, _ = echo
        message = {"body": "hello Ada", "from": BOB["id"]}
        channel = f"private-conversation.{SHARED}"
        await asyncio.to_thread(publisher_for(compat_server).trigger, channel, "message", message)
        received = await expect(running, of_type("event"), "the message at Ada's listen('.message')")

        assert received == {"type": "event", "client": "ada", "channel": channel, "event": "message", "data": message}


def llm_tokens(count: int) -> list[str]:
    """Tokens as a model emits them: words, punctuation, newlines, quotes, backslashes and non-ASCII, each unique."""
    vocabulary = [" The", " reply", ",", " naïve", " café", ' "quoted"', "\n", " 🚀", " back\\slash", "\t", " </p>"]
    return [f"{vocabulary[index % len(vocabulary)]}{index}" for index in range(count)]


class TestStreamedReply:
    @pytest.mark.parametrize("interval", [DEFAULT_INTERVAL, 0.0], ids=["default-interval", "back-to-back"])
    async def test_a_2000_token_reply_arrives_complete_in_order_as_few_events_with_a_final_one(
        self, compat_server: CompatServer, backend: Backend, interval: float
    ) -> None:
        channel = f"private-conversation.{SHARED}"
        tokens = llm_tokens(2000)
        spec = {
            "endpoints": backend.endpoints(),
            "clients": [{"label": "ada", "token": ADA["token"], "channels": [channel]}],
        }
        with session(compat_server, "our_backend_listener.mjs", spec) as listener:
            await expect(listener, of_type("ready"), "ada subscribed to the reply channel")
            async with (
                async_publisher_for(compat_server) as publisher,
                publisher.stream(channel, "reply.chunk", done_event="reply.done", interval=interval) as stream,
            ):
                for token in tokens:
                    await stream.send(token)
                    # A model's tokens come from I/O: let the loop run between them, at full speed.
                    await asyncio.sleep(0)
            await expect(listener, lambda m: m.get("event") == "reply.done", "the reply's final event")
            events = [m for m in listener.messages if m["type"] == "event" and m["channel"] == channel]

        data = [event["data"] for event in events]
        sequences = [item["sequence"] for item in data]
        assert sequences == list(range(stream.events_sent)), "events arrived out of order, or one is missing"
        rebuilt = "".join(item["chunk"] for item in sorted(data, key=lambda item: item["sequence"]))
        assert rebuilt == "".join(tokens)
        assert len(events) <= len(tokens) // 20, f"{len(events)} events for {len(tokens)} tokens"
        assert [item["final"] for item in data] == [False] * (len(data) - 1) + [True]
        assert [event["event"] for event in events] == ["reply.chunk"] * (len(events) - 1) + ["reply.done"]
        assert {item["messageId"] for item in data} == {stream.message_id}
        assert all("error" not in item for item in data)


WEBHOOK_APP = CompatApp(
    id="7003",
    key="hook-key",
    secret="hook-secret",
    master_key_base64=MAIN_APP.master_key_base64,
    settings={"enable_client_events": True},
)


def webhook_server_toml(receiver_url: str) -> str:
    """One app whose webhooks go to the receiver; vacated/removed unheld and batches flushed at once, for speed."""
    return (
        "webhook_delay_seconds = 0.0\n"
        "webhook_batch_interval = 0.01\n\n"
        + WEBHOOK_APP.toml()
        + f'\n[[apps.webhooks]]\nurl = "{receiver_url}/pusher/webhooks"\n'
    )


def carries(name: str, channel: str) -> Callable[[dict[str, Any]], bool]:
    """Matches a webhook the npm validator accepted whose events include ``name`` for ``channel``."""

    def predicate(message: dict[str, Any]) -> bool:
        return any(e["name"] == name and e["channel"] == channel for e in message.get("events") or [])

    return predicate


class TestWebhooksWithTheNpmValidator:
    def test_the_npm_sdk_accepts_our_webhooks_and_refuses_forged_ones(self, node_modules: Path, tmp_path: Path) -> None:
        # The receiver starts before the server that posts to it; it never connects to that server, so its
        # COMPAT_PORT is a placeholder.
        placeholder = CompatServer(host="127.0.0.1", port=0, log_path=tmp_path / "unused.log")
        suffix = uuid.uuid4().hex[:8]
        public, presence = f"news-{suffix}", f"presence-room-{suffix}"
        expected = [
            ("channel_occupied", public, None),
            ("channel_occupied", presence, None),
            ("member_added", presence, "1"),
            ("member_removed", presence, "1"),
            ("channel_vacated", public, None),
            ("channel_vacated", presence, None),
        ]
        with session(placeholder, "webhook_receiver.mjs", app=WEBHOOK_APP) as receiver:
            url = receiver.expect(of_type("listening"), "the receiver's URL")["url"]
            with running_server(tmp_path, webhook_server_toml(url)) as server:
                spec = {"clients": [{"label": "ada", "user": "1", "channels": [public, presence]}]}
                with session(server, "hold.mjs", spec, app=WEBHOOK_APP) as holder:
                    holder.expect(of_type("ready"), "ada subscribed to both channels")
                # hold.mjs disconnected ada: the channels are vacated and she leaves the room.
                for name, channel, _user_id in expected:
                    receiver.expect(carries(name, channel), f"a valid {name} webhook for {channel}")
            webhooks = [m for m in receiver.messages if m["type"] == "webhook"]

        for webhook in webhooks:
            assert webhook["path"] == "/pusher/webhooks"
            assert webhook["contentType"] == "application/json"
            assert webhook["valid"] is True, webhook
            assert webhook["forgedValid"] is False, webhook
            assert webhook["wrongSecretValid"] is False, webhook
        seen = [(e["name"], e["channel"], e.get("user_id")) for w in webhooks for e in w["events"]]
        assert sorted(seen, key=repr) == sorted(expected, key=repr)
