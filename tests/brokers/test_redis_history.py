"""Channel history kept in Redis (``RedisHistory``): serials handed out atomically, events kept within their size
and age, read back for resume, rewind and the HTTP API. On one ``redis-server`` and on a Redis Cluster."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from pusherpy.server.broker.redis_history import RedisHistory

pytestmark = pytest.mark.asyncio(loop_scope="session")

TTL = 3600.0


@pytest_asyncio.fixture(loop_scope="session", params=["redis", "redis-cluster"])
async def redis(request: pytest.FixtureRequest, redis_servers: dict[str, str]) -> AsyncIterator[Any]:
    url = redis_servers[request.param]
    # As RedisStore makes it: never retried, so a script that may have run is never run twice.
    options: dict[str, Any] = {"decode_responses": True, "retry": Retry(NoBackoff(), 0)}
    client: Redis | RedisCluster = (
        RedisCluster.from_url(url, **options) if request.param == "redis-cluster" else Redis.from_url(url, **options)
    )
    await client.ping()
    yield client
    await client.aclose()


@pytest.fixture
def history(redis: Redis | RedisCluster) -> RedisHistory:
    prefix = f"history-{secrets.token_hex(4)}"
    return RedisHistory(redis, lambda app_id: f"{{{prefix}:{app_id}}}")


async def redis_time_ms(redis: Redis | RedisCluster) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_serials_start_above_the_epoch_start_and_increase_by_one(
    history: RedisHistory, redis: Redis | RedisCluster
) -> None:
    before = await redis_time_ms(redis) * 1000
    serials = [await history.append("1", "chat", f'{{"n":{n}}}', size=10, ttl_seconds=TTL) for n in range(3)]
    page = await history.read("1", "chat", after=None, limit=10, ttl_seconds=TTL)
    assert before <= page.start < serials[0]
    assert serials == [page.start + 1, page.start + 2, page.start + 3]
    assert page.position == serials[-1] and page.oldest == serials[0]
    assert [(event.serial, event.text) for event in page.events] == [
        (serial, f'{{"n":{n}}}') for n, serial in enumerate(serials)
    ]
    assert serials[-1] < 2**53, "a serial must survive JavaScript's numbers"


async def test_concurrent_appends_get_distinct_contiguous_serials(history: RedisHistory) -> None:
    first = await history.append("1", "busy", "{}", size=100, ttl_seconds=TTL)
    serials = await asyncio.gather(*(history.append("1", "busy", "{}", size=100, ttl_seconds=TTL) for _ in range(50)))
    assert sorted(serials) == list(range(first + 1, first + 51))


async def test_a_subscribe_makes_the_record_and_learns_its_position_before_any_event(history: RedisHistory) -> None:
    assert not (await history.read("1", "quiet", after=None, limit=10, ttl_seconds=TTL)).exists
    made = await history.read("1", "quiet", after=None, limit=10, ttl_seconds=TTL, create=True)
    assert made.exists and made.position == made.start and made.events == () and made.oldest is None
    serial = await history.append("1", "quiet", "{}", size=10, ttl_seconds=TTL)
    assert serial == made.start + 1


async def test_reading_after_a_position_returns_the_later_events_up_to_the_limit(history: RedisHistory) -> None:
    serials = [await history.append("1", "chat", str(n), size=10, ttl_seconds=TTL) for n in range(5)]
    page = await history.read("1", "chat", after=serials[1], limit=2, ttl_seconds=TTL)
    assert [event.serial for event in page.events] == serials[2:4]
    assert [
        event.serial for event in (await history.read("1", "chat", after=None, limit=2, ttl_seconds=TTL)).events
    ] == (serials[3:])
    assert (await history.read("1", "chat", after=serials[-1], limit=10, ttl_seconds=TTL)).events == ()


async def test_at_most_size_events_are_kept(history: RedisHistory, redis: Redis | RedisCluster) -> None:
    for n in range(25):
        await history.append("1", "chat", str(n), size=10, ttl_seconds=TTL)
    meta, stream = history.keys("1", "chat")
    assert await redis.xlen(stream) == 10
    page = await history.read("1", "chat", after=None, limit=100, ttl_seconds=TTL)
    assert [event.text for event in page.events] == [str(n) for n in range(15, 25)]
    assert page.oldest == page.position - 9


async def test_events_older_than_the_ttl_are_dropped_and_a_silent_channel_forgotten(
    history: RedisHistory, redis: Redis | RedisCluster
) -> None:
    # The ttl is what is tested: real time must pass.
    first = await history.append("1", "brief", "old", size=10, ttl_seconds=0.5)
    await asyncio.sleep(0.3)
    second = await history.append("1", "brief", "new", size=10, ttl_seconds=0.5)
    await asyncio.sleep(0.3)
    page = await history.read("1", "brief", after=None, limit=10, ttl_seconds=0.5)
    assert second == first + 1 and [event.text for event in page.events] == ["new"] and page.oldest == second
    await asyncio.sleep(0.3)
    assert not (await history.read("1", "brief", after=None, limit=10, ttl_seconds=0.5)).exists
    assert await redis.exists(*history.keys("1", "brief")) == 0


async def test_a_record_lost_with_redis_starts_again_above_every_serial_handed_out(
    history: RedisHistory, redis: Redis | RedisCluster
) -> None:
    old = await history.append("1", "lost", "{}", size=10, ttl_seconds=TTL)
    await redis.delete(*history.keys("1", "lost"))
    await asyncio.sleep(0.002)  # epoch starts are Redis time in ms * 1000: a new one needs a new millisecond
    page = await history.read("1", "lost", after=old, limit=10, ttl_seconds=TTL, create=True)
    assert page.start > old and page.events == ()


async def test_reading_with_a_max_age_returns_only_the_events_published_that_recently(history: RedisHistory) -> None:
    await history.append("1", "chat", "before", size=10, ttl_seconds=TTL)
    await asyncio.sleep(0.3)  # ages are what is tested: real time must pass
    await history.append("1", "chat", "after", size=10, ttl_seconds=TTL)
    recent = await history.read("1", "chat", after=None, limit=10, ttl_seconds=TTL, max_age_seconds=0.2)
    assert [event.text for event in recent.events] == ["after"]
    state = await history.read("1", "chat", after=None, limit=0, ttl_seconds=TTL)
    assert state.events == () and state.position == recent.position and state.oldest == recent.position - 1


async def test_the_socket_a_publisher_excluded_is_kept_with_its_event(history: RedisHistory) -> None:
    """A node that fetches the event later (a gap) must still not send it to that socket."""
    await history.append("1", "chat", "mine", size=10, ttl_seconds=TTL, except_socket_id="123.456")
    await history.append("1", "chat", "everyone's", size=10, ttl_seconds=TTL)
    page = await history.read("1", "chat", after=None, limit=10, ttl_seconds=TTL)
    assert [(event.text, event.except_socket_id) for event in page.events] == [
        ("mine", "123.456"),
        ("everyone's", None),
    ]


async def test_memory_per_thousand_kept_events(history: RedisHistory, redis: Redis | RedisCluster) -> None:
    """Measured, not asserted tightly: printed for docs/scale-out.md (run with -s)."""
    text = '{"event":"message","channel":"private-conversation.42","data":"' + "x" * 130 + '"}'
    assert 195 <= len(text) <= 205
    for _ in range(1000):
        await history.append("1", "measured", text, size=1000, ttl_seconds=TTL)
    meta, stream = history.keys("1", "measured")
    used = int(await redis.memory_usage(stream, samples=0)) + int(await redis.memory_usage(meta, samples=0))
    print(f"\nRedis memory for 1,000 kept 200-byte events: {used} bytes ({used / 1000:.0f} bytes per event)")
    assert used < 1000 * 400
