"""Per-app limits on names, presence members and client events (PROTOCOL.md §1.5, §1.6, "Limits in one place")."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ServerFactory
from tests.helpers import PusherClient, RunningServer, connect, make_app, trigger


async def next_is_marker(server: RunningServer, client: PusherClient, channel: str) -> None:
    await trigger(server, channel, "marker", {})
    message = await client.receive()
    assert (message["event"], message.get("channel")) == ("marker", channel), message


def assert_channel_error(reply: dict[str, Any], channel: str, mentions: str) -> None:
    assert reply["event"] == "pusher:error", reply
    assert reply["channel"] == channel
    assert mentions in reply["data"]["message"]


class TestChannelNames:
    async def test_channel_name_of_200_characters_is_accepted(self, server: RunningServer) -> None:
        channel = "private-" + "x" * 192
        async with connect(server) as client:
            reply = await client.subscribe(channel)
        assert reply["event"] == "pusher_internal:subscription_succeeded"

    async def test_channel_name_of_201_characters_gets_an_error(self, server: RunningServer) -> None:
        channel = "x" * 201
        async with connect(server) as client:
            reply = await client.subscribe(channel)
        assert_channel_error(reply, channel, "200")


class TestPresenceMemberSize:
    async def test_user_id_of_128_characters_is_accepted(self, server: RunningServer) -> None:
        async with connect(server) as client:
            reply = await client.subscribe("presence-room", user_id="u" * 128)
        assert reply["data"]["presence"]["ids"] == ["u" * 128]

    async def test_user_id_longer_than_128_characters_gets_an_error(self, server: RunningServer) -> None:
        async with connect(server) as client:
            reply = await client.subscribe("presence-room", user_id="u" * 129)
        assert_channel_error(reply, "presence-room", "128")

    async def test_user_info_larger_than_1_kb_gets_an_error_and_adds_no_member(self, server: RunningServer) -> None:
        async with connect(server) as ann, connect(server) as bob:
            await ann.subscribe("presence-room", user_id="ann")
            reply = await bob.subscribe("presence-room", user_id="bob", user_info={"bio": "x" * 1024})
            assert_channel_error(reply, "presence-room", "1024")
            await next_is_marker(server, ann, "presence-room")

    async def test_user_info_of_1_kb_is_accepted(self, server: RunningServer) -> None:
        info = {"bio": "x" * (1024 - len(json.dumps({"bio": ""}, separators=(",", ":"))))}
        async with connect(server) as client:
            reply = await client.subscribe("presence-room", user_id="ann", user_info=info)
        assert reply["data"]["presence"]["hash"] == {"ann": info}

    async def test_member_size_limit_follows_the_app_setting(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(max_presence_member_size_bytes=4096))
        async with connect(server) as client:
            reply = await client.subscribe("presence-room", user_id="ann", user_info={"bio": "x" * 3000})
        assert reply["event"] == "pusher_internal:subscription_succeeded"


class TestClientEventSize:
    async def test_client_event_over_the_payload_limit_gets_4301_and_is_not_delivered(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(max_event_payload_kb=1))
        async with connect(server) as ann, connect(server) as bob:
            await ann.subscribe("private-chat")
            await bob.subscribe("private-chat")
            await ann.send("client-big", "x" * 1025, channel="private-chat")
            error = await ann.expect("pusher:error")
            assert error["data"]["code"] == 4301
            await next_is_marker(server, bob, "private-chat")
            await ann.send("client-fits", "x" * 1024, channel="private-chat")
            assert (await bob.receive())["event"] == "client-fits"

    async def test_client_event_name_longer_than_200_characters_gets_4301(self, server: RunningServer) -> None:
        async with connect(server) as ann, connect(server) as bob:
            await ann.subscribe("private-chat")
            await bob.subscribe("private-chat")
            await ann.send("client-" + "x" * 194, {}, channel="private-chat")
            error = await ann.expect("pusher:error")
            assert error["data"]["code"] == 4301
            await next_is_marker(server, bob, "private-chat")


class TestConnectionQuotaPerApp:
    async def test_a_full_app_does_not_refuse_another_apps_connections(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(max_connections=1), make_app(id="2", key="other-key"))
        other_app = server.settings.apps[1]
        async with connect(server), connect(server, app=other_app) as first, connect(server, app=other_app) as second:
            assert first.socket_id != second.socket_id


class TestChannelsPerConnection:
    async def test_one_channel_over_the_limit_is_refused_and_the_socket_keeps_the_others(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(max_channels_per_connection=2))
        async with connect(server) as client, connect(server) as other:
            for channel in ("one", "two"):
                assert (await client.subscribe(channel))["event"] == "pusher_internal:subscription_succeeded"
            reply = await client.subscribe("three")
            assert_channel_error(reply, "three", "at most 2 channels")
            refusal = await client.expect("pusher:subscription_error", channel="three")
            assert refusal["data"]["type"] == "LimitReached"
            assert (await client.subscribe("two"))["event"] == "pusher_internal:subscription_succeeded"
            await next_is_marker(server, client, "one")
            await client.send("pusher:unsubscribe", {"channel": "one"})
            assert (await client.subscribe("three"))["event"] == "pusher_internal:subscription_succeeded"
            assert (await other.subscribe("three"))["event"] == "pusher_internal:subscription_succeeded"

    async def test_by_default_a_socket_holds_at_most_100_channels(self, server: RunningServer) -> None:
        async with connect(server) as client:
            for index in range(100):
                await client.send("pusher:subscribe", {"channel": f"many-{index}"})
            for index in range(100):
                await client.expect("pusher_internal:subscription_succeeded", channel=f"many-{index}")
            reply = await client.subscribe("one-too-many")
        assert_channel_error(reply, "one-too-many", "at most 100 channels")
