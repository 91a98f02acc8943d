"""Subscribing and unsubscribing to each channel kind, channel auth, and subscription counts (PROTOCOL.md §1.3-1.5)."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest

import pusherpy.server.broker.announcer as announcer
from pusherpy.protocol import signing
from tests.conftest import ServerFactory
from tests.helpers import PusherClient, RunningServer, connect, make_app, trigger


async def assert_receives_trigger(server: RunningServer, client: PusherClient, channel: str) -> None:
    status, _ = await trigger(server, channel, "update", {"on": channel})
    assert status == 200
    event = await client.expect("update", channel=channel)
    assert event["data"] == {"on": channel}


class TestSubscribe:
    @pytest.mark.parametrize(
        "channel", ["news", "private-chat", "private-encrypted-secrets", "cache-prices", "private-cache-prices"]
    )
    async def test_subscribe_succeeds_with_empty_data_and_then_delivers_events(
        self, server: RunningServer, channel: str
    ) -> None:
        async with connect(server) as client:
            reply = await client.subscribe(channel)
            assert reply["event"] == "pusher_internal:subscription_succeeded"
            assert reply["channel"] == channel
            assert reply["data"] == {}
            await assert_receives_trigger(server, client, channel)

    async def test_encrypted_channel_event_is_passed_through_untouched(self, server: RunningServer) -> None:
        channel = "private-encrypted-secrets"
        sealed = '{"nonce":"bm9uY2U=","ciphertext":"Y2lwaGVy"}'
        async with connect(server) as client:
            await client.subscribe(channel)
            status, _ = await trigger(server, channel, "secret", sealed)
            assert status == 200
            event = await client.expect("secret", channel=channel)
        assert event["data"] == {"nonce": "bm9uY2U=", "ciphertext": "Y2lwaGVy"}

    async def test_subscribe_data_sent_as_a_json_string_works_too(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.send("pusher:subscribe", '{"channel":"news"}')
            reply = await client.expect_reply_for("news")
        assert reply["event"] == "pusher_internal:subscription_succeeded"

    async def test_unsubscribed_channel_no_longer_delivers(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("news")
            await client.subscribe("sport")
            await client.send("pusher:unsubscribe", {"channel": "news"})
            await client.send("pusher:ping")  # the server handles frames in order: pong means unsubscribed
            await client.expect("pusher:pong")
            await trigger(server, "news", "update", {"n": 1})
            await trigger(server, "sport", "update", {"n": 2})
            event = await client.receive()
        assert (event["event"], event["channel"], event["data"]) == ("update", "sport", {"n": 2})

    async def test_invalid_channel_name_gets_an_error_about_that_channel(self, server: RunningServer) -> None:
        async with connect(server) as client:
            reply = await client.subscribe("bad channel!")
            assert reply["event"] == "pusher:error"
            assert reply["data"]["message"]
            assert (await client.subscribe("news"))["event"] == "pusher_internal:subscription_succeeded"


class TestChannelAuth:
    async def test_private_subscribe_with_bad_signature_gets_4009(self, server: RunningServer) -> None:
        async with connect(server) as client:
            reply = await client.subscribe("private-chat", auth=f"{server.app.key}:{'0' * 64}")
        assert reply["event"] == "pusher:error"
        assert reply["channel"] == "private-chat"
        assert reply["data"]["code"] == 4009
        assert reply["data"]["message"]

    async def test_private_subscribe_without_auth_gets_4009(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.send("pusher:subscribe", {"channel": "private-chat"})
            reply = await client.expect_reply_for("private-chat")
        assert reply["event"] == "pusher:error"
        assert reply["data"]["code"] == 4009

    async def test_private_subscribe_signed_for_another_socket_id_gets_4009(self, server: RunningServer) -> None:
        async with connect(server) as client, connect(server) as other:
            auth = signing.sign_channel(server.app.key, server.app.secret, other.socket_id, "private-chat")
            reply = await client.subscribe("private-chat", auth=auth)
        assert reply["event"] == "pusher:error"
        assert reply["data"]["code"] == 4009

    async def test_presence_subscribe_with_bad_signature_gets_4009(self, server: RunningServer) -> None:
        async with connect(server) as client:
            reply = await client.subscribe("presence-room", user_id="u1", auth=f"{server.app.key}:{'0' * 64}")
        assert reply["event"] == "pusher:error"
        assert reply["data"]["code"] == 4009

    async def test_connection_stays_usable_after_a_rejected_subscription(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("private-chat", auth=f"{server.app.key}:{'0' * 64}")
            reply = await client.subscribe("private-other")
            assert reply["event"] == "pusher_internal:subscription_succeeded"
            await assert_receives_trigger(server, client, "private-other")

    async def test_rejected_subscription_does_not_deliver_that_channels_events(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("private-chat", auth=f"{server.app.key}:{'0' * 64}")
            await client.expect("pusher:subscription_error", channel="private-chat")
            await client.subscribe("news")
            await trigger(server, "private-chat", "update", {"n": 1})
            await trigger(server, "news", "update", {"n": 2})
            event = await client.expect("update")
        assert (event["channel"], event["data"]) == ("news", {"n": 2})


class TestRefusedSubscriptionTellsTheChannel:
    """Besides the ``pusher:error``, a refused subscription gets a ``pusher:subscription_error`` on its channel:
    Laravel Echo's ``.error()`` callback and pusher-js channel listeners receive that one."""

    async def test_bad_signature_gets_an_auth_error_with_status_401_on_the_channel(self, server: RunningServer) -> None:
        async with connect(server) as client:
            error = await client.subscribe("private-chat", auth=f"{server.app.key}:{'0' * 64}")
            assert error["event"] == "pusher:error" and error["data"]["code"] == 4009
            refused = await client.expect("pusher:subscription_error", channel="private-chat")
            assert refused["data"]["type"] == "AuthError" and refused["data"]["status"] == 401
            assert "signature" in refused["data"]["error"]

    async def test_invalid_channel_name_gets_an_invalid_subscription_error_with_status_400(
        self, server: RunningServer
    ) -> None:
        async with connect(server) as client:
            await client.send("pusher:subscribe", {"channel": "bad name!"})
            refused = await client.expect("pusher:subscription_error", channel="bad name!")
            assert refused["data"]["type"] == "InvalidSubscription" and refused["data"]["status"] == 400

    async def test_client_event_errors_do_not_pretend_to_be_subscription_errors(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.send("client-typing", {}, channel="private-chat")
            error = await client.expect("pusher:error")
            assert error["data"]["code"] == 4009
            await client.expect_nothing()


class TestSubscriptionCount:
    @pytest.fixture
    async def counting_server(self, server_factory: ServerFactory) -> RunningServer:
        return await server_factory(make_app(enable_subscription_count=True))

    async def test_subscribers_get_the_count_after_each_subscribe_and_unsubscribe(
        self, counting_server: RunningServer
    ) -> None:
        async with connect(counting_server) as first, connect(counting_server) as second:
            await first.subscribe("news")
            count = await first.expect("pusher_internal:subscription_count", channel="news")
            assert count["data"] == {"subscription_count": 1}
            await second.subscribe("news")
            for client in (first, second):
                count = await client.expect("pusher_internal:subscription_count", channel="news")
                assert count["data"] == {"subscription_count": 2}
            await second.send("pusher:unsubscribe", {"channel": "news"})
            count = await first.expect("pusher_internal:subscription_count", channel="news")
            assert count["data"] == {"subscription_count": 1}

    async def test_count_follows_subscription_succeeded(self, counting_server: RunningServer) -> None:
        async with connect(counting_server) as client:
            await client.send("pusher:subscribe", {"channel": "news"})
            first, second = await client.receive(), await client.receive()
        assert first["event"] == "pusher_internal:subscription_succeeded"
        assert second["event"] == "pusher_internal:subscription_count"

    async def test_disconnect_updates_the_count(self, counting_server: RunningServer) -> None:
        async with connect(counting_server) as stayer:
            await stayer.subscribe("news")
            await stayer.expect("pusher_internal:subscription_count", channel="news")
            async with connect(counting_server) as leaver:
                await leaver.subscribe("news")
                count = await stayer.expect("pusher_internal:subscription_count", channel="news")
                assert count["data"] == {"subscription_count": 2}
            count = await stayer.expect("pusher_internal:subscription_count", channel="news")
        assert count["data"] == {"subscription_count": 1}

    async def test_above_the_throttle_a_burst_of_changes_ends_with_one_trailing_update(
        self, counting_server: RunningServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(announcer, "SUBSCRIPTION_COUNT_THROTTLE_ABOVE", 2)
        monkeypatch.setattr(announcer, "SUBSCRIPTION_COUNT_THROTTLE_SECONDS", 0.5)
        async with AsyncExitStack() as stack:
            watcher = await stack.enter_async_context(connect(counting_server))
            await watcher.subscribe("busy")
            for _ in range(4):
                other = await stack.enter_async_context(connect(counting_server))
                await other.subscribe("busy")
            counts = []
            while not counts or counts[-1] != 5:
                counts.append(
                    (await watcher.expect("pusher_internal:subscription_count"))["data"]["subscription_count"]
                )
            assert counts[:2] == [1, 2] and counts[-1] == 5
            assert len(counts) < 5, f"above the throttle, changes must be coalesced: {counts}"
            await watcher.expect_nothing(within=0.7)

    async def test_presence_channels_get_no_subscription_count(self, counting_server: RunningServer) -> None:
        async with connect(counting_server) as client:
            await client.subscribe("presence-room", user_id="u1")
            await client.subscribe("news")
            following = await client.receive()
        assert (following["event"], following["channel"]) == ("pusher_internal:subscription_count", "news")

    async def test_no_subscription_count_unless_the_app_enables_it(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("news")
            await trigger(server, "news", "update", {"n": 1})
            following = await client.receive()
        assert following["event"] == "update"
