"""Publishing through the signed HTTP API: POST /apps/{id}/events and /batch_events (PROTOCOL.md §2).

Events published here must reach real WebSocket subscribers, exactly as the official SDKs publish them.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pusher
import pytest

from pusherpy.protocol import signing
from tests.conftest import ServerFactory
from tests.helpers import RunningServer, api_request, connect, make_app, trigger


def events_path(server: RunningServer) -> str:
    return f"/apps/{server.app.id}/events"


def batch_path(server: RunningServer) -> str:
    return f"/apps/{server.app.id}/batch_events"


def official_sdk(server: RunningServer) -> pusher.Pusher:
    """The PyPI ``pusher`` SDK (pusher-http-python), pointed at the test server."""
    app = server.app
    return pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret, ssl=False, host=server.host, port=server.port)


class TestTrigger:
    async def test_event_reaches_a_subscriber_with_its_name_channel_and_data(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("news")
            status, body = await trigger(server, "news", "headline", {"title": "hello"})
            assert (status, body) == (200, {})
            event = await client.expect("headline", channel="news")
        assert event == {"event": "headline", "channel": "news", "data": {"title": "hello"}}

    async def test_data_goes_to_subscribers_as_the_exact_string_the_publisher_sent(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("news")
            await trigger(server, "news", "raw", "not json at all")
            event = await client.expect("raw", channel="news")
        assert event["data"] == "not json at all"

    async def test_single_channel_field_is_accepted_like_channels(self, server: RunningServer) -> None:
        async with connect(server) as client:
            await client.subscribe("news")
            body = {"name": "headline", "channel": "news", "data": '{"n":1}'}
            status, reply = await api_request(server, "POST", events_path(server), body=body)
            assert (status, reply) == (200, {})
            event = await client.expect("headline", channel="news")
        assert event["data"] == {"n": 1}

    async def test_event_on_several_channels_reaches_each_channel_once(self, server: RunningServer) -> None:
        async with connect(server) as both, connect(server) as sport_only:
            await both.subscribe("news")
            await both.subscribe("sport")
            await sport_only.subscribe("sport")
            status, _ = await trigger(server, ["news", "sport"], "headline", {"n": 1})
            assert status == 200
            received = {(await both.expect("headline"))["channel"], (await both.expect("headline"))["channel"]}
            assert received == {"news", "sport"}
            assert (await sport_only.expect("headline"))["channel"] == "sport"
            await both.expect_nothing()
            await sport_only.expect_nothing()

    async def test_hundred_channels_are_accepted(self, server: RunningServer) -> None:
        channels = [f"ch-{n}" for n in range(100)]
        async with connect(server) as client:
            await client.subscribe("ch-99")
            status, _ = await trigger(server, channels, "wide", {})
            assert status == 200
            assert (await client.expect("wide"))["channel"] == "ch-99"

    async def test_socket_id_excludes_that_socket_only(self, server: RunningServer) -> None:
        async with connect(server) as sender, connect(server) as other:
            await sender.subscribe("news")
            await other.subscribe("news")
            status, _ = await trigger(server, "news", "headline", {"n": 1}, socket_id=sender.socket_id)
            assert status == 200
            assert (await other.expect("headline"))["data"] == {"n": 1}
            await sender.expect_nothing()

    async def test_info_reports_user_count_for_presence_and_subscription_count_for_each_channel(
        self, server: RunningServer
    ) -> None:
        async with connect(server) as alice, connect(server) as alice_again, connect(server) as bob:
            await alice.subscribe("presence-room", user_id="alice")
            await alice_again.subscribe("presence-room", user_id="alice")
            await bob.subscribe("presence-room", user_id="bob")
            await alice.subscribe("news")
            status, reply = await trigger(
                server, ["presence-room", "news"], "hello", {}, info="user_count,subscription_count"
            )
        assert status == 200
        assert reply == {
            "channels": {
                "presence-room": {"user_count": 2, "subscription_count": 3},
                "news": {"subscription_count": 1},
            }
        }

    async def test_info_on_an_empty_channel_reports_zero(self, server: RunningServer) -> None:
        status, reply = await trigger(server, "nobody-here", "hello", {}, info="subscription_count")
        assert (status, reply) == (200, {"channels": {"nobody-here": {"subscription_count": 0}}})

    async def test_unknown_info_attribute_is_refused(self, server: RunningServer) -> None:
        status, reply = await trigger(server, "news", "hello", {}, info="colour")
        assert status == 400
        assert "colour" in reply["error"]

    async def test_data_at_the_apps_limit_is_accepted_and_one_byte_more_gets_413(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(max_event_payload_kb=1))
        async with connect(server) as client:
            await client.subscribe("news")
            status, _ = await trigger(server, "news", "fits", "x" * 1024)
            assert status == 200
            assert (await client.expect("fits"))["data"] == "x" * 1024
            status, reply = await trigger(server, "news", "too-big", "x" * 1025)
            assert status == 413
            assert "1 KB" in reply["error"]
            await client.expect_nothing()

    async def test_the_official_python_sdk_triggers_to_a_subscriber(self, server: RunningServer) -> None:
        sdk = official_sdk(server)
        async with connect(server) as client, connect(server) as excluded:
            await client.subscribe("private-orders")
            await excluded.subscribe("private-orders")
            reply = await asyncio.to_thread(
                sdk.trigger, ["private-orders"], "order-placed", {"id": 7}, excluded.socket_id
            )
            assert reply == {}
            event = await client.expect("order-placed", channel="private-orders")
            assert event["data"] == {"id": 7}
            await excluded.expect_nothing()


class TestBatch:
    async def test_each_event_reaches_its_channel_in_order(self, server: RunningServer) -> None:
        batch = [{"name": f"e{n}", "channel": "news" if n % 2 else "sport", "data": str(n)} for n in range(10)]
        async with connect(server) as client:
            await client.subscribe("news")
            await client.subscribe("sport")
            status, reply = await api_request(server, "POST", batch_path(server), body={"batch": batch})
            assert (status, reply) == (200, {})
            received = [await client.receive() for _ in range(10)]
        assert [(m["event"], m["channel"], m["data"]) for m in received] == [
            (item["name"], item["channel"], int(item["data"])) for item in batch
        ]

    async def test_per_item_info_is_returned_in_request_order(self, server: RunningServer) -> None:
        async with connect(server) as alice, connect(server) as bob:
            await alice.subscribe("presence-room", user_id="alice")
            await bob.subscribe("presence-room", user_id="bob")
            await bob.subscribe("news")
            batch = [
                {"name": "a", "channel": "presence-room", "data": "{}", "info": "user_count,subscription_count"},
                {"name": "b", "channel": "news", "data": "{}"},
                {"name": "c", "channel": "news", "data": "{}", "info": "subscription_count"},
            ]
            status, reply = await api_request(server, "POST", batch_path(server), body={"batch": batch})
        assert status == 200
        assert reply == {
            "batch": [{"user_count": 2, "subscription_count": 2}, {}, {"subscription_count": 1}],
        }

    async def test_socket_id_in_a_batch_item_excludes_that_socket(self, server: RunningServer) -> None:
        async with connect(server) as sender, connect(server) as other:
            await sender.subscribe("news")
            await other.subscribe("news")
            item = {"name": "e", "channel": "news", "data": "{}", "socket_id": sender.socket_id}
            status, _ = await api_request(server, "POST", batch_path(server), body={"batch": [item]})
            assert status == 200
            await other.expect("e")
            await sender.expect_nothing()

    async def test_more_than_ten_events_are_refused_and_none_is_published(self, server: RunningServer) -> None:
        batch = [{"name": "e", "channel": "news", "data": "{}"} for _ in range(11)]
        async with connect(server) as client:
            await client.subscribe("news")
            status, reply = await api_request(server, "POST", batch_path(server), body={"batch": batch})
            assert status == 400
            assert "10" in reply["error"]
            await client.expect_nothing()

    async def test_one_invalid_item_refuses_the_whole_batch(self, server: RunningServer) -> None:
        batch = [
            {"name": "ok", "channel": "news", "data": "{}"},
            {"name": "bad", "channel": "bad channel!", "data": ""},
        ]
        async with connect(server) as client:
            await client.subscribe("news")
            status, reply = await api_request(server, "POST", batch_path(server), body={"batch": batch})
            assert status == 400
            assert "error" in reply
            await client.expect_nothing()

    async def test_item_data_over_the_apps_limit_gets_413(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(max_event_payload_kb=1))
        batch = [{"name": "e", "channel": "news", "data": "x" * 1025}]
        status, reply = await api_request(server, "POST", batch_path(server), body={"batch": batch})
        assert status == 413
        assert "error" in reply

    async def test_the_official_python_sdk_sends_a_batch(self, server: RunningServer) -> None:
        sdk = official_sdk(server)
        async with connect(server) as client:
            await client.subscribe("news")
            batch = [
                {"channel": "news", "name": "one", "data": {"n": 1}},
                {"channel": "news", "name": "two", "data": "2"},
            ]
            assert await asyncio.to_thread(sdk.trigger_batch, batch) == {}
            assert (await client.expect("one"))["data"] == {"n": 1}
            assert (await client.expect("two"))["data"] == 2


INVALID_EVENTS: list[tuple[str, Any, str]] = [
    ("missing name", {"channels": ["news"], "data": "{}"}, "name"),
    ("missing data", {"name": "e", "channels": ["news"]}, "data"),
    ("missing channels", {"name": "e", "data": "{}"}, "channels"),
    ("empty channels", {"name": "e", "channels": [], "data": "{}"}, "channels"),
    ("channels not a list", {"name": "e", "channels": "news", "data": "{}"}, "channels"),
    ("bad channel name", {"name": "e", "channels": ["no spaces"], "data": "{}"}, "no spaces"),
    ("channel name too long", {"name": "e", "channels": ["c" * 201], "data": "{}"}, "ccc"),
    ("101 channels", {"name": "e", "channels": [f"c{n}" for n in range(101)], "data": "{}"}, "100"),
    (
        "encrypted channel with others",
        {"name": "e", "channels": ["private-encrypted-x", "news"], "data": "{}"},
        "encrypted",
    ),
    ("event name too long", {"name": "e" * 201, "channels": ["news"], "data": "{}"}, "name"),
    ("bad socket_id", {"name": "e", "channels": ["news"], "data": "{}", "socket_id": "abc"}, "socket_id"),
    ("socket_id not a string", {"name": "e", "channels": ["news"], "data": "{}", "socket_id": 12}, "socket_id"),
]


class TestInvalidBodies:
    @pytest.mark.parametrize(
        ("body", "mentions"), [case[1:] for case in INVALID_EVENTS], ids=[c[0] for c in INVALID_EVENTS]
    )
    async def test_invalid_event_gets_400_naming_the_problem_and_publishes_nothing(
        self, server: RunningServer, body: dict[str, Any], mentions: str
    ) -> None:
        async with connect(server) as client:
            await client.subscribe("news")
            status, reply = await api_request(server, "POST", events_path(server), body=body)
            assert status == 400
            assert mentions in reply["error"]
            await client.expect_nothing()

    @pytest.mark.parametrize(
        "raw", [b"not json", b'["a list"]', b'"a string"', b"\xff\xfe"], ids=["not-json", "list", "string", "not-utf8"]
    )
    async def test_body_that_is_not_a_json_object_gets_400(self, server: RunningServer, raw: bytes) -> None:
        status, reply = await post_raw(server, events_path(server), raw)
        assert status == 400
        assert "JSON" in reply["error"]

    @pytest.mark.parametrize(
        "body",
        [{}, {"batch": []}, {"batch": "x"}, {"batch": ["x"]}],
        ids=["no-batch", "empty", "not-a-list", "item-not-object"],
    )
    async def test_batch_that_is_not_a_list_of_event_objects_gets_400(
        self, server: RunningServer, body: dict[str, Any]
    ) -> None:
        status, reply = await api_request(server, "POST", batch_path(server), body=body)
        assert status == 400
        assert "batch" in reply["error"]

    async def test_batch_item_with_channels_instead_of_channel_gets_400(self, server: RunningServer) -> None:
        item = {"name": "e", "channels": ["news"], "data": "{}"}
        status, reply = await api_request(server, "POST", batch_path(server), body={"batch": [item]})
        assert status == 400
        assert "channel" in reply["error"]


async def post_raw(server: RunningServer, path: str, raw: bytes) -> tuple[int, Any]:
    """POST a raw body, correctly signed."""
    app = server.app
    query = signing.signed_query(app.key, app.secret, "POST", path, timestamp=int(time.time()), body=raw)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.http_url + path, params=query, data=raw) as response:
            return response.status, json.loads(await response.read())
