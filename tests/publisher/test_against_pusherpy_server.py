"""Both clients drive every HTTP API endpoint of a real pusherpy server, checked by a real WebSocket subscriber.

The auth responses come from our ``authorize_channel`` / ``authenticate_user`` and are sent over the socket
exactly as pusher-js sends them, so the server's verification is the judge.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from nacl.secret import SecretBox

from pusherpy.publisher import (
    AsyncPusher,
    AuthenticationError,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    Pusher,
)
from tests.helpers import PusherClient, RunningServer, connect

from .conftest import MASTER_KEY_B64, EitherClient


def clients_for(server: RunningServer, **options: Any) -> tuple[Pusher, AsyncPusher]:
    app = server.app
    arguments: dict[str, Any] = {"host": server.host, "port": server.port, "scheme": "http", **options}
    return Pusher(app.id, app.key, app.secret, **arguments), AsyncPusher(app.id, app.key, app.secret, **arguments)


@pytest.fixture(params=["sync", "async"])
async def live(request: pytest.FixtureRequest, server: RunningServer) -> AsyncIterator[EitherClient]:
    """A client of the real server; each test runs with the blocking and with the asyncio client."""
    sync, asynchronous = clients_for(server, encryption_master_key_base64=MASTER_KEY_B64)
    with sync:
        async with asynchronous:
            yield EitherClient(request.param, sync if request.param == "sync" else asynchronous)


async def subscribe_with(client: PusherClient, channel: str, auth: Mapping[str, Any]) -> dict[str, Any]:
    """Send ``pusher:subscribe`` with an auth endpoint's answer, as pusher-js does."""
    await client.send("pusher:subscribe", {"channel": channel, **auth})
    return await client.expect_reply_for(channel)


async def test_trigger_reaches_a_subscriber_except_the_excluded_socket(
    live: EitherClient, server: RunningServer
) -> None:
    async with connect(server) as alice, connect(server) as bob:
        for client in (alice, bob):
            reply = await client.subscribe("news")
            assert reply["event"] == "pusher_internal:subscription_succeeded"
        result = await live.call("trigger", ["news", "other"], "headline", {"title": "hi"}, socket_id=bob.socket_id)
        assert result == {}
        message = await alice.expect("headline", channel="news")
        assert message["data"] == {"title": "hi"}
        await bob.expect_nothing(0.2)


async def test_trigger_with_info_returns_counts(live: EitherClient, server: RunningServer) -> None:
    async with connect(server) as alice:
        await alice.subscribe("news")
        result = await live.call("trigger", "news", "e", "d", info=["subscription_count"])
        assert result == {"channels": {"news": {"subscription_count": 1}}}


async def test_private_channel_with_our_auth_is_accepted(live: EitherClient, server: RunningServer) -> None:
    async with connect(server) as alice:
        reply = await subscribe_with(
            alice, "private-orders", live.client.authorize_channel(alice.socket_id, "private-orders")
        )
        assert reply["event"] == "pusher_internal:subscription_succeeded"
        await live.call("trigger", "private-orders", "shipped", "raw text")
        assert (await alice.expect("shipped"))["data"] == "raw text"


async def test_encrypted_event_decrypts_with_the_shared_secret_pusher_js_receives(
    live: EitherClient, server: RunningServer
) -> None:
    channel = "private-encrypted-vault"
    async with connect(server) as alice:
        auth = live.client.authorize_channel(alice.socket_id, channel)
        assert (await subscribe_with(alice, channel, {"auth": auth["auth"]}))["event"].endswith("succeeded")
        await live.call("trigger", channel, "secret", {"code": 1234})
        payload = (await alice.expect("secret"))["data"]
        box = SecretBox(base64.b64decode(auth["shared_secret"]))
        plain = box.decrypt(base64.b64decode(payload["ciphertext"]), base64.b64decode(payload["nonce"]))
        assert json.loads(plain) == {"code": 1234}


async def test_trigger_batch_delivers_each_event(live: EitherClient, server: RunningServer) -> None:
    async with connect(server) as alice:
        await alice.subscribe("a")
        await alice.subscribe("b")
        result = await live.call(
            "trigger_batch",
            [
                {"channel": "a", "name": "one", "data": {"n": 1}},
                {"channel": "b", "name": "two", "data": "2", "info": "subscription_count"},
            ],
        )
        assert result == {"batch": [{}, {"subscription_count": 1}]}
        assert (await alice.expect("one"))["data"] == {"n": 1}
        assert (await alice.expect("two"))["data"] == 2


async def test_channel_queries_and_presence_users(live: EitherClient, server: RunningServer) -> None:
    async with connect(server) as alice, connect(server) as bob:
        for client, user_id in ((alice, "u1"), (bob, "u2")):
            member = {"user_id": user_id, "user_info": {"name": user_id.upper()}}
            auth = live.client.authorize_channel(client.socket_id, "presence-room", member)
            assert (await subscribe_with(client, "presence-room", auth))["event"].endswith("succeeded")
        await alice.subscribe("news")

        everything = await live.call("channels_info")
        assert set(everything["channels"]) == {"presence-room", "news"}
        presence = await live.call("channels_info", prefix="presence-", attributes=["user_count"])
        assert presence == {"channels": {"presence-room": {"user_count": 2}}}
        assert await live.call("channel_info", "presence-room", ["user_count"]) == {"occupied": True, "user_count": 2}
        assert await live.call("channel_info", "news", ["subscription_count"]) == {
            "occupied": True,
            "subscription_count": 1,
        }
        assert await live.call("channel_info", "empty") == {"occupied": False}
        users = await live.call("users_info", "presence-room")
        assert sorted(user["id"] for user in users["users"]) == ["u1", "u2"]


async def test_send_to_user_reaches_a_signed_in_connection(live: EitherClient, server: RunningServer) -> None:
    async with connect(server) as alice:
        signin = live.client.authenticate_user(alice.socket_id, {"id": "user-7", "user_info": {"name": "Ada"}})
        await alice.send("pusher:signin", dict(signin))
        await alice.expect("pusher:signin_success")
        assert (await alice.subscribe("#server-to-user-user-7"))["event"].endswith("succeeded")
        await live.call("send_to_user", "user-7", "notice", {"unread": 3})
        message = await alice.expect("notice")
        assert message["data"] == {"unread": 3}


async def test_terminate_user_connections_closes_signed_in_sockets(live: EitherClient, server: RunningServer) -> None:
    async with connect(server) as alice:
        await alice.send("pusher:signin", dict(live.client.authenticate_user(alice.socket_id, {"id": "user-9"})))
        await alice.expect("pusher:signin_success")
        assert await live.call("terminate_user_connections", "user-9") == {}
        assert await alice.expect_close() is not None


async def test_server_errors_become_typed_exceptions(server: RunningServer) -> None:
    app = server.app
    common: dict[str, Any] = {"host": server.host, "port": server.port, "scheme": "http"}
    with Pusher(app.id, app.key, "wrong-secret", **common) as wrong:
        with pytest.raises(AuthenticationError) as caught:
            await asyncio.to_thread(wrong.trigger, "c", "e", "d")
        assert caught.value.status == 401
    async with AsyncPusher("999", app.key, app.secret, **common) as unknown:
        with pytest.raises(NotFound, match="unknown app"):
            await unknown.channels_info()
    async with AsyncPusher(app.id, app.key, app.secret, max_data_size=None, **common) as pusher:
        with pytest.raises(PayloadTooLarge):
            await pusher.trigger("c", "e", "x" * 20_000)
        with pytest.raises(BadRequest, match="user_count"):
            await pusher.channel_info("news", ["user_count"])


async def test_streamed_reply_is_rebuilt_by_a_subscriber(server: RunningServer) -> None:
    reply = [f" token{i}" for i in range(500)]
    _, pusher = clients_for(server)
    async with connect(server) as alice, pusher:
        await alice.subscribe("private-chat")
        async with pusher.stream("private-chat", "reply", message_id="m1") as stream:
            for token in reply:
                await stream.send(token)
                await asyncio.sleep(0)
        chunks: list[str] = []
        while True:
            data = (await alice.expect("reply"))["data"]
            assert data["sequence"] == len(chunks)
            chunks.append(data["chunk"])
            if data["final"]:
                break
    assert "".join(chunks) == "".join(reply)
    assert len(chunks) < len(reply) / 10
