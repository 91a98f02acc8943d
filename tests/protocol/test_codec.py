"""The codec: client text to inbound events, outbound events to wire text with Pusher's double-encoded data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pusherpy.protocol import codec
from pusherpy.protocol.errors import MalformedMessage
from pusherpy.protocol.events import (
    CacheMiss,
    ChannelEvent,
    ClientEvent,
    ConnectionEstablished,
    Error,
    MemberAdded,
    MemberRemoved,
    Ping,
    Pong,
    Presence,
    Signin,
    SigninSuccess,
    Subscribe,
    SubscriptionCount,
    SubscriptionError,
    SubscriptionSucceeded,
    Unsubscribe,
    WatchlistChange,
    WatchlistEvents,
)


def frame(event: str, data: Any = None, **fields: Any) -> str:
    message: dict[str, Any] = {"event": event, **fields}
    if data is not None:
        message["data"] = data
    return json.dumps(message)


def as_object_and_as_string(data: dict[str, Any]) -> list[Any]:
    """Clients send ``data`` either as an object or as its JSON string; both must decode the same."""
    return [data, json.dumps(data)]


class TestDecodeInbound:
    @pytest.mark.parametrize("data", as_object_and_as_string({"channel": "news"}))
    def test_public_subscribe(self, data: Any) -> None:
        assert codec.decode(frame("pusher:subscribe", data)) == Subscribe(channel="news")

    @pytest.mark.parametrize(
        "data",
        as_object_and_as_string({"channel": "presence-room", "auth": "key:sig", "channel_data": '{"user_id":"1"}'}),
    )
    def test_presence_subscribe_keeps_auth_and_the_exact_channel_data_string(self, data: Any) -> None:
        assert codec.decode(frame("pusher:subscribe", data)) == Subscribe(
            channel="presence-room", auth="key:sig", channel_data='{"user_id":"1"}'
        )

    @pytest.mark.parametrize("data", as_object_and_as_string({"channel": "news"}))
    def test_unsubscribe(self, data: Any) -> None:
        assert codec.decode(frame("pusher:unsubscribe", data)) == Unsubscribe(channel="news")

    @pytest.mark.parametrize("data", as_object_and_as_string({"auth": "key:sig", "user_data": '{"id":"7"}'}))
    def test_signin(self, data: Any) -> None:
        assert codec.decode(frame("pusher:signin", data)) == Signin(auth="key:sig", user_data='{"id":"7"}')

    @pytest.mark.parametrize("data", [None, {}, "{}"])
    def test_ping_with_any_data(self, data: Any) -> None:
        assert codec.decode(frame("pusher:ping", data)) == Ping()

    @pytest.mark.parametrize("data", [None, {}, "{}"])
    def test_pong_with_any_data(self, data: Any) -> None:
        assert codec.decode(frame("pusher:pong", data)) == Pong()

    @pytest.mark.parametrize("data", [{"text": "hi"}, '{"text":"hi"}', "plain words", 42, None])
    def test_client_event_keeps_data_as_sent(self, data: Any) -> None:
        text = json.dumps({"event": "client-typing", "channel": "private-chat", "data": data})
        assert codec.decode(text) == ClientEvent(event="client-typing", channel="private-chat", data=data)

    def test_bytes_are_decoded_like_text(self) -> None:
        assert codec.decode(frame("pusher:subscribe", {"channel": "news"}).encode()) == Subscribe(channel="news")


class TestDecodeMalformed:
    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("", id="empty"),
            pytest.param("{not json", id="not-json"),
            pytest.param(b"\xff\xfe{}", id="invalid-utf8"),
            pytest.param("[1, 2]", id="array"),
            pytest.param('"pusher:ping"', id="string"),
            pytest.param("42", id="number"),
            pytest.param("null", id="null"),
            pytest.param('{"data": {}}', id="no-event"),
            pytest.param('{"event": ""}', id="empty-event"),
            pytest.param('{"event": 7}', id="event-not-string"),
            pytest.param(frame("pusher:subscribe", 42), id="subscribe-data-number"),
            pytest.param(frame("pusher:subscribe", [1]), id="subscribe-data-array"),
            pytest.param(frame("pusher:subscribe", "not json"), id="subscribe-data-string-not-json"),
            pytest.param(frame("pusher:subscribe", '"a string"'), id="subscribe-data-string-of-string"),
            pytest.param(frame("pusher:subscribe", {}), id="subscribe-without-channel"),
            pytest.param(frame("pusher:subscribe", {"channel": 5}), id="subscribe-channel-not-string"),
            pytest.param(frame("pusher:subscribe", {"channel": "a", "auth": 5}), id="subscribe-auth-not-string"),
            pytest.param(
                frame("pusher:subscribe", {"channel": "presence-a", "channel_data": {"user_id": "1"}}),
                id="subscribe-channel-data-object",
            ),
            pytest.param(frame("pusher:subscribe"), id="subscribe-without-data"),
            pytest.param(frame("pusher:unsubscribe"), id="unsubscribe-without-data"),
            pytest.param(frame("pusher:unsubscribe", {}), id="unsubscribe-without-channel"),
            pytest.param(frame("pusher:signin", {"auth": "k:s"}), id="signin-without-user-data"),
            pytest.param(frame("pusher:signin", {"user_data": "{}"}), id="signin-without-auth"),
            pytest.param(frame("pusher:signin", {"auth": "k:s", "user_data": {"id": "1"}}), id="signin-user-data-obj"),
            pytest.param(frame("pusher:bogus", {}), id="unknown-pusher-event"),
            pytest.param(frame("pusher_internal:subscription_succeeded", {}), id="server-only-event"),
            pytest.param(frame("hello", {}), id="neither-pusher-nor-client"),
            pytest.param(frame("client-x", {}), id="client-event-without-channel"),
            pytest.param(frame("client-x", {}, channel=""), id="client-event-empty-channel"),
            pytest.param(frame("client-x", {}, channel=3), id="client-event-channel-not-string"),
        ],
    )
    def test_raises_malformed_message_with_a_message(self, text: str | bytes) -> None:
        with pytest.raises(MalformedMessage) as caught:
            codec.decode(text)
        assert caught.value.message
        assert caught.value.code is None
        assert not caught.value.close


def wire(event: Any) -> dict[str, Any]:
    """Encode an event and parse the outer JSON only (``data`` stays as sent)."""
    message: dict[str, Any] = json.loads(codec.encode(event))
    return message


class TestEncodeOutbound:
    def test_connection_established_has_double_encoded_socket_id_and_activity_timeout(self) -> None:
        message = wire(ConnectionEstablished(socket_id="123.456", activity_timeout=120))
        assert message["event"] == "pusher:connection_established"
        assert json.loads(message["data"]) == {"socket_id": "123.456", "activity_timeout": 120}

    def test_error_data_is_an_object_with_code_and_message(self) -> None:
        message = wire(Error(code=4009, message="nope"))
        assert message == {"event": "pusher:error", "data": {"code": 4009, "message": "nope"}}

    def test_error_about_a_channel_names_it(self) -> None:
        message = wire(Error(code=4009, message="nope", channel="private-x"))
        assert message["channel"] == "private-x"

    def test_error_without_code_sends_null(self) -> None:
        assert wire(Error(code=None, message="bad"))["data"] == {"code": None, "message": "bad"}

    def test_subscription_error(self) -> None:
        message = wire(SubscriptionError(channel="presence-x", type="LimitReached", error="full", status=4004))
        assert message["event"] == "pusher:subscription_error"
        assert message["channel"] == "presence-x"
        assert json.loads(message["data"]) == {"type": "LimitReached", "error": "full", "status": 4004}

    def test_subscription_succeeded_on_a_plain_channel_has_empty_object_string(self) -> None:
        message = wire(SubscriptionSucceeded(channel="news"))
        assert message == {"event": "pusher_internal:subscription_succeeded", "channel": "news", "data": "{}"}

    def test_subscription_succeeded_on_presence_carries_ids_hash_and_count(self) -> None:
        presence = Presence(ids=["1", "2"], hash={"1": {"name": "a"}, "2": None})
        message = wire(SubscriptionSucceeded(channel="presence-x", presence=presence))
        assert json.loads(message["data"]) == {
            "presence": {"ids": ["1", "2"], "hash": {"1": {"name": "a"}, "2": None}, "count": 2}
        }

    def test_member_added(self) -> None:
        message = wire(MemberAdded(channel="presence-x", user_id="1", user_info={"name": "a"}))
        assert message["event"] == "pusher_internal:member_added"
        assert message["channel"] == "presence-x"
        assert json.loads(message["data"]) == {"user_id": "1", "user_info": {"name": "a"}}

    def test_member_removed(self) -> None:
        message = wire(MemberRemoved(channel="presence-x", user_id="1"))
        assert message["event"] == "pusher_internal:member_removed"
        assert json.loads(message["data"]) == {"user_id": "1"}

    def test_channel_event_passes_the_encoded_data_string_through(self) -> None:
        message = wire(ChannelEvent(event="update", channel="news", data='{"n":1}'))
        assert message == {"event": "update", "channel": "news", "data": '{"n":1}'}

    def test_channel_event_from_presence_client_carries_user_id(self) -> None:
        message = wire(ChannelEvent(event="client-x", channel="presence-x", data="{}", user_id="7"))
        assert message["user_id"] == "7"

    def test_channel_event_without_user_id_has_no_user_id_field(self) -> None:
        assert "user_id" not in wire(ChannelEvent(event="update", channel="news", data="{}"))

    def test_cache_miss(self) -> None:
        message = wire(CacheMiss(channel="cache-x"))
        assert message["event"] == "pusher:cache_miss"
        assert message["channel"] == "cache-x"

    def test_signin_success_carries_the_user_data_string(self) -> None:
        message = wire(SigninSuccess(user_data='{"id":"7"}'))
        assert message["event"] == "pusher:signin_success"
        assert json.loads(message["data"]) == {"user_data": '{"id":"7"}'}

    def test_watchlist_events(self) -> None:
        event = WatchlistEvents(
            events=[WatchlistChange(name="online", user_ids=["1"]), WatchlistChange(name="offline", user_ids=["2"])]
        )
        message = wire(event)
        assert message["event"] == "pusher_internal:watchlist_events"
        assert "channel" not in message
        assert json.loads(message["data"]) == {
            "events": [{"name": "online", "user_ids": ["1"]}, {"name": "offline", "user_ids": ["2"]}]
        }

    def test_subscription_count(self) -> None:
        message = wire(SubscriptionCount(channel="news", subscription_count=3))
        assert message["event"] == "pusher_internal:subscription_count"
        assert message["channel"] == "news"
        assert json.loads(message["data"]) == {"subscription_count": 3}

    def test_server_ping(self) -> None:
        message = wire(Ping())
        assert message["event"] == "pusher:ping"
        assert json.loads(message["data"]) == {}

    def test_server_pong(self) -> None:
        message = wire(Pong())
        assert message["event"] == "pusher:pong"
        assert json.loads(message["data"]) == {}

    def test_encode_data_passes_strings_through_and_encodes_the_rest(self) -> None:
        assert codec.encode_data("already text") == "already text"
        assert json.loads(codec.encode_data({"a": [1, 2]})) == {"a": [1, 2]}
