"""``channel_history``: the signed request both clients send, and how they read 200, 404 and 410 answers.

The recording server verifies each request's signature (path and sorted query) as a Pusher server does.
"""

from __future__ import annotations

from typing import Any

import pytest

from pusherpy.publisher import HistoryGone, InvalidArgument, NotFound, UnexpectedStatus

from .conftest import APP_ID, EitherClient, RecordingServer

PAGE = {
    "events": [
        {"serial": 1_700_000_000_000_001, "event": "message", "data": '{"text":"hi"}', "published_at": 1_700_000_000},
        {"serial": 1_700_000_000_000_002, "event": "message", "data": "plain", "published_at": 1_700_000_001},
    ],
    "position": 1_700_000_000_000_002,
    "oldest": 1_700_000_000_000_001,
}


class TestRequest:
    async def test_after_and_limit_go_in_the_signed_query(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        recording_server.reply(200, PAGE)
        assert await client.call("channel_history", "private-chat.7", after=1_700_000_000_000_000, limit=10) == PAGE
        (request,) = recording_server.requests
        assert (request.method, request.path) == ("GET", f"/apps/{APP_ID}/channels/private-chat.7/events")
        assert (request.query["after"], request.query["limit"]) == ("1700000000000000", "10")

    async def test_without_after_only_the_default_limit_is_sent(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        recording_server.reply(200, {"events": [], "position": 5, "oldest": None})
        assert await client.call("channel_history", "presence-room@1") == {"events": [], "position": 5, "oldest": None}
        (request,) = recording_server.requests
        assert request.path == f"/apps/{APP_ID}/channels/presence-room@1/events"
        assert "after" not in request.query and request.query["limit"] == "100"

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"after": -1}, "after"),
            ({"after": "5"}, "after"),
            ({"after": True}, "after"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"limit": 2.5}, "limit"),
        ],
    )
    async def test_bad_arguments_are_refused_before_sending(
        self, client: EitherClient, recording_server: RecordingServer, kwargs: dict[str, Any], match: str
    ) -> None:
        with pytest.raises(InvalidArgument, match=match):
            await client.call("channel_history", "chat", **kwargs)
        with pytest.raises(InvalidArgument, match="channel"):
            await client.call("channel_history", "bad channel")
        assert recording_server.requests == []


class TestAnswers:
    async def test_410_raises_history_gone_with_the_position_and_oldest(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        recording_server.reply(410, {"error": "events after 3 are no longer kept", "position": 90, "oldest": 41})
        with pytest.raises(HistoryGone, match="no longer kept") as caught:
            await client.call("channel_history", "chat", after=3)
        assert (caught.value.status, caught.value.position, caught.value.oldest) == (410, 90, 41)
        assert len(recording_server.requests) == 1  # a final answer: not retried

    async def test_410_without_a_json_body_still_raises_history_gone(
        self, client: EitherClient, recording_server: RecordingServer
    ) -> None:
        recording_server.reply(410, "Gone")
        with pytest.raises(HistoryGone) as caught:
            await client.call("channel_history", "chat", after=3)
        assert (caught.value.position, caught.value.oldest) == (None, None)

    async def test_404_raises_not_found(self, client: EitherClient, recording_server: RecordingServer) -> None:
        recording_server.reply(404, {"error": "no history rule matches chat"})
        with pytest.raises(NotFound, match="no history rule"):
            await client.call("channel_history", "chat")

    @pytest.mark.parametrize(
        "body",
        [
            {"channels": {}},
            {"events": [], "position": "5", "oldest": None},
            {"events": [{"serial": 1, "event": "e"}], "position": 1, "oldest": 1},
            {"events": [{"serial": True, "event": "e", "data": "d", "published_at": 1}], "position": 1, "oldest": 1},
        ],
    )
    async def test_a_200_that_is_not_a_history_page_is_an_unexpected_status(
        self, client: EitherClient, recording_server: RecordingServer, body: dict[str, Any]
    ) -> None:
        recording_server.reply(200, body)
        with pytest.raises(UnexpectedStatus, match="history"):
            await client.call("channel_history", "chat")
