"""User sign-in, the server-to-user channel, watchlists and authorized-connections mode (PROTOCOL.md §1.7)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ServerFactory
from tests.helpers import PusherClient, RunningServer, connect, make_app, trigger


async def sign_in(client: PusherClient, user_id: str, **kwargs: Any) -> dict[str, Any]:
    await client.sign_in(user_id, **kwargs)
    return await client.expect("pusher:signin_success")


async def next_is_marker(server: RunningServer, client: PusherClient) -> None:
    """Assert nothing else is queued for ``client`` (subscribed to "markers"): a fresh trigger comes next."""
    await trigger(server, "markers", "marker", {})
    message = await client.receive()
    assert message["event"] == "marker", message


def watchlist_changes(message: dict[str, Any]) -> dict[str, list[str]]:
    assert message["event"] == "pusher_internal:watchlist_events"
    assert "channel" not in message
    return {change["name"]: change["user_ids"] for change in message["data"]["events"]}


class TestSignin:
    async def test_signin_gets_signin_success_with_the_user_data_string(self, server: RunningServer) -> None:
        async with connect(server) as client:
            success = await sign_in(client, "7", user_info={"name": "Ann"})
        assert json.loads(success["data"]["user_data"]) == {"id": "7", "user_info": {"name": "Ann"}}

    async def test_signin_with_bad_signature_gets_4009(self, server: RunningServer) -> None:
        async with connect(server) as client:
            user_data = json.dumps({"id": "7"})
            await client.send("pusher:signin", {"auth": f"{server.app.key}:{'0' * 64}", "user_data": user_data})
            error = await client.expect("pusher:error")
            assert error["data"]["code"] == 4009
            assert error["data"]["message"]
            await client.send("pusher:subscribe", {"channel": "#server-to-user-7"})
            reply = await client.expect_reply_for("#server-to-user-7")
            assert reply["data"]["code"] == 4009

    async def test_signin_when_the_app_disables_user_authentication_gets_4009(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(enable_user_authentication=False))
        async with connect(server) as client:
            await client.sign_in("7")
            error = await client.expect("pusher:error")
        assert error["data"]["code"] == 4009


class TestServerToUser:
    async def test_signed_in_user_may_subscribe_to_its_own_channel(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await sign_in(client, "7")
            reply = await client.subscribe("#server-to-user-7")
        assert reply["event"] == "pusher_internal:subscription_succeeded"

    async def test_server_to_user_channel_of_another_user_gets_4009(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await sign_in(client, "7")
            reply = await client.subscribe("#server-to-user-8")
        assert reply["event"] == "pusher:error"
        assert reply["data"]["code"] == 4009

    async def test_server_to_user_channel_without_signin_gets_4009(self, server: RunningServer) -> None:
        async with connect(server) as client:
            reply = await client.subscribe("#server-to-user-7")
        assert reply["event"] == "pusher:error"
        assert reply["data"]["code"] == 4009

    async def test_send_to_user_reaches_every_socket_of_that_user_only(self, server: RunningServer) -> None:
        async with connect(server) as tab1, connect(server) as tab2, connect(server) as other:
            for client, user_id in ((tab1, "7"), (tab2, "7"), (other, "8")):
                await sign_in(client, user_id)
                await client.subscribe(f"#server-to-user-{user_id}")
                await client.subscribe("markers")
            status, _ = await trigger(server, "#server-to-user-7", "notice", {"text": "hello"})
            assert status == 200
            for client in (tab1, tab2):
                event = await client.expect("notice")
                assert (event["channel"], event["data"]) == ("#server-to-user-7", {"text": "hello"})
            await next_is_marker(server, other)


class TestWatchlist:
    async def test_signin_reports_the_watchlist_state_then_changes(self, server: RunningServer) -> None:
        async with connect(server) as ann, connect(server) as bob:
            await sign_in(bob, "bob")
            await sign_in(ann, "ann", watchlist=["bob", "carl"])
            assert watchlist_changes(await ann.expect("pusher_internal:watchlist_events")) == {
                "online": ["bob"],
                "offline": ["carl"],
            }
            async with connect(server) as carl:
                await sign_in(carl, "carl")
                online = await ann.expect("pusher_internal:watchlist_events")
                assert watchlist_changes(online) == {"online": ["carl"]}
            offline = await ann.expect("pusher_internal:watchlist_events")
            assert watchlist_changes(offline) == {"offline": ["carl"]}

    async def test_a_users_second_socket_does_not_repeat_online_and_only_the_last_goes_offline(
        self, server: RunningServer
    ) -> None:
        async with connect(server) as ann:
            await ann.subscribe("markers")
            await sign_in(ann, "ann", watchlist=["bob"])
            assert watchlist_changes(await ann.expect("pusher_internal:watchlist_events")) == {"offline": ["bob"]}
            async with connect(server) as bob_tab1:
                await sign_in(bob_tab1, "bob")
                assert watchlist_changes(await ann.expect("pusher_internal:watchlist_events")) == {"online": ["bob"]}
                async with connect(server) as bob_tab2:
                    await sign_in(bob_tab2, "bob")
                    await next_is_marker(server, ann)
                await next_is_marker(server, ann)
            assert watchlist_changes(await ann.expect("pusher_internal:watchlist_events")) == {"offline": ["bob"]}

    async def test_second_signin_on_a_connection_gets_4009_and_the_first_watchlist_stays(
        self, server: RunningServer
    ) -> None:
        async with connect(server) as ann:
            await ann.subscribe("markers")
            await sign_in(ann, "ann", watchlist=["bob"])
            assert watchlist_changes(await ann.expect("pusher_internal:watchlist_events")) == {"offline": ["bob"]}
            await ann.sign_in("ann", watchlist=["carl"])
            error = await ann.expect("pusher:error")
            assert error["data"]["code"] == 4009
            async with connect(server) as carl, connect(server) as bob:
                await sign_in(carl, "carl")
                await sign_in(bob, "bob")
                assert watchlist_changes(await ann.expect("pusher_internal:watchlist_events")) == {"online": ["bob"]}
                await next_is_marker(server, ann)

    async def test_watchlist_over_100_ids_gets_4302_and_keeps_the_first_100(self, server: RunningServer) -> None:
        watchlist = [f"user{n}" for n in range(120)]
        async with connect(server) as ann:
            await sign_in(ann, "ann", watchlist=watchlist)
            error = await ann.expect("pusher:error")
            assert error["data"]["code"] == 4302
            assert error["data"]["message"]
            state = watchlist_changes(await ann.expect("pusher_internal:watchlist_events"))
            assert state == {"offline": watchlist[:100]}
            async with connect(server) as kept, connect(server) as dropped:
                await ann.subscribe("markers")
                await sign_in(dropped, "user110")
                await sign_in(kept, "user99")
                assert watchlist_changes(await ann.expect("pusher_internal:watchlist_events")) == {"online": ["user99"]}
                await next_is_marker(server, ann)


class TestAuthorizedConnectionsOnly:
    async def test_socket_that_neither_signs_in_nor_joins_a_private_channel_is_closed_with_4009(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(authorized_connections_only=True, auth_timeout=0.3))
        async with connect(server) as idle:
            await idle.subscribe("news")
            assert await idle.expect_close(timeout=3) == 4009

    async def test_sockets_that_sign_in_or_join_a_private_channel_are_kept(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(authorized_connections_only=True, auth_timeout=0.3))
        async with connect(server) as signed, connect(server) as private, connect(server) as idle:
            await sign_in(signed, "7")
            await private.subscribe("private-chat")
            assert await idle.expect_close(timeout=3) == 4009
            # The idle socket was opened last, so its deadline passed after the others': they were kept.
            for client in (signed, private):
                await client.send("pusher:ping")
                assert (await client.expect("pusher:pong"))["event"] == "pusher:pong"

    async def test_without_the_mode_an_idle_socket_is_kept(self, server_factory: ServerFactory) -> None:
        server = await server_factory(
            make_app(auth_timeout=0.3),
            make_app(id="2", key="strict", auth_timeout=0.3, authorized_connections_only=True),
        )
        strict_app = server.settings.apps[1]
        async with connect(server) as relaxed, connect(server, app=strict_app) as strict:
            assert await strict.expect_close(timeout=3) == 4009
            await relaxed.send("pusher:ping")
            assert (await relaxed.expect("pusher:pong"))["event"] == "pusher:pong"
