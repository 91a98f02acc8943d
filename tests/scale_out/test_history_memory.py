"""What channel history costs in Redis, and that a stream never outgrows its ``size``
(docs/scale-out.md, "Channel history": the memory figures there are the ones these tests print and bound).

A fresh Redis and one node, so ``INFO used_memory`` moves with the history alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import api_request
from tests.scale_out.cluster import MAIN_APP, Cluster, Node, running_cluster

HISTORY = """
[[apps.history]]
channels = "measured-*"
size = 1000
ttl_seconds = 600

[[apps.history]]
channels = "bounded-*"
size = 100
ttl_seconds = 600
"""
ENVELOPE_BYTES = 200


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path, nodes=1, history=HISTORY) as running:
        yield running


async def publish_many(node: Node, channel: str, count: int) -> None:
    """``count`` events whose envelope (as kept, without serial) is ``ENVELOPE_BYTES`` long, 10 to a batch."""
    bare = len(f'{{"event":"message","channel":"{channel}","data":""}}')
    data = "x" * (ENVELOPE_BYTES - bare)
    for start in range(0, count, 10):
        batch = [{"name": "message", "channel": channel, "data": data} for _ in range(start, min(start + 10, count))]
        status, body = await api_request(node, "POST", f"/apps/{MAIN_APP.id}/batch_events", body={"batch": batch})
        assert status == 200, body


def stream_key(cluster: Cluster, channel: str) -> str:
    return f"{{{cluster.prefix}:{MAIN_APP.id}}}:history:{channel}"


async def test_a_thousand_kept_events_of_200_bytes_take_about_a_quarter_of_a_megabyte(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    redis = cluster.redis.client()
    try:
        await asyncio.sleep(0.2)  # let the node's start-up writes settle before the baseline
        before = (await redis.info("memory"))["used_memory"]
        await publish_many(node, "measured-1", 1000)
        after = (await redis.info("memory"))["used_memory"]
        usage = await redis.memory_usage(stream_key(cluster, "measured-1"), samples=0)
        meta_key = stream_key(cluster, "measured-1").replace(":history:", ":history-meta:")
        meta = await redis.memory_usage(meta_key, samples=0)
        assert await redis.xlen(stream_key(cluster, "measured-1")) == 1000
        keys = [key async for key in redis.scan_iter(match=f"*{cluster.prefix}*measured*")]
    finally:
        await redis.aclose()
    print(f"\n1,000 kept events of {ENVELOPE_BYTES} B: MEMORY USAGE {usage} B (meta {meta} B)")
    print(f"INFO used_memory grew by {after - before} B (allocator and buffers included)")
    assert sorted(keys) == sorted([stream_key(cluster, "measured-1"), meta_key]), "two keys per channel, none per event"
    assert usage is not None and 200_000 < usage < 400_000
    assert after - before < 1_000_000


async def test_a_stream_stays_within_its_size_after_ten_times_as_many_events(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    await publish_many(node, "bounded-1", 1000)  # size 100
    redis = cluster.redis.client()
    try:
        assert await redis.xlen(stream_key(cluster, "bounded-1")) == 100
        usage = await redis.memory_usage(stream_key(cluster, "bounded-1"), samples=0)
    finally:
        await redis.aclose()
    print(f"\nsize 100 after 1,000 events: MEMORY USAGE {usage} B")
    status, body = await api_request(
        node, "GET", f"/apps/{MAIN_APP.id}/channels/bounded-1/events", params={"limit": "1000"}
    )
    assert status == 200 and len(body["events"]) == 100
    assert [event["serial"] for event in body["events"]] == list(range(body["position"] - 99, body["position"] + 1))
    assert body["oldest"] == body["position"] - 99
