"""Sending a message: it is stored and broadcast, and the assistant's reply streams through the OpenAI SDK.

Each test listens on ``private-conversation.1`` like a browser (subscribed through the backend's auth endpoint)
and compares what was broadcast with what SQLite stored.
"""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from examples.chat.backend import events
from examples.chat.backend.api import ASSISTANT
from examples.chat.backend.assistant import SHUTDOWN_ERROR
from examples.chat.backend.model import FAILURE_MESSAGE, reply_for, words
from examples.chat.launcher import ChatStack
from tests.example.conftest import StartChat
from tests.example.support import listener, logged_in, stored_message

CHANNEL = events.conversation_channel(1)


def expected_reply(content: str) -> str:
    return reply_for([{"role": "user", "content": content}])


def chunks_of(received: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(e["data"]["sequence"], e["data"]["chunk"]) for e in received if e["event"] == events.STREAMING_CHUNK]


async def test_the_sdk_streams_the_builtin_models_reply_word_by_word(chat: ChatStack) -> None:
    question: list[ChatCompletionMessageParam] = [{"role": "user", "content": "stream please"}]
    async with AsyncOpenAI(api_key="any", base_url=chat.model_url, max_retries=0) as client:
        stream = await client.chat.completions.create(model="pusherpy-builtin", messages=question, stream=True)
        pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert pieces == words(expected_reply("stream please"))
    assert len(pieces) > 10


async def test_a_message_and_its_reply_are_broadcast_in_order_and_stored_as_sent(chat: ChatStack) -> None:
    async with logged_in(chat, "alice") as alice, listener(chat) as socket:
        await socket.subscribe(alice, CHANNEL)
        sent = await alice.send(1, "  hello everyone  ")
        question, reply = sent["message"], sent["reply"]
        assert (question["content"], question["role"], question["user"]["id"]) == ("hello everyone", "user", "alice")
        assert (reply["content"], reply["role"], reply["status"]) == ("", "assistant", "streaming")
        received = await socket.reply_events(reply["id"])

    first, second, *streamed, last = [e for e in socket.received]
    assert (first["event"], first["channel"]) == ("App\\Events\\MessageCreated", CHANNEL)
    assert {k: first["data"][k] for k in ("id", "role", "content")} == {
        "id": question["id"],
        "role": "user",
        "content": "hello everyone",
    }
    assert first["data"]["created_at"] == question["created_at"]
    assert second["event"] == "App\\Events\\MessageCreated"
    assert {k: second["data"][k] for k in ("id", "role", "content")} == {
        "id": reply["id"],
        "role": "assistant",
        "content": "",
    }
    assert {e["event"] for e in streamed} == {"App\\Events\\StreamingChunk"}
    assert [e["data"]["sequence"] for e in streamed] == list(range(len(streamed)))
    assert all(e["data"]["conversationId"] == 1 and e["data"]["messageId"] == reply["id"] for e in streamed)
    text = "".join(e["data"]["chunk"] for e in streamed)
    assert text == expected_reply("hello everyone")
    assert last["event"] == "App\\Events\\MessageCompleted"
    assert last["data"]["content"] == text
    assert last in received

    row = stored_message(chat.config.database, reply["id"])
    assert (row["status"], row["content"], row["error"]) == ("complete", text, None)
    assert row["chunks"] == chunks_of(socket.received)


async def test_a_provider_failure_mid_stream_is_stored_and_broadcast(start_chat: StartChat) -> None:
    stack = await start_chat(fail_after_words=4)
    async with logged_in(stack, "bob") as bob, listener(stack) as socket:
        await socket.subscribe(bob, CHANNEL)
        reply = (await bob.send(1, "please fail"))["reply"]
        received = await socket.reply_events(reply["id"])
        listed = {m["id"]: m for m in await bob.messages(1)}

    partial = "".join(words(expected_reply("please fail"))[:4])
    assert [chunk for _, chunk in chunks_of(received)] == words(partial)
    failed = received[-1]
    assert failed["event"] == "App\\Events\\StreamFailed"
    assert failed["data"]["error"] == f"APIError: {FAILURE_MESSAGE}"
    assert failed["data"]["content"] == partial
    row = stored_message(stack.config.database, reply["id"])
    assert (row["status"], row["content"], row["error"]) == ("failed", partial, f"APIError: {FAILURE_MESSAGE}")
    assert (listed[reply["id"]]["status"], listed[reply["id"]]["error"]) == ("failed", row["error"])


async def test_an_unreachable_model_fails_the_reply_instead_of_hanging(start_chat: StartChat) -> None:
    other = await start_chat()
    stack = await start_chat(openai_api_key="sk-test", openai_base_url=f"{other.pusher_url}/no-model-here/v1")
    async with logged_in(stack, "alice") as alice, listener(stack) as socket:
        await socket.subscribe(alice, CHANNEL)
        reply = (await alice.send(1, "anyone there?"))["reply"]
        received = await socket.reply_events(reply["id"])

    assert [e["event"] for e in received] == [events.MESSAGE_CREATED, events.STREAM_FAILED]
    assert received[-1]["data"]["error"].startswith("NotFoundError: ")
    assert stored_message(stack.config.database, reply["id"])["status"] == "failed"


async def test_with_an_openai_key_the_configured_provider_and_model_are_used(start_chat: StartChat) -> None:
    provider = await start_chat()  # its built-in model stands in for a real provider
    stack = await start_chat(openai_api_key="sk-test", openai_base_url=provider.model_url, openai_model="gpt-test")
    assert (stack.config.model.base_url, stack.config.model.model) == (provider.model_url, "gpt-test")
    async with logged_in(stack, "alice") as alice, listener(stack) as socket:
        await socket.subscribe(alice, CHANNEL)
        reply = (await alice.send(1, "real provider"))["reply"]
        received = await socket.reply_events(reply["id"])
    assert received[-1]["data"]["content"] == expected_reply("real provider")


async def test_a_reader_mid_stream_gets_the_stored_text_and_its_last_sequence(start_chat: StartChat) -> None:
    stack = await start_chat(word_delay=0.05)
    async with logged_in(stack, "alice") as alice, logged_in(stack, "carol") as carol, listener(stack) as socket:
        await socket.subscribe(alice, CHANNEL)
        reply = (await alice.send(1, "tell me more"))["reply"]
        while len(chunks_of(socket.received)) < 3:
            await socket.expect(events.STREAMING_CHUNK)
        middle = {m["id"]: m for m in await carol.messages(1)}[reply["id"]]
        received = await socket.reply_events(reply["id"])

    live = chunks_of(received)
    assert middle["status"] == "streaming"
    assert 2 <= middle["last_sequence"] < len(live) - 1
    assert middle["content"] == "".join(chunk for sequence, chunk in live if sequence <= middle["last_sequence"])
    rest = "".join(chunk for sequence, chunk in live if sequence > middle["last_sequence"])
    assert middle["content"] + rest == received[-1]["data"]["content"] == expected_reply("tell me more")


async def test_shutting_down_mid_stream_fails_the_reply_for_everyone(start_chat: StartChat) -> None:
    stack = await start_chat(word_delay=0.2)
    async with logged_in(stack, "alice") as alice, listener(stack) as socket:
        await socket.subscribe(alice, CHANNEL)
        reply = (await alice.send(1, "a long answer please"))["reply"]
        await socket.expect(events.STREAMING_CHUNK)
        await stack.backend[ASSISTANT].aclose()  # what the backend's cleanup does first on shutdown
        received = await socket.reply_events(reply["id"])

    assert received[-1]["event"] == events.STREAM_FAILED
    assert received[-1]["data"]["error"] == SHUTDOWN_ERROR
    row = stored_message(stack.config.database, reply["id"])
    assert (row["status"], row["error"]) == ("failed", SHUTDOWN_ERROR)
    assert row["content"] == "".join(chunk for _, chunk in chunks_of(received))


async def test_an_empty_or_oversized_message_gets_422(chat: ChatStack) -> None:
    async with logged_in(chat, "alice") as alice:
        blank = await alice.call("POST", "api/conversations/1/messages", json_body={"content": "   "})
        huge = await alice.call("POST", "api/conversations/1/messages", json_body={"content": "x" * 4001})
        assert await alice.messages(1) == []
    assert blank == (422, {"error": "content must be a non-empty string"})
    assert huge == (422, {"error": "content is longer than 4000 characters"})
