"""Webhook events: one constructor per kind, Pusher's JSON shapes, and one body encoding that parses back exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pusherpy.protocol import webhooks
from pusherpy.protocol.apps import WEBHOOK_EVENT_TYPES, ChannelFilter, WebhookTarget
from pusherpy.protocol.errors import WebhookBodyInvalid
from pusherpy.protocol.webhooks import (
    MAX_HEADER_VALUE_CHARS,
    RESERVED_HEADERS,
    WebhookBatch,
    WebhookEvent,
    WebhookName,
    encode_batch,
    header_problem,
    parse_batch,
)

TIME_MS = 1_700_000_000_123

EVERY_KIND: list[tuple[WebhookEvent, dict[str, Any]]] = [
    (webhooks.channel_occupied("a"), {"name": "channel_occupied", "channel": "a"}),
    (webhooks.channel_vacated("a"), {"name": "channel_vacated", "channel": "a"}),
    (
        webhooks.member_added("presence-r", "1"),
        {"name": "member_added", "channel": "presence-r", "user_id": "1"},
    ),
    (
        webhooks.member_removed("presence-r", "1"),
        {"name": "member_removed", "channel": "presence-r", "user_id": "1"},
    ),
    (
        webhooks.client_event("presence-r", "client-typing", '{"on":true}', "1.2", "1"),
        {
            "name": "client_event",
            "channel": "presence-r",
            "event": "client-typing",
            "data": '{"on":true}',
            "socket_id": "1.2",
            "user_id": "1",
        },
    ),
    (
        webhooks.client_event("private-r", "client-typing", "{}", "1.2", None),
        {"name": "client_event", "channel": "private-r", "event": "client-typing", "data": "{}", "socket_id": "1.2"},
    ),
    (webhooks.cache_miss("cache-a"), {"name": "cache_miss", "channel": "cache-a"}),
    (
        webhooks.subscription_count("a", 0),
        {"name": "subscription_count", "channel": "a", "subscription_count": 0},
    ),
]
"""Each kind's event and the object Pusher's docs show for it ("Webhooks": one section per kind)."""


class TestShapes:
    @pytest.mark.parametrize(("event", "expected"), EVERY_KIND, ids=lambda value: getattr(value, "name", ""))
    def test_to_json_carries_exactly_the_documented_fields_in_wire_order(
        self, event: WebhookEvent, expected: dict[str, Any]
    ) -> None:
        assert list(event.to_json().items()) == list(expected.items())

    def test_every_kind_has_a_constructor(self) -> None:
        assert {event.name for event, _ in EVERY_KIND} == set(WebhookName)

    def test_names_are_plain_strings_equal_to_the_enum(self) -> None:
        event = webhooks.member_added("presence-r", "1")
        assert type(event.name) is str
        assert event.name == WebhookName.MEMBER_ADDED
        assert event == WebhookEvent(name="member_added", channel="presence-r", user_id="1")

    def test_zero_and_empty_values_are_sent_and_only_none_is_left_out(self) -> None:
        assert webhooks.subscription_count("a", 0).to_json()["subscription_count"] == 0
        assert webhooks.client_event("private-r", "client-x", "", "1.2", None).to_json()["data"] == ""

    def test_the_configurable_event_types_are_the_webhook_names(self) -> None:
        assert set(WEBHOOK_EVENT_TYPES) == {name.value for name in WebhookName}
        assert all(type(name) is str for name in WEBHOOK_EVENT_TYPES)


class TestBatch:
    def test_every_kind_round_trips_through_the_body(self) -> None:
        batch = WebhookBatch(time_ms=TIME_MS, events=[event for event, _ in EVERY_KIND])
        assert parse_batch(encode_batch(batch)) == batch

    def test_the_body_is_pusher_s_json(self) -> None:
        body = encode_batch(WebhookBatch(time_ms=TIME_MS, events=[event for event, _ in EVERY_KIND]))
        assert json.loads(body) == {"time_ms": TIME_MS, "events": [expected for _, expected in EVERY_KIND]}
        assert list(json.loads(body)) == ["time_ms", "events"]

    def test_an_empty_batch_round_trips(self) -> None:
        batch = WebhookBatch(time_ms=TIME_MS, events=[])
        assert parse_batch(encode_batch(batch)) == batch

    def test_unknown_names_and_numeric_user_ids_are_kept(self) -> None:
        raw = json.dumps(
            {"time_ms": TIME_MS, "events": [{"name": "future_kind", "channel": "a", "user_id": 7, "extra": 1}]}
        ).encode()
        assert parse_batch(raw).events == [WebhookEvent(name="future_kind", channel="a", user_id="7")]

    def test_client_event_data_sent_as_an_object_is_read_as_its_json_text(self) -> None:
        raw = json.dumps(
            {"time_ms": TIME_MS, "events": [{"name": "client_event", "channel": "private-a", "data": {"x": 1}}]}
        ).encode()
        (event,) = parse_batch(raw).events
        assert event.data is not None
        assert json.loads(event.data) == {"x": 1}

    @pytest.mark.parametrize(
        "raw",
        [
            b"not json",
            b"[]",
            b'{"events": []}',
            b'{"time_ms": true, "events": []}',
            b'{"time_ms": 1, "events": {}}',
            b'{"time_ms": 1, "events": ["x"]}',
            b'{"time_ms": 1, "events": [{"name": "", "channel": "a"}]}',
            b'{"time_ms": 1, "events": [{"name": "x", "channel": "a", "subscription_count": false}]}',
            b'{"time_ms": 1, "events": [{"name": "x", "channel": "a", "user_id": 1.5}]}',
        ],
    )
    def test_a_malformed_body_raises_webhook_body_invalid(self, raw: bytes) -> None:
        with pytest.raises(WebhookBodyInvalid):
            parse_batch(raw)


class TestWhichEndpointGetsAnEvent:
    @pytest.mark.parametrize(
        ("starts_with", "ends_with", "passing"),
        [
            ((), (), ["news", "presence-room", "private-team.orders"]),
            (("presence-",), (), ["presence-room"]),
            (("presence-", "private-"), (), ["presence-room", "private-team.orders"]),
            (("private-",), (".orders",), ["private-team.orders"]),
            ((), (".orders", "room"), ["presence-room", "private-team.orders"]),
        ],
    )
    def test_a_channel_passes_when_it_starts_and_ends_as_the_filter_says(
        self, starts_with: tuple[str, ...], ends_with: tuple[str, ...], passing: list[str]
    ) -> None:
        channel_filter = ChannelFilter(starts_with=starts_with, ends_with=ends_with)
        channels = ["news", "presence-room", "private-team.orders"]
        assert [channel for channel in channels if channel_filter.passes(channel)] == passing

    def test_an_endpoint_wants_an_event_of_its_types_on_a_channel_its_filter_passes(self) -> None:
        target = WebhookTarget(
            url="http://127.0.0.1/h",
            event_types=frozenset({"member_added"}),
            filter=ChannelFilter(starts_with=("presence-",)),
        )
        assert target.wants(webhooks.member_added("presence-room", "ada"))
        assert not target.wants(webhooks.member_added("private-room", "ada"))
        assert not target.wants(webhooks.channel_occupied("presence-room"))


class TestExtraHeaders:
    @pytest.mark.parametrize("name", ["X-Api-Key", "Authorization", "x-tenant_id", "X-B3-TraceId"])
    def test_a_token_name_with_a_printable_ascii_value_may_be_sent(self, name: str) -> None:
        assert header_problem(name, "Bearer abc.def-123 \t~") is None

    @pytest.mark.parametrize("name", sorted(RESERVED_HEADERS) + ["X-PUSHER-SIGNATURE", "content-Type"])
    def test_a_name_that_signing_or_framing_owns_is_refused_in_any_case(self, name: str) -> None:
        problem = header_problem(name, "value")
        assert problem is not None and "cannot be replaced" in problem

    @pytest.mark.parametrize(
        ("name", "value", "says"),
        [
            ("X Api", "v", "not a header name"),
            ("X-Api:", "v", "not a header name"),
            ("", "v", "not a header name"),
            ("X-Api", "secret\r\nX-Admin: 1", "control character"),
            ("X-Api", "secret\x00", "control character"),
            ("X-Api", "secret\x7f", "control character"),
            ("X-Api", "sécret", "not ASCII"),
            ("X-Api", "s" * (MAX_HEADER_VALUE_CHARS + 1), "longer than"),
        ],
    )
    def test_a_bad_name_or_value_is_refused_without_quoting_the_value(self, name: str, value: str, says: str) -> None:
        problem = header_problem(name, value)
        assert problem is not None and says in problem
        assert "secret" not in problem and "sécret" not in problem
