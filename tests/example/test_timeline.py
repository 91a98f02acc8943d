"""The frontend's Timeline, which both pages use to merge the stored history with live events.

pusherpy delivers one channel's events in order, so a browser never shows what happens when chunks arrive out of
order, twice, or while the history is loading after a reconnect. These tests feed the real module (run by Node
through ``timeline_driver.mjs``) exactly those sequences and check what a page would render.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).with_name("timeline_driver.mjs")
NODE_LIMIT = 30.0


def run(*operations: list[Any]) -> list[list[dict[str, Any]]]:
    """Apply ``operations`` to a fresh Timeline; return what it listed at each ``["show"]``."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required to run the frontend's Timeline")
    done = subprocess.run(
        [node, str(DRIVER)], input=json.dumps(operations), capture_output=True, text=True, timeout=NODE_LIMIT
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def stored(message_id: int, content: str, last_sequence: int, status: str = "streaming") -> dict[str, Any]:
    return {"id": message_id, "role": "assistant", "content": content, "status": status, "last_sequence": last_sequence}


def created(message_id: int) -> list[Any]:
    return ["live", "created", stored(message_id, "", -1)]


def chunk(message_id: int, sequence: int, text: str) -> list[Any]:
    return ["live", "chunk", {"conversationId": 1, "messageId": message_id, "chunk": text, "sequence": sequence}]


def completed(message_id: int, content: str, last_sequence: int) -> list[Any]:
    return ["live", "completed", {"messageId": message_id, "content": content, "last_sequence": last_sequence}]


SHOW: list[Any] = ["show"]
LOADED: list[list[Any]] = [["begin"], ["finish", 0, []]]


def test_chunks_that_arrive_out_of_order_are_shown_in_sequence_order() -> None:
    shown = run(*LOADED, created(7), chunk(7, 2, "c"), SHOW, chunk(7, 0, "a"), SHOW, chunk(7, 1, "b"), SHOW)
    assert [view[0]["content"] for view in shown] == ["", "a", "abc"]


def test_a_chunk_received_twice_is_shown_once() -> None:
    shown = run(*LOADED, created(7), chunk(7, 0, "a"), chunk(7, 1, "b"), chunk(7, 0, "a"), chunk(7, 1, "b"), SHOW)
    assert shown == [[{"id": 7, "status": "streaming", "content": "ab"}]]


def test_a_page_joining_mid_stream_skips_the_live_chunks_the_history_already_holds() -> None:
    shown = run(
        ["begin"],  # subscribed; the history request is on its way while chunks 2, 3 and 4 arrive
        chunk(7, 2, "c"),
        chunk(7, 3, "d"),
        SHOW,
        ["finish", 0, [stored(7, "abc", 2)]],  # the store had chunks 0-2
        SHOW,
        chunk(7, 4, "e"),
        completed(7, "abcde", 4),
        SHOW,
    )
    assert shown == [
        [],
        [{"id": 7, "status": "streaming", "content": "abcd"}],
        [{"id": 7, "status": "complete", "content": "abcde"}],
    ]


def test_after_a_reconnect_the_history_fills_the_gap_and_late_duplicates_are_ignored() -> None:
    shown = run(
        *LOADED,
        created(7),
        chunk(7, 0, "a"),
        ["begin"],  # reconnected: chunks 1-3 were missed, the history is reloading, chunk 4 arrives meanwhile
        chunk(7, 4, "e"),
        ["finish", 1, [stored(7, "abcd", 3)]],
        SHOW,
        chunk(7, 2, "c"),  # a straggler of the old connection
        chunk(7, 5, "f"),
        SHOW,
    )
    assert [view[0]["content"] for view in shown] == ["abcde", "abcdef"]


def test_only_the_newest_of_overlapping_history_loads_is_applied() -> None:
    shown = run(
        *LOADED,
        created(7),
        ["begin"],
        ["begin"],
        ["finish", 2, [stored(7, "abc", 2)]],
        ["finish", 1, [stored(7, "a", 0)]],  # the older answer arrives last and is dropped
        SHOW,
    )
    assert shown == [[{"id": 7, "status": "streaming", "content": "abc"}]]


def test_a_completed_message_takes_the_stored_text_and_ignores_later_chunks() -> None:
    shown = run(*LOADED, created(7), chunk(7, 0, "a"), completed(7, "abc", 2), chunk(7, 1, "b"), SHOW)
    assert shown == [[{"id": 7, "status": "complete", "content": "abc"}]]


def test_a_failed_stream_shows_the_failure_with_the_text_that_was_stored() -> None:
    failed = {"messageId": 7, "content": "ab", "error": "APIError: boom", "last_sequence": 1}
    shown = run(*LOADED, created(7), chunk(7, 0, "a"), ["live", "failed", failed], SHOW)
    assert shown == [[{"id": 7, "status": "failed", "content": "ab"}]]


def test_messages_are_listed_by_id_whatever_order_they_arrive_in() -> None:
    user = {"id": 3, "role": "user", "content": "hi", "status": "complete", "last_sequence": -1}
    shown = run(*LOADED, created(4), ["live", "created", user], ["live", "created", user], SHOW)
    assert [(m["id"], m["content"]) for m in shown[0]] == [(3, "hi"), (4, "")]
