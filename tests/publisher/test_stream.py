"""ReplyStream: token-by-token replies arrive complete, in order, as few events, and always end with a final event."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from pusherpy.protocol.errors import InvalidState
from pusherpy.publisher import AsyncPusher, DataTooLarge, InvalidArgument, NotFound, ServerError, decrypt

from .conftest import MASTER_KEY_B64, RecordingServer

MASTER_KEY = base64.b64decode(MASTER_KEY_B64)


def tokens(count: int) -> list[str]:
    """LLM-like tokens, with the characters JSON must escape and some non-ASCII."""
    words = ["The", " quick", ' "brown"', " fox\n", " jumps\\", " über", " 🦊", "\t", " lazy", " dog."]
    return [words[i % len(words)] + (f"{i}" if i % 7 == 0 else "") for i in range(count)]


def published(server: RecordingServer, channel: str = "private-chat") -> list[tuple[str, dict[str, Any]]]:
    """The (event name, decoded data) of every event the stream published, in arrival order."""
    events = []
    for request in server.requests:
        body = request.json
        assert body["channels"] == [channel]
        data = body["data"]
        if channel.startswith("private-encrypted-"):
            data = decrypt(channel, data, MASTER_KEY)
        events.append((body["name"], json.loads(data)))
    return events


def rebuild(events: list[dict[str, Any]]) -> str:
    """What a receiver does: order by sequence, check for gaps, concatenate chunks up to the final event."""
    ordered = sorted(events, key=lambda data: data["sequence"])
    assert [data["sequence"] for data in ordered] == list(range(len(ordered)))
    assert [data["final"] for data in ordered] == [False] * (len(ordered) - 1) + [True]
    return "".join(data["chunk"] for data in ordered)


async def test_2000_tokens_at_full_speed_arrive_complete_in_order_as_few_events(
    recording_server: RecordingServer,
) -> None:
    reply = tokens(2000)
    async with recording_server.async_pusher() as pusher:
        async with pusher.stream("private-chat", "reply", message_id="m-1", extra={"conversationId": 9}) as stream:
            for token in reply:
                await stream.send(token)
                await asyncio.sleep(0)  # a model's stream yields to the loop between tokens
    events = published(recording_server)
    assert 2 <= len(events) < len(reply) / 20
    data = [payload for _, payload in events]
    assert [payload["sequence"] for payload in data] == list(range(len(data)))  # arrival order is sequence order
    assert rebuild(data) == "".join(reply)
    assert all(payload["messageId"] == "m-1" and payload["conversationId"] == 9 for payload in data)
    assert all(name == "reply" for name, _ in events)
    assert "error" not in data[-1]


async def test_slow_tokens_are_sent_as_they_come(recording_server: RecordingServer) -> None:
    async with recording_server.async_pusher() as pusher:
        async with pusher.stream("private-chat", "reply", interval=0) as stream:
            for token in ["Hel", "lo"]:
                recording_server.arrived.clear()
                await stream.send(token)
                await asyncio.wait_for(recording_server.arrived.wait(), 5)
    assert [data["chunk"] for _, data in published(recording_server)] == ["Hel", "lo", ""]


async def test_exception_inside_the_block_sends_a_final_event_with_an_error(
    recording_server: RecordingServer,
) -> None:
    async with recording_server.async_pusher() as pusher:
        with pytest.raises(ZeroDivisionError):
            async with pusher.stream("private-chat", "reply", done_event="reply-done") as stream:
                await stream.send("partial ")
                await stream.send("answer")
                raise ZeroDivisionError
    events = published(recording_server)
    name, final = events[-1]
    assert name == "reply-done"
    assert final["final"] is True
    assert final["error"] == "ZeroDivisionError"
    assert rebuild([data for _, data in events]) == "partial answer"


async def test_cancellation_sends_a_final_event_with_an_error(recording_server: RecordingServer) -> None:
    started = asyncio.Event()

    async def produce(pusher: AsyncPusher) -> None:
        async with pusher.stream("private-chat", "reply") as stream:
            await stream.send("so far")
            started.set()
            await asyncio.Event().wait()  # the client went away; the task is cancelled

    async with recording_server.async_pusher() as pusher:
        task = asyncio.create_task(produce(pusher))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    events = [data for _, data in published(recording_server)]
    assert events[-1]["error"] == "cancelled"
    assert rebuild(events) == "so far"


async def test_explicit_close_with_an_error_message(recording_server: RecordingServer) -> None:
    async with recording_server.async_pusher() as pusher:
        stream = pusher.stream("private-chat", "reply")
        await stream.send("x")
        await stream.close(error="model overloaded")
        await stream.close()  # idempotent
        with pytest.raises(InvalidState):
            await stream.send("y")
    events = [data for _, data in published(recording_server)]
    assert events[-1]["error"] == "model overloaded"
    assert rebuild(events) == "x"


async def test_chunk_over_the_size_limit_is_split_across_events(recording_server: RecordingServer) -> None:
    text = ('"quoted" \\ \x01 ünïcode 🦊 ' * 300)[:5000]
    async with recording_server.async_pusher(max_data_size=1000) as pusher:
        async with pusher.stream("private-chat", "reply") as stream:
            await stream.send(text)
    sizes = [len(request.json["data"].encode()) for request in recording_server.requests]
    assert len(sizes) > 5
    assert max(sizes) <= 1000
    assert rebuild([data for _, data in published(recording_server)]) == text


async def test_encrypted_channel_stream_is_split_to_fit_after_encryption(recording_server: RecordingServer) -> None:
    text = "secret reply " * 400
    async with recording_server.async_pusher(max_data_size=1500, encryption_master_key_base64=MASTER_KEY_B64) as pusher:
        async with pusher.stream("private-encrypted-chat", "reply") as stream:
            await stream.send(text)
    assert max(len(request.json["data"].encode()) for request in recording_server.requests) <= 1500
    events = [data for _, data in published(recording_server, "private-encrypted-chat")]
    assert rebuild(events) == text


async def test_failed_chunk_is_raised_on_exit_after_a_final_error_event(recording_server: RecordingServer) -> None:
    recording_server.reply(500, {"error": "broker down"})
    async with recording_server.async_pusher(retries=0) as pusher:
        with pytest.raises(ServerError, match="broker down"):
            async with pusher.stream("private-chat", "reply") as stream:
                await stream.send("lost")
                await asyncio.wait_for(recording_server.arrived.wait(), 5)
                await stream.send(" later")
    (_, lost), (_, final) = published(recording_server)
    assert lost["chunk"] == "lost"
    assert (final["sequence"], final["chunk"], final["final"], final["error"]) == (0, "", True, "publish failed")


async def test_failed_final_event_is_followed_by_an_error_final(recording_server: RecordingServer) -> None:
    recording_server.reply(500, {"error": "broker down"})
    async with recording_server.async_pusher(retries=0) as pusher:
        stream = pusher.stream("private-chat", "reply")
        await stream.send("all at once")
        with pytest.raises(ServerError):
            await stream.close()
    (_, refused), (_, final) = published(recording_server)
    assert (refused["chunk"], refused["final"]) == ("all at once", True)
    assert (final["sequence"], final["error"]) == (0, "publish failed")


async def test_send_after_a_failed_chunk_raises_the_failure(recording_server: RecordingServer) -> None:
    recording_server.reply(404, {"error": "no such app"})
    async with recording_server.async_pusher() as pusher:
        stream = pusher.stream("private-chat", "reply", interval=0)
        with pytest.raises(NotFound):  # close() reports the failure again on the way out
            async with stream:
                await stream.send("a")
                await asyncio.wait_for(recording_server.arrived.wait(), 5)
                with pytest.raises(NotFound, match="no such app"):
                    for _ in range(5_000):  # until the failed response has been read
                        await stream.send("b")
                        await asyncio.sleep(0.001)


async def test_empty_stream_sends_only_the_final_event(recording_server: RecordingServer) -> None:
    async with recording_server.async_pusher() as pusher:
        async with pusher.stream("private-chat", "reply") as stream:
            await stream.send("")
        assert stream.events_sent == 1
    assert [data["chunk"] for _, data in published(recording_server)] == [""]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"extra": {"chunk": "x"}}, InvalidArgument),
        ({"extra": {"sequence": 1}}, InvalidArgument),
        ({"interval": -1}, InvalidArgument),
        ({"done_event": ""}, InvalidArgument),
        ({"extra": {"blob": "x" * 20_000}}, DataTooLarge),
    ],
)
async def test_bad_stream_arguments_are_refused_up_front(
    recording_server: RecordingServer, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    async with recording_server.async_pusher() as pusher:
        with pytest.raises(error):
            pusher.stream("private-chat", "reply", **kwargs)
        with pytest.raises(InvalidArgument):
            pusher.stream("bad channel", "reply")
    assert recording_server.requests == []


async def test_non_string_chunk_is_refused(recording_server: RecordingServer) -> None:
    async with recording_server.async_pusher() as pusher:
        async with pusher.stream("private-chat", "reply") as stream:
            with pytest.raises(InvalidArgument):
                await stream.send(b"bytes")  # type: ignore[arg-type]
