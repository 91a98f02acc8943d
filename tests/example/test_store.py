"""The conversation store on a real SQLite file: messages, streamed replies and their chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from examples.chat.backend.store import RESTART_ERROR, ConversationStore, Role, Status, StoreError

SEED = [("Room", ["alice", "bob"]), ("Other", ["carol"])]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ConversationStore]:
    opened = ConversationStore(tmp_path / "nested" / "chat.sqlite3", SEED)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_the_first_start_creates_the_file_and_the_seed_conversations(store: ConversationStore) -> None:
    assert [(c.id, c.title, c.member_ids) for c in await store.conversations_of("alice")] == [
        (1, "Room", ("alice", "bob"))
    ]
    assert await store.is_member(2, "carol")
    assert not await store.is_member(2, "alice")


async def test_a_completed_stream_stores_the_chunks_joined_in_order(store: ConversationStore) -> None:
    question = await store.add_user_message(1, "alice", "hello?")
    answer = await store.start_assistant_message(1)
    assert (answer.role, answer.status, answer.content, answer.last_sequence) == (
        Role.ASSISTANT,
        Status.STREAMING,
        "",
        -1,
    )
    for sequence, chunk in enumerate(["Hi ", "there", ", Alice."]):
        await store.append_chunk(answer.id, sequence, chunk)
    done = await store.complete_stream(answer.id)
    assert (done.status, done.content, done.last_sequence) == (Status.COMPLETE, "Hi there, Alice.", 2)
    assert [(m.id, m.content) for m in await store.messages(1)] == [
        (question.id, "hello?"),
        (answer.id, "Hi there, Alice."),
    ]


async def test_a_streaming_message_reads_as_its_stored_chunks_so_far(store: ConversationStore) -> None:
    answer = await store.start_assistant_message(1)
    await store.append_chunk(answer.id, 0, "Once ")
    await store.append_chunk(answer.id, 1, "upon")
    (streaming,) = await store.messages(1)
    assert (streaming.status, streaming.content, streaming.last_sequence) == (Status.STREAMING, "Once upon", 1)


async def test_chunks_must_come_in_sequence_without_gaps_or_repeats(store: ConversationStore) -> None:
    answer = await store.start_assistant_message(1)
    await store.append_chunk(answer.id, 0, "a")
    with pytest.raises(StoreError, match="chunk 2 after 0"):
        await store.append_chunk(answer.id, 2, "c")
    with pytest.raises(StoreError, match="chunk 0 after 0"):
        await store.append_chunk(answer.id, 0, "a again")
    assert (await store.message(answer.id)).content == "a"  # type: ignore[union-attr]


async def test_a_failed_stream_keeps_its_chunks_and_the_error(store: ConversationStore) -> None:
    answer = await store.start_assistant_message(1)
    await store.append_chunk(answer.id, 0, "Half a ")
    failed = await store.fail_stream(answer.id, "APIError: boom")
    assert (failed.status, failed.content, failed.error) == (Status.FAILED, "Half a ", "APIError: boom")


async def test_a_finished_stream_takes_no_more_chunks_and_cannot_finish_twice(store: ConversationStore) -> None:
    answer = await store.start_assistant_message(1)
    await store.complete_stream(answer.id)
    with pytest.raises(StoreError, match="not streaming"):
        await store.append_chunk(answer.id, 0, "late")
    with pytest.raises(StoreError, match="not streaming"):
        await store.fail_stream(answer.id, "too late")


async def test_a_restart_fails_the_replies_the_previous_run_left_streaming(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    first = ConversationStore(path, SEED)
    await first.open()
    answer = await first.start_assistant_message(1)
    await first.append_chunk(answer.id, 0, "cut ")
    await first.close()

    second = ConversationStore(path, SEED)
    await second.open()
    try:
        restarted = await second.message(answer.id)
        assert restarted is not None
        assert (restarted.status, restarted.content, restarted.error) == (Status.FAILED, "cut ", RESTART_ERROR)
        assert len(await second.conversations_of("alice")) == 1  # seeded once, not on every start
    finally:
        await second.close()
