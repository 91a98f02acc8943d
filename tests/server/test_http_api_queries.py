"""Querying and managing through the signed HTTP API: channels, one channel, presence users, connections and
terminate_connections (PROTOCOL.md §2), with our own signer and with the official pusher-http-python SDK, which
also signs ``body_md5`` on its GETs and calls terminate_connections without the ``/apps/{id}`` prefix."""

from __future__ import annotations

import asyncio

import pusher
import pytest

from tests.helpers import PusherClient, RunningServer, api_request, connect, trigger


def official_sdk(server: RunningServer) -> pusher.Pusher:
    app = server.app
    return pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret, ssl=False, host=server.host, port=server.port)


async def signed_in(client: PusherClient, user_id: str) -> None:
    await client.sign_in(user_id)
    await client.expect("pusher:signin_success")


class TestChannels:
    async def test_lists_only_occupied_channels_with_no_attributes_by_default(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("news")
            await client.subscribe("private-chat")
            await client.subscribe("presence-room")
            await client.subscribe("gone")
            await client.send("pusher:unsubscribe", {"channel": "gone"})
            await client.send("pusher:ping")
            await client.expect("pusher:pong")
            status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels")
        assert status == 200
        assert reply == {"channels": {"news": {}, "private-chat": {}, "presence-room": {}}}

    async def test_no_channels_gives_an_empty_map(self, server: RunningServer) -> None:
        status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels")
        assert (status, reply) == (200, {"channels": {}})

    async def test_filter_by_prefix_keeps_matching_channels(self, server: RunningServer) -> None:
        async with connect(server) as client:
            for channel in ("news", "private-a", "private-b", "presence-room"):
                await client.subscribe(channel)
            status, reply = await api_request(
                server, "GET", f"/apps/{server.app.id}/channels", params={"filter_by_prefix": "private-"}
            )
        assert (status, reply) == (200, {"channels": {"private-a": {}, "private-b": {}}})

    async def test_user_count_with_a_presence_prefix_counts_distinct_users(self, server: RunningServer) -> None:
        async with connect(server) as one, connect(server) as two, connect(server) as three:
            await one.subscribe("presence-a", user_id="alice")
            await two.subscribe("presence-a", user_id="alice")
            await three.subscribe("presence-a", user_id="bob")
            await three.subscribe("presence-b", user_id="bob")
            status, reply = await api_request(
                server,
                "GET",
                f"/apps/{server.app.id}/channels",
                params={"filter_by_prefix": "presence-", "info": "user_count"},
            )
        assert status == 200
        assert reply == {"channels": {"presence-a": {"user_count": 2}, "presence-b": {"user_count": 1}}}

    @pytest.mark.parametrize("prefix", [None, "private-", "pres"])
    async def test_user_count_without_a_presence_prefix_gets_400(
        self, server: RunningServer, prefix: str | None
    ) -> None:
        params = {"info": "user_count"}
        if prefix is not None:
            params["filter_by_prefix"] = prefix
        status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels", params=params)
        assert status == 400
        assert "presence-" in reply["error"]

    async def test_official_sdk_channels_info_signs_body_md5_on_a_get_and_is_accepted(
        self, server: RunningServer
    ) -> None:
        async with connect(server) as client:
            await client.subscribe("presence-room", user_id="alice")
            reply = await asyncio.to_thread(official_sdk(server).channels_info, "presence-", ["user_count"])
        assert reply == {"channels": {"presence-room": {"user_count": 1}}}


class TestChannel:
    async def test_empty_channel_is_not_occupied(self, server: RunningServer) -> None:
        status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels/news")
        assert (status, reply) == (200, {"occupied": False})

    async def test_subscribed_channel_is_occupied_with_its_subscription_count(self, server: RunningServer) -> None:
        async with connect(server) as one, connect(server) as two:
            await one.subscribe("news")
            await two.subscribe("news")
            status, reply = await api_request(
                server, "GET", f"/apps/{server.app.id}/channels/news", params={"info": "subscription_count"}
            )
        assert (status, reply) == (200, {"occupied": True, "subscription_count": 2})

    async def test_presence_channel_reports_users_and_connections(self, server: RunningServer) -> None:
        async with connect(server) as one, connect(server) as two:
            await one.subscribe("presence-room", user_id="alice")
            await two.subscribe("presence-room", user_id="alice")
            status, reply = await api_request(
                server,
                "GET",
                f"/apps/{server.app.id}/channels/presence-room",
                params={"info": "user_count,subscription_count"},
            )
        assert (status, reply) == (200, {"occupied": True, "user_count": 1, "subscription_count": 2})

    async def test_channel_is_no_longer_occupied_once_its_last_subscriber_unsubscribes(
        self, server: RunningServer
    ) -> None:
        async with connect(server) as client:
            await client.subscribe("news")
            await client.send("pusher:unsubscribe", {"channel": "news"})
            await client.send("pusher:ping")  # handled in order: the pong means the unsubscribe is done
            await client.expect("pusher:pong")
            status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels/news")
        assert (status, reply) == (200, {"occupied": False})

    async def test_cache_channel_returns_the_last_event_and_its_ttl(self, server: RunningServer) -> None:
        await trigger(server, "cache-prices", "price", {"eur": 1})
        await trigger(server, "cache-prices", "price", {"eur": 2})
        status, reply = await api_request(
            server, "GET", f"/apps/{server.app.id}/channels/cache-prices", params={"info": "cache"}
        )
        assert status == 200
        assert reply["occupied"] is False
        assert reply["cache"]["data"] == '{"eur": 2}'
        assert 1790 <= reply["cache"]["ttl"] <= 1800

    async def test_cache_channel_with_nothing_cached_has_no_cache_entry(self, server: RunningServer) -> None:
        status, reply = await api_request(
            server, "GET", f"/apps/{server.app.id}/channels/cache-empty", params={"info": "cache"}
        )
        assert (status, reply) == (200, {"occupied": False})

    @pytest.mark.parametrize(
        ("channel", "attribute"),
        [("news", "user_count"), ("private-chat", "user_count"), ("news", "cache"), ("presence-room", "cache")],
    )
    async def test_attribute_that_does_not_apply_to_the_channel_gets_400(
        self, server: RunningServer, channel: str, attribute: str
    ) -> None:
        status, reply = await api_request(
            server, "GET", f"/apps/{server.app.id}/channels/{channel}", params={"info": attribute}
        )
        assert status == 400
        assert attribute in reply["error"]

    async def test_invalid_channel_name_in_the_path_gets_400(self, server: RunningServer) -> None:
        status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels/{'c' * 201}")
        assert status == 400
        assert "error" in reply

    async def test_official_sdk_channel_info(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("presence-room", user_id="alice")
            reply = await asyncio.to_thread(
                official_sdk(server).channel_info, "presence-room", ["user_count", "subscription_count"]
            )
        assert reply == {"occupied": True, "user_count": 1, "subscription_count": 1}


class TestUsers:
    async def test_lists_each_presence_member_once(self, server: RunningServer) -> None:
        async with connect(server) as one, connect(server) as two, connect(server) as three:
            await one.subscribe("presence-room", user_id="alice")
            await two.subscribe("presence-room", user_id="alice")
            await three.subscribe("presence-room", user_id="bob")
            status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels/presence-room/users")
        assert status == 200
        assert sorted(reply["users"], key=lambda user: user["id"]) == [{"id": "alice"}, {"id": "bob"}]

    async def test_empty_presence_channel_has_no_users(self, server: RunningServer) -> None:
        status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels/presence-empty/users")
        assert (status, reply) == (200, {"users": []})

    @pytest.mark.parametrize("channel", ["news", "private-chat", "private-encrypted-x"])
    async def test_non_presence_channel_gets_400(self, server: RunningServer, channel: str) -> None:
        status, reply = await api_request(server, "GET", f"/apps/{server.app.id}/channels/{channel}/users")
        assert status == 400
        assert "presence" in reply["error"]

    async def test_official_sdk_users_info(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("presence-room", user_id="alice")
            reply = await asyncio.to_thread(official_sdk(server).users_info, "presence-room")
        assert reply == {"users": [{"id": "alice"}]}


class TestConnections:
    async def test_counts_open_connections_subscribed_or_not(self, server: RunningServer) -> None:
        path = f"/apps/{server.app.id}/connections"
        assert await api_request(server, "GET", path) == (200, {"connections": 0})
        async with connect(server) as one, connect(server):
            await one.subscribe("news")
            assert await api_request(server, "GET", path) == (200, {"connections": 2})


class TestTerminateConnections:
    async def test_closes_every_signed_in_connection_of_the_user_and_nobody_elses(self, server: RunningServer) -> None:
        async with (
            connect(server) as tab_one,
            connect(server) as tab_two,
            connect(server) as presence_only,
            connect(server) as other_user,
        ):
            await signed_in(tab_one, "alice")
            await signed_in(tab_two, "alice")
            await presence_only.subscribe("presence-room", user_id="alice")
            await signed_in(other_user, "bob")
            status, reply = await api_request(
                server, "POST", f"/apps/{server.app.id}/users/alice/terminate_connections", body={}
            )
            assert (status, reply) == (200, {})
            assert await tab_one.expect_close() == 4009
            assert await tab_two.expect_close() == 4009
            for untouched in (presence_only, other_user):
                await untouched.send("pusher:ping")
                await untouched.expect("pusher:pong")

    async def test_unknown_user_is_a_no_op(self, server: RunningServer) -> None:
        status, reply = await api_request(
            server, "POST", f"/apps/{server.app.id}/users/nobody/terminate_connections", body={}
        )
        assert (status, reply) == (200, {})

    async def test_official_sdk_calls_the_unprefixed_path_and_it_works(self, server: RunningServer) -> None:
        async with connect(server) as alice, connect(server) as bob:
            await signed_in(alice, "alice")
            await signed_in(bob, "bob")
            reply = await asyncio.to_thread(official_sdk(server).terminate_user_connections, "alice")
            assert reply == {}
            assert await alice.expect_close() == 4009
            await bob.send("pusher:ping")
            await bob.expect("pusher:pong")
