"""Client events (whispers): relayed to the channel's other subscribers, with Pusher's rules (PROTOCOL.md §1.6)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ServerFactory
from tests.helpers import PusherClient, RunningServer, connect, make_app, trigger


async def next_is_marker(server: RunningServer, client: PusherClient, channel: str) -> None:
    """Assert nothing else is queued for ``client`` on ``channel``: a fresh trigger is the next thing it gets."""
    await trigger(server, channel, "marker", {})
    message = await client.receive()
    assert (message["event"], message.get("channel")) == ("marker", channel), message


async def expect_error(client: PusherClient, code: int) -> dict[str, object]:
    error = await client.expect("pusher:error")
    assert error["data"]["code"] == code, error
    assert error["data"]["message"]
    return error


async def test_client_event_reaches_the_others_and_is_not_echoed(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe("private-chat")
        await bob.subscribe("private-chat")
        await ann.send("client-typing", {"typing": True}, channel="private-chat")
        whisper = await bob.expect("client-typing", channel="private-chat")
        assert whisper["data"] == {"typing": True}
        assert "user_id" not in whisper
        await next_is_marker(server, ann, "private-chat")


async def test_client_event_data_sent_as_a_string_arrives_as_that_string(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe("private-chat")
        await bob.subscribe("private-chat")
        await ann.ws.send_str(json.dumps({"event": "client-note", "channel": "private-chat", "data": "plain words"}))
        whisper = await bob.expect("client-note", channel="private-chat")
    assert whisper["data"] == "plain words"


async def test_client_event_on_presence_carries_the_senders_user_id(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe("presence-room", user_id="ann")
        await bob.subscribe("presence-room", user_id="bob")
        await ann.send("client-typing", {"typing": True}, channel="presence-room")
        whisper = await bob.expect("client-typing", channel="presence-room")
    assert whisper["user_id"] == "ann"
    assert whisper["data"] == {"typing": True}


@pytest.mark.parametrize("channel", ["news", "private-encrypted-secrets"])
async def test_client_event_on_a_public_or_encrypted_channel_gets_4301_and_is_not_delivered(
    server: RunningServer, channel: str
) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe(channel)
        await bob.subscribe(channel)
        await ann.send("client-typing", {}, channel=channel)
        error = await expect_error(ann, 4301)
        assert error["channel"] == channel
        await next_is_marker(server, bob, channel)


async def test_client_event_on_a_channel_not_subscribed_gets_4009(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await bob.subscribe("private-chat")
        await ann.send("client-typing", {}, channel="private-chat")
        await expect_error(ann, 4009)
        await next_is_marker(server, bob, "private-chat")


async def test_client_event_when_the_app_disables_them_gets_4301(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(enable_client_events=False))
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe("private-chat")
        await bob.subscribe("private-chat")
        await ann.send("client-typing", {}, channel="private-chat")
        await expect_error(ann, 4301)
        await next_is_marker(server, bob, "private-chat")


async def test_eleventh_client_event_in_one_second_gets_4301_and_is_not_delivered(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe("private-chat")
        await bob.subscribe("private-chat")
        for number in range(11):
            await ann.send("client-tick", {"n": number}, channel="private-chat")
        error = await expect_error(ann, 4301)
        assert "rate" in str(error["data"])
        received = [(await bob.expect("client-tick"))["data"]["n"] for _ in range(10)]
        assert received == list(range(10))
        await next_is_marker(server, bob, "private-chat")


async def test_connection_stays_usable_after_a_rejected_client_event(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe("news")
        await ann.subscribe("private-chat")
        await bob.subscribe("private-chat")
        await ann.send("client-typing", {}, channel="news")
        await expect_error(ann, 4301)
        await ann.send("client-typing", {"ok": 1}, channel="private-chat")
        whisper = await bob.expect("client-typing", channel="private-chat")
    assert whisper["data"] == {"ok": 1}
