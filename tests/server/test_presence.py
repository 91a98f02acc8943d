"""Presence channels: the member list, and member_added/member_removed per user, not per socket (PROTOCOL.md §1.4)."""

from __future__ import annotations

from pusherpy.protocol import signing
from tests.conftest import ServerFactory
from tests.helpers import PusherClient, RunningServer, api_request, connect, make_app, trigger

ROOM = "presence-room"


async def next_is_trigger(server: RunningServer, client: PusherClient) -> None:
    """Assert that nothing is queued for ``client`` on ROOM: a fresh trigger is the next thing it receives."""
    await trigger(server, ROOM, "marker", {"m": 1})
    message = await client.receive()
    assert (message["event"], message.get("channel")) == ("marker", ROOM), message


async def test_subscription_succeeded_lists_every_member_with_ids_hash_and_count(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe(ROOM, user_id="ann", user_info={"name": "Ann"})
        reply = await bob.subscribe(ROOM, user_id="bob", user_info={"name": "Bob"})
    assert reply["event"] == "pusher_internal:subscription_succeeded"
    presence = reply["data"]["presence"]
    assert sorted(presence["ids"]) == ["ann", "bob"]
    assert presence["hash"] == {"ann": {"name": "Ann"}, "bob": {"name": "Bob"}}
    assert presence["count"] == 2


async def test_first_member_sees_only_itself(server: RunningServer) -> None:
    async with connect(server) as ann:
        reply = await ann.subscribe(ROOM, user_id="ann", user_info=None)
    assert reply["data"] == {"presence": {"ids": ["ann"], "hash": {"ann": None}, "count": 1}}


async def test_member_added_goes_to_the_others_with_user_info(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe(ROOM, user_id="ann")
        await bob.subscribe(ROOM, user_id="bob", user_info={"name": "Bob"})
        added = await ann.expect("pusher_internal:member_added", channel=ROOM)
        assert added["data"] == {"user_id": "bob", "user_info": {"name": "Bob"}}
        await next_is_trigger(server, bob)


async def test_second_socket_of_a_user_adds_no_member(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob_tab1, connect(server) as bob_tab2:
        await ann.subscribe(ROOM, user_id="ann")
        await bob_tab1.subscribe(ROOM, user_id="bob")
        await ann.expect("pusher_internal:member_added", channel=ROOM)
        reply = await bob_tab2.subscribe(ROOM, user_id="bob")
        assert reply["data"]["presence"]["count"] == 2
        await next_is_trigger(server, ann)


async def test_member_removed_is_sent_only_when_the_users_last_socket_unsubscribes(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob_tab1, connect(server) as bob_tab2:
        await ann.subscribe(ROOM, user_id="ann")
        await bob_tab1.subscribe(ROOM, user_id="bob")
        await bob_tab2.subscribe(ROOM, user_id="bob")
        await ann.expect("pusher_internal:member_added", channel=ROOM)
        await bob_tab1.send("pusher:unsubscribe", {"channel": ROOM})
        await next_is_trigger(server, ann)
        await bob_tab2.send("pusher:unsubscribe", {"channel": ROOM})
        removed = await ann.expect("pusher_internal:member_removed", channel=ROOM)
        assert removed["data"] == {"user_id": "bob"}


async def test_member_removed_is_sent_when_the_users_last_socket_disconnects(server: RunningServer) -> None:
    async with connect(server) as ann:
        await ann.subscribe(ROOM, user_id="ann")
        async with connect(server) as bob_tab1:
            await bob_tab1.subscribe(ROOM, user_id="bob")
            async with connect(server) as bob_tab2:
                await bob_tab2.subscribe(ROOM, user_id="bob")
                await ann.expect("pusher_internal:member_added", channel=ROOM)
            await next_is_trigger(server, ann)
        removed = await ann.expect("pusher_internal:member_removed", channel=ROOM)
        assert removed["data"] == {"user_id": "bob"}
        async with connect(server) as carl:
            reply = await carl.subscribe(ROOM, user_id="carl")
        assert reply["data"]["presence"]["ids"] == ["ann", "carl"]


async def test_numeric_user_id_is_reported_as_a_string(server: RunningServer) -> None:
    async with connect(server) as client:
        channel_data = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
        auth = signing.sign_channel(server.app.key, server.app.secret, client.socket_id, ROOM, channel_data)
        await client.send("pusher:subscribe", {"channel": ROOM, "auth": auth, "channel_data": channel_data})
        reply = await client.expect_reply_for(ROOM)
    assert reply["data"]["presence"] == {"ids": ["10"], "hash": {"10": {"name": "Mr. Channels"}}, "count": 1}


async def test_member_who_left_and_came_back_is_added_again(server: RunningServer) -> None:
    async with connect(server) as ann, connect(server) as bob:
        await ann.subscribe(ROOM, user_id="ann")
        await bob.subscribe(ROOM, user_id="bob")
        await ann.expect("pusher_internal:member_added", channel=ROOM)
        await bob.send("pusher:unsubscribe", {"channel": ROOM})
        await ann.expect("pusher_internal:member_removed", channel=ROOM)
        await bob.subscribe(ROOM, user_id="bob", user_info={"back": True})
        added = await ann.expect("pusher_internal:member_added", channel=ROOM)
    assert added["data"] == {"user_id": "bob", "user_info": {"back": True}}


class TestMemberLimit:
    async def test_member_over_the_limit_gets_subscription_error_4004_and_the_others_are_unaffected(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(max_presence_members=2))
        async with connect(server) as ann, connect(server) as bob, connect(server) as carl:
            await ann.subscribe(ROOM, user_id="ann")
            await bob.subscribe(ROOM, user_id="bob")
            await ann.expect("pusher_internal:member_added", channel=ROOM)
            reply = await carl.subscribe(ROOM, user_id="carl")
            assert reply["event"] == "pusher:subscription_error"
            assert reply["channel"] == ROOM
            assert reply["data"]["status"] == 4004
            assert reply["data"]["error"]
            await next_is_trigger(server, ann)
            await next_is_trigger(server, bob)
            await carl.send("pusher:ping")
            assert (await carl.receive())["event"] == "pusher:pong"

    async def test_refused_member_cannot_send_client_events_there(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(max_presence_members=1))
        async with connect(server) as ann, connect(server) as carl:
            await ann.subscribe(ROOM, user_id="ann")
            assert (await carl.subscribe(ROOM, user_id="carl"))["event"] == "pusher:subscription_error"
            await carl.send("client-hello", {}, channel=ROOM)
            error = await carl.expect("pusher:error")
            assert error["data"]["code"] == 4009
            await next_is_trigger(server, ann)

    async def test_another_socket_of_a_member_still_joins_a_full_channel(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(max_presence_members=1))
        async with connect(server) as ann_tab1, connect(server) as ann_tab2:
            await ann_tab1.subscribe(ROOM, user_id="ann")
            reply = await ann_tab2.subscribe(ROOM, user_id="ann")
        assert reply["event"] == "pusher_internal:subscription_succeeded"

    async def test_refused_member_can_join_once_a_place_is_free(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(max_presence_members=1))
        async with connect(server) as carl:
            async with connect(server) as ann:
                await ann.subscribe(ROOM, user_id="ann")
                assert (await carl.subscribe(ROOM, user_id="carl"))["event"] == "pusher:subscription_error"
                await ann.send("pusher:unsubscribe", {"channel": ROOM})
                await ann.send("pusher:ping")
                await ann.expect("pusher:pong")
            reply = await carl.subscribe(ROOM, user_id="carl")
        assert reply["data"]["presence"]["ids"] == ["carl"]


class TestResubscribe:
    async def test_resubscribing_as_another_member_is_refused_and_the_socket_stays_who_it_was(
        self, server: RunningServer
    ) -> None:
        async with connect(server) as ann, connect(server) as watcher:
            await watcher.subscribe(ROOM, user_id="watcher")
            await ann.subscribe(ROOM, user_id="ann")
            await watcher.expect("pusher_internal:member_added", channel=ROOM)
            reply = await ann.subscribe(ROOM, user_id="mallory")
            assert reply["event"] in ("pusher:error", "pusher:subscription_error"), reply
            status, body = await api_request(server, "GET", f"/apps/{server.app.id}/channels/{ROOM}/users")
            assert (status, body) == (200, {"users": [{"id": "watcher"}, {"id": "ann"}]})
            await ann.send("client-hello", {"n": 1}, channel=ROOM)
            relayed = await watcher.expect("client-hello", channel=ROOM)
            assert relayed["user_id"] == "ann", "client events carry the member the channel lists"

    async def test_resubscribing_as_the_same_member_is_answered_like_the_first_time(
        self, server: RunningServer
    ) -> None:
        async with connect(server) as ann:
            await ann.subscribe(ROOM, user_id="ann", user_info={"name": "Ann"})
            reply = await ann.subscribe(ROOM, user_id="ann", user_info={"name": "Ann"})
            assert reply["event"] == "pusher_internal:subscription_succeeded"
            assert reply["data"]["presence"]["ids"] == ["ann"]
