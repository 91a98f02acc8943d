"""The per-socket state machine, driven with text frames and an explicit clock: no loop, no sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pusherpy.protocol import signing
from pusherpy.protocol.actions import AnswerPing, Join, Leave, Member, Relay, Reply, SignIn
from pusherpy.protocol.apps import AppConfig
from pusherpy.protocol.channels import ChannelKind
from pusherpy.protocol.connection import Connection, error_text
from pusherpy.protocol.errors import (
    ClientEventRejected,
    ErrorCode,
    MalformedMessage,
    Unauthorized,
)
from pusherpy.protocol.events import ChannelEvent

SOCKET_ID = "1234.5678"


def make_app(**overrides: Any) -> AppConfig:
    return AppConfig(**{"id": "1", "key": "key", "secret": "secret", **overrides})


def frame(event: str, data: Any = None, channel: str | None = None) -> str:
    message: dict[str, Any] = {"event": event, "data": data if data is not None else {}}
    if channel is not None:
        message["channel"] = channel
    return json.dumps(message)


class Socket:
    """A Connection plus helpers that sign like a backend's auth endpoint would."""

    def __init__(self, app: AppConfig | None = None, socket_id: str = SOCKET_ID) -> None:
        self.app = app or make_app()
        self.connection = Connection(socket_id, self.app)

    def receive(self, text: str, now: float = 0.0) -> list[Any]:
        return self.connection.receive_text(text, now)

    def subscribe(self, channel: str, *, auth: str | None = None, channel_data: str | None = None) -> list[Any]:
        data: dict[str, Any] = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        if channel_data is not None:
            data["channel_data"] = channel_data
        return self.receive(frame("pusher:subscribe", data))

    def sign(self, channel: str, channel_data: str | None = None, *, socket_id: str | None = None) -> str:
        return signing.sign_channel(
            self.app.key, self.app.secret, socket_id or self.connection.socket_id, channel, channel_data
        )

    def subscribe_signed(self, channel: str) -> list[Any]:
        return self.subscribe(channel, auth=self.sign(channel))

    def join_presence(self, channel: str, user_id: Any = "u1", user_info: Any = None) -> list[Any]:
        channel_data = json.dumps({"user_id": user_id, "user_info": user_info})
        return self.subscribe(channel, auth=self.sign(channel, channel_data), channel_data=channel_data)

    def signin(self, user: dict[str, Any], *, auth: str | None = None) -> list[Any]:
        user_data = json.dumps(user)
        auth = auth or signing.sign_user(self.app.key, self.app.secret, self.connection.socket_id, user_data)
        return self.receive(frame("pusher:signin", {"auth": auth, "user_data": user_data}))

    def client_event(self, channel: str, event: str = "client-typing", data: Any = None, now: float = 0.0) -> list[Any]:
        return self.receive(frame(event, data if data is not None else {"x": 1}, channel), now)


class TestSubscribe:
    def test_public_channel_joins_without_auth(self) -> None:
        socket = Socket()
        [join] = socket.subscribe("news")
        assert isinstance(join, Join)
        assert (join.channel, join.channel_type.kind, join.member) == ("news", ChannelKind.PUBLIC, None)
        assert "news" in socket.connection.channels

    def test_cache_channel_join_says_it_is_cached(self) -> None:
        [join] = Socket().subscribe("cache-prices")
        assert join.channel_type.cached

    @pytest.mark.parametrize("channel", ["private-chat", "private-encrypted-x", "private-cache-x"])
    def test_private_subscribe_with_valid_signature_joins(self, channel: str) -> None:
        socket = Socket()
        [join] = socket.subscribe_signed(channel)
        assert isinstance(join, Join)
        assert join.channel == channel

    @pytest.mark.parametrize("channel", ["private-chat", "presence-room", "private-encrypted-x"])
    def test_subscribe_without_auth_to_an_authorized_channel_raises_4009(self, channel: str) -> None:
        socket = Socket()
        with pytest.raises(Unauthorized) as caught:
            socket.subscribe(channel)
        assert caught.value.code is ErrorCode.UNAUTHORIZED
        assert caught.value.channel == channel
        assert not caught.value.close
        assert channel not in socket.connection.channels

    def test_private_subscribe_with_bad_signature_raises_4009(self) -> None:
        socket = Socket()
        with pytest.raises(Unauthorized):
            socket.subscribe("private-chat", auth="key:" + "0" * 64)

    def test_private_subscribe_signed_for_another_socket_raises_4009(self) -> None:
        socket = Socket()
        with pytest.raises(Unauthorized):
            socket.subscribe("private-chat", auth=socket.sign("private-chat", socket_id="1.1"))

    def test_private_subscribe_with_another_apps_key_raises_4009(self) -> None:
        socket = Socket()
        signature = socket.sign("private-chat").split(":", 1)[1]
        with pytest.raises(Unauthorized):
            socket.subscribe("private-chat", auth=f"other-key:{signature}")

    def test_private_subscribe_signed_for_another_channel_raises_4009(self) -> None:
        socket = Socket()
        with pytest.raises(Unauthorized):
            socket.subscribe("private-chat", auth=socket.sign("private-other"))

    @pytest.mark.parametrize("channel", ["bad channel", "x" * 201, "é"])
    def test_invalid_channel_name_raises_malformed_message(self, channel: str) -> None:
        with pytest.raises(MalformedMessage) as caught:
            Socket().subscribe(channel)
        assert caught.value.channel == channel

    def test_server_to_user_channel_before_signin_raises_4009(self) -> None:
        with pytest.raises(Unauthorized):
            Socket().subscribe("#server-to-user-7")

    def test_server_to_user_channel_of_the_signed_in_user_joins(self) -> None:
        socket = Socket()
        socket.signin({"id": "7"})
        [join] = socket.subscribe("#server-to-user-7")
        assert join.channel_type.kind is ChannelKind.SERVER_TO_USER

    def test_server_to_user_channel_of_another_user_raises_4009(self) -> None:
        socket = Socket()
        socket.signin({"id": "7"})
        with pytest.raises(Unauthorized):
            socket.subscribe("#server-to-user-8")

    def test_failed_join_is_forgotten(self) -> None:
        socket = Socket()
        socket.join_presence("presence-room")
        socket.connection.join_failed("presence-room")
        assert "presence-room" not in socket.connection.channels


class TestPresenceMember:
    def test_member_comes_from_the_signed_channel_data(self) -> None:
        [join] = Socket().join_presence("presence-room", "u1", {"name": "Ann"})
        assert join.member == Member("u1", {"name": "Ann"})

    def test_numeric_user_id_becomes_a_string(self) -> None:
        [join] = Socket().join_presence("presence-room", 10)
        assert join.member == Member("10", None)

    def test_channel_data_signature_covers_the_exact_string(self) -> None:
        socket = Socket()
        channel_data = '{"user_id": "u1"}'
        auth = socket.sign("presence-room", channel_data)
        [join] = socket.subscribe("presence-room", auth=auth, channel_data=channel_data)
        assert join.member == Member("u1", None)
        with pytest.raises(Unauthorized):
            socket.subscribe("presence-room", auth=auth, channel_data='{"user_id":"u1"}')

    def test_presence_without_channel_data_is_malformed(self) -> None:
        socket = Socket()
        with pytest.raises(MalformedMessage):
            socket.subscribe("presence-room", auth=socket.sign("presence-room"))

    @pytest.mark.parametrize(
        "channel_data",
        ["not json", "[1]", '{"user_info": {}}', '{"user_id": ""}', '{"user_id": true}', '{"user_id": ["1"]}'],
    )
    def test_channel_data_without_a_usable_user_id_is_malformed(self, channel_data: str) -> None:
        socket = Socket()
        with pytest.raises(MalformedMessage):
            socket.subscribe(
                "presence-room", auth=socket.sign("presence-room", channel_data), channel_data=channel_data
            )

    def test_user_id_of_128_characters_is_accepted(self) -> None:
        [join] = Socket().join_presence("presence-room", "u" * 128)
        assert join.member.user_id == "u" * 128

    def test_user_id_longer_than_128_characters_is_rejected(self) -> None:
        with pytest.raises(MalformedMessage) as caught:
            Socket().join_presence("presence-room", "u" * 129)
        assert "128" in caught.value.message

    def test_user_info_of_1_kb_is_accepted(self) -> None:
        info = "x" * (1024 - 2)  # 1024 bytes once JSON-encoded with its quotes
        [join] = Socket().join_presence("presence-room", "u1", info)
        assert join.member.user_info == info

    def test_user_info_larger_than_1_kb_is_rejected(self) -> None:
        with pytest.raises(MalformedMessage) as caught:
            Socket().join_presence("presence-room", "u1", "x" * 1024)
        assert "1024" in caught.value.message


class TestUnsubscribe:
    def test_unsubscribe_from_a_subscribed_channel_leaves(self) -> None:
        socket = Socket()
        socket.subscribe("news")
        assert socket.receive(frame("pusher:unsubscribe", {"channel": "news"})) == [Leave("news")]
        assert "news" not in socket.connection.channels

    def test_unsubscribe_from_a_channel_not_subscribed_does_nothing(self) -> None:
        assert Socket().receive(frame("pusher:unsubscribe", {"channel": "news"})) == []


class TestPing:
    def test_ping_is_answered_with_pong(self) -> None:
        assert Socket().receive(frame("pusher:ping")) == [AnswerPing()]

    def test_pong_needs_no_answer(self) -> None:
        assert Socket().receive(frame("pusher:pong")) == []


class TestClientEvents:
    def test_client_event_on_a_subscribed_private_channel_is_relayed(self) -> None:
        socket = Socket()
        socket.subscribe_signed("private-chat")
        [relay] = socket.client_event("private-chat", data={"text": "hi"})
        assert relay == Relay(ChannelEvent(event="client-typing", channel="private-chat", data={"text": "hi"}))

    def test_client_event_on_presence_carries_the_senders_user_id(self) -> None:
        socket = Socket()
        socket.join_presence("presence-room", "u9")
        [relay] = socket.client_event("presence-room")
        assert relay.event.user_id == "u9"

    @pytest.mark.parametrize("channel", ["news", "cache-news", "private-encrypted-x"])
    def test_client_event_on_a_channel_kind_without_client_events_raises_4301(self, channel: str) -> None:
        socket = Socket()
        socket.subscribe(channel, auth=socket.sign(channel))
        with pytest.raises(ClientEventRejected) as caught:
            socket.client_event(channel)
        assert caught.value.code is ErrorCode.CLIENT_EVENT_REJECTED
        assert caught.value.channel == channel

    def test_client_event_on_a_channel_not_subscribed_raises_4009(self) -> None:
        with pytest.raises(Unauthorized):
            Socket().client_event("private-chat")

    def test_client_event_when_the_app_disables_them_raises_4301(self) -> None:
        socket = Socket(make_app(enable_client_events=False))
        socket.subscribe_signed("private-chat")
        with pytest.raises(ClientEventRejected):
            socket.client_event("private-chat")

    def test_client_event_name_longer_than_200_characters_raises_4301(self) -> None:
        socket = Socket()
        socket.subscribe_signed("private-chat")
        with pytest.raises(ClientEventRejected):
            socket.client_event("private-chat", event="client-" + "x" * 194)

    def test_client_event_data_over_the_payload_limit_raises_4301(self) -> None:
        socket = Socket(make_app(max_event_payload_kb=1))
        socket.subscribe_signed("private-chat")
        socket.client_event("private-chat", data="x" * 1024)
        with pytest.raises(ClientEventRejected):
            socket.client_event("private-chat", data="x" * 1025)


class TestClientEventRateLimit:
    def test_eleventh_event_within_one_second_raises_4301(self) -> None:
        socket = Socket()
        socket.subscribe_signed("private-chat")
        for index in range(10):
            socket.client_event("private-chat", now=100.0 + index * 0.05)
        with pytest.raises(ClientEventRejected) as caught:
            socket.client_event("private-chat", now=100.6)
        assert "rate limit" in caught.value.message

    def test_eleven_events_spread_over_a_whole_second_boundary_still_raise_4301(self) -> None:
        socket = Socket()
        socket.subscribe_signed("private-chat")
        for index in range(10):
            socket.client_event("private-chat", now=100.95 + index * 0.005)
        with pytest.raises(ClientEventRejected):
            socket.client_event("private-chat", now=101.05)

    def test_events_are_allowed_again_a_second_later(self) -> None:
        socket = Socket()
        socket.subscribe_signed("private-chat")
        for _ in range(10):
            socket.client_event("private-chat", now=100.0)
        [relay] = socket.client_event("private-chat", now=101.0)
        assert isinstance(relay, Relay)

    def test_rejected_events_do_not_count(self) -> None:
        socket = Socket()
        socket.subscribe_signed("private-chat")
        for _ in range(10):
            socket.client_event("private-chat", now=100.0)
        for _ in range(5):
            with pytest.raises(ClientEventRejected):
                socket.client_event("private-chat", now=100.5)
        [relay] = socket.client_event("private-chat", now=101.0)
        assert isinstance(relay, Relay)

    def test_limit_follows_the_app_setting(self) -> None:
        socket = Socket(make_app(max_client_events_per_second=2))
        socket.subscribe_signed("private-chat")
        socket.client_event("private-chat", now=5.0)
        socket.client_event("private-chat", now=5.0)
        with pytest.raises(ClientEventRejected):
            socket.client_event("private-chat", now=5.0)

    def test_limit_of_zero_means_unlimited(self) -> None:
        socket = Socket(make_app(max_client_events_per_second=0))
        socket.subscribe_signed("private-chat")
        for _ in range(50):
            socket.client_event("private-chat", now=5.0)


class TestSignin:
    def test_signin_with_valid_signature_signs_the_socket_in(self) -> None:
        socket = Socket()
        [action] = socket.signin({"id": "7", "user_info": {"name": "Ann"}})
        assert isinstance(action, SignIn)
        assert action.user.id == "7"
        assert json.loads(action.user.user_data) == {"id": "7", "user_info": {"name": "Ann"}}
        assert socket.connection.user == action.user
        assert socket.connection.is_authorized

    def test_signin_with_bad_signature_raises_4009(self) -> None:
        socket = Socket()
        with pytest.raises(Unauthorized):
            socket.signin({"id": "7"}, auth="key:" + "0" * 64)
        assert socket.connection.user is None

    def test_signin_signed_for_another_socket_raises_4009(self) -> None:
        socket = Socket()
        user_data = json.dumps({"id": "7"})
        auth = signing.sign_user("key", "secret", "1.1", user_data)
        with pytest.raises(Unauthorized):
            socket.receive(frame("pusher:signin", {"auth": auth, "user_data": user_data}))

    def test_signin_when_the_app_disables_user_authentication_raises_4009(self) -> None:
        with pytest.raises(Unauthorized):
            Socket(make_app(enable_user_authentication=False)).signin({"id": "7"})

    @pytest.mark.parametrize("user", [{}, {"id": ""}, {"id": "has space"}, {"id": None}, {"id": True}])
    def test_signin_without_a_valid_id_is_malformed(self, user: dict[str, Any]) -> None:
        with pytest.raises(MalformedMessage):
            Socket().signin(user)

    def test_signin_as_another_user_on_the_same_socket_raises_4009(self) -> None:
        socket = Socket()
        socket.signin({"id": "7"})
        with pytest.raises(Unauthorized):
            socket.signin({"id": "8"})
        assert socket.connection.user is not None and socket.connection.user.id == "7"

    def test_second_signin_as_the_same_user_raises_4009_and_keeps_the_first(self) -> None:
        socket = Socket()
        socket.signin({"id": "7", "watchlist": ["1"]})
        with pytest.raises(Unauthorized):
            socket.signin({"id": "7", "watchlist": ["2"]})
        assert socket.connection.user is not None and socket.connection.user.watchlist == ("1",)

    def test_unsigned_connection_is_not_authorized_until_it_joins_a_private_channel(self) -> None:
        socket = Socket()
        socket.subscribe("news")
        assert not socket.connection.is_authorized
        socket.subscribe_signed("private-chat")
        assert socket.connection.is_authorized


class TestWatchlist:
    def test_watchlist_is_kept_on_the_user(self) -> None:
        [action] = Socket().signin({"id": "7", "watchlist": ["1", "2"]})
        assert action.user.watchlist == ("1", "2")

    def test_watchlist_over_100_ids_keeps_the_first_100_and_replies_4302(self) -> None:
        watchlist = [str(n) for n in range(150)]
        signin, warning = Socket().signin({"id": "7", "watchlist": watchlist})
        assert isinstance(signin, SignIn)
        assert signin.user.watchlist == tuple(watchlist[:100])
        assert isinstance(warning, Reply)
        error = json.loads(warning.text)
        assert error["event"] == "pusher:error"
        assert error["data"]["code"] == 4302
        assert error["data"]["message"]

    def test_watchlist_of_exactly_100_ids_gets_no_warning(self) -> None:
        actions = Socket().signin({"id": "7", "watchlist": [str(n) for n in range(100)]})
        assert len(actions) == 1

    @pytest.mark.parametrize("watchlist", ["1", [1, 2], {"a": 1}])
    def test_watchlist_that_is_not_a_list_of_strings_is_malformed(self, watchlist: Any) -> None:
        with pytest.raises(MalformedMessage):
            Socket().signin({"id": "7", "watchlist": watchlist})


class TestErrorText:
    def test_protocol_error_becomes_one_pusher_error_frame(self) -> None:
        text = error_text(Unauthorized("nope", channel="private-x"))
        assert json.loads(text) == {
            "event": "pusher:error",
            "channel": "private-x",
            "data": {"code": 4009, "message": "nope"},
        }

    def test_malformed_message_has_a_null_code(self) -> None:
        assert json.loads(error_text(MalformedMessage("bad")))["data"] == {"code": None, "message": "bad"}
