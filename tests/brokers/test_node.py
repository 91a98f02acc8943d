"""This node's half of every broker, without sockets: which counts reach its subscribers when counts made on other
nodes overtake each other on their way (the race a loaded cluster hits when many sockets join at once)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

import pusherpy.server.broker.node as node_module
from pusherpy.protocol.connection import Connection
from pusherpy.protocol.frames import text_frame
from pusherpy.server.broker.node import LocalNode
from tests.helpers import make_app

APP = make_app()
CHANNEL = "counted"


@dataclass(eq=False)
class RecordingSubscriber:
    """A subscriber that keeps the frames written to it."""

    socket_id: str
    app: object = APP
    frames: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.connection = Connection(self.socket_id, APP)

    def write_frame(self, data: bytes) -> bool:
        self.frames.append(data)
        return True

    def send_text(self, text: str) -> bool:
        return self.write_frame(text_frame(text.encode()))

    def close(self, code: int, reason: str) -> None:
        pass


def count_text(count: int) -> str:
    return json.dumps({"event": "pusher_internal:subscription_count", "channel": CHANNEL, "data": str(count)})


def counts_received(subscriber: RecordingSubscriber) -> list[str]:
    return [count_text(n) for n in range(100) if text_frame(count_text(n).encode()) in subscriber.frames]


def join(node: LocalNode, subscriber: RecordingSubscriber) -> None:
    node.registry(APP).join(CHANNEL, subscriber, None)


def test_a_newer_count_that_arrives_while_the_first_local_socket_joins_replaces_its_older_count() -> None:
    node = LocalNode(cache_ttl=60)
    joining = RecordingSubscriber("1.1")
    node.deliver_count(APP.id, CHANNEL, count_text(24), version=20)  # another node's, newer, overtook ours
    join(node, joining)
    node.deliver_count(APP.id, CHANNEL, count_text(23), version=10)  # ours, made by our join's script
    assert counts_received(joining) == [count_text(24)]


def test_a_socket_that_joins_after_the_newest_count_was_delivered_gets_it_instead_of_its_older_own() -> None:
    node = LocalNode(cache_ttl=60)
    present, joining = RecordingSubscriber("1.1"), RecordingSubscriber("1.2")
    join(node, present)
    node.deliver_count(APP.id, CHANNEL, count_text(24), version=20)  # reaches the socket already here
    join(node, joining)
    node.deliver_count(APP.id, CHANNEL, count_text(23), version=10)  # the joining socket's own, overtaken
    assert counts_received(joining) == [count_text(24)]
    assert present.frames == [text_frame(count_text(24).encode())], "the socket that had it gets nothing twice"


def test_counts_are_delivered_in_version_order_and_an_older_one_is_dropped() -> None:
    node = LocalNode(cache_ttl=60)
    subscriber = RecordingSubscriber("1.1")
    join(node, subscriber)
    node.deliver_count(APP.id, CHANNEL, count_text(1), version=1)
    node.deliver_count(APP.id, CHANNEL, count_text(3), version=3)
    node.deliver_count(APP.id, CHANNEL, count_text(2), version=2)
    assert subscriber.frames == [text_frame(count_text(1).encode()), text_frame(count_text(3).encode())]


def test_a_count_heard_long_before_a_socket_joins_is_not_delivered_over_its_newer_own_count() -> None:
    node = LocalNode(cache_ttl=60)
    node.deliver_count(APP.id, CHANNEL, count_text(5), version=5)
    subscriber = RecordingSubscriber("1.1")
    join(node, subscriber)
    node.deliver_count(APP.id, CHANNEL, count_text(1), version=9)  # everyone else left meanwhile
    assert subscriber.frames == [text_frame(count_text(1).encode())]


def test_counts_of_channels_without_local_subscribers_are_remembered_within_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(node_module, "MAX_REMEMBERED_COUNTS", 3)
    node = LocalNode(cache_ttl=60)
    for index in range(10):
        node.deliver_count(APP.id, f"elsewhere-{index}", count_text(index), version=index + 1)
    assert len(node._counts) == 3  # noqa: SLF001 - the bound is the behaviour under test
