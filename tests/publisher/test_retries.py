"""Both clients retry what is safe to retry, against a real HTTP server that injects one fault per attempt.

The fault server accepts each request, records its body, then does what the test scripted for that attempt: hang
past the client's timeout, answer 503 or 429 (with ``Retry-After``), drop the connection, or answer 200. A retried
publish must carry the idempotency key of the first attempt, so a server that got both drops the copy.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pusherpy.protocol import codec
from pusherpy.publisher import (
    AsyncPusher,
    AuthenticationError,
    BadRequest,
    ConnectionFailed,
    Forbidden,
    InvalidArgument,
    PayloadTooLarge,
    PublishError,
    Pusher,
    ReplyStream,
    ServerError,
    Timeout,
    TooManyRequests,
)
from pusherpy.publisher.retry import MAX_RETRY_DELAY, RetryPolicy
from tests.helpers import DEADLINE

from .conftest import APP_ID, KEY, SECRET, EitherClient, answering_every_path

CLIENT_TIMEOUT = 0.5
HANG = 10.0
"""How long a hanging attempt holds its answer: well past CLIENT_TIMEOUT."""
GENERATED_KEY = re.compile(r"[A-Za-z0-9_-]{22}")


@dataclass
class Attempt:
    method: str
    path: str
    query: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return codec.loads(self.body)


@dataclass
class FaultServer:
    """Each request takes the next scripted fault (``"ok"`` once the script is used up)."""

    server: TestServer
    faults: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def client(self, kind: str, **options: Any) -> EitherClient:
        options = {"host": "127.0.0.1", "port": self.server.port, "scheme": "http", "timeout": CLIENT_TIMEOUT} | options
        if kind == "sync":
            return EitherClient(kind, Pusher(APP_ID, KEY, SECRET, **options))
        return EitherClient(kind, AsyncPusher(APP_ID, KEY, SECRET, **options))


FAULTS = web.AppKey("faults", FaultServer)


async def _handle(request: web.Request) -> web.StreamResponse:
    server = request.app[FAULTS]
    body = await request.read()
    server.attempts.append(Attempt(request.method, request.path, dict(request.query), body))
    fault = server.faults.pop(0) if server.faults else "ok"
    if fault == "hang":
        await asyncio.sleep(HANG)
        return web.json_response({})
    if fault == "drop":
        assert request.transport is not None
        request.transport.abort()  # the request was read; no answer ever comes
        return web.json_response({})
    if fault.startswith("429"):
        _, _, retry_after = fault.partition(":")
        headers = {"Retry-After": retry_after} if retry_after else {}
        return web.json_response({"error": "slow down"}, status=429, headers=headers)
    if fault.isdigit():
        return web.json_response({"error": f"fault {fault}"}, status=int(fault))
    return web.json_response({"channels": {}} if request.method == "GET" else {})


@pytest.fixture
async def faults() -> AsyncIterator[FaultServer]:
    async with answering_every_path(_handle, FAULTS, FaultServer) as fault_server:
        yield fault_server


@pytest.fixture(params=["sync", "async"])
async def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def closing(client: EitherClient) -> None:
    if isinstance(client.client, AsyncPusher):
        await client.client.close()
    else:
        client.client.close()


async def call(client: EitherClient, method: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return await client.call(method, *args, **kwargs)
    finally:
        await closing(client)


class TestRetriedPublishKeepsItsKey:
    @pytest.mark.parametrize("fault", ["hang", "503", "drop", "500"])
    async def test_a_failed_trigger_is_sent_again_with_the_same_body_and_key(
        self, faults: FaultServer, kind: str, fault: str
    ) -> None:
        faults.faults = [fault]
        assert await call(faults.client(kind), "trigger", "orders", "created", {"id": 7}) == {}
        first, second = faults.attempts
        assert first.body == second.body
        assert GENERATED_KEY.fullmatch(first.json["idempotency_key"])

    async def test_the_callers_key_is_sent_on_every_attempt(self, faults: FaultServer, kind: str) -> None:
        faults.faults = ["503", "hang"]
        await call(faults.client(kind), "trigger", "orders", "created", "d", idempotency_key="order-42:v1.0_x")
        assert [attempt.json["idempotency_key"] for attempt in faults.attempts] == ["order-42:v1.0_x"] * 3

    async def test_each_call_gets_its_own_key(self, faults: FaultServer, kind: str) -> None:
        client = faults.client(kind)
        await client.call("trigger", "orders", "created", "1")
        await call(client, "trigger", "orders", "created", "1")
        first, second = (attempt.json["idempotency_key"] for attempt in faults.attempts)
        assert first != second

    async def test_a_retried_batch_keeps_every_items_key(self, faults: FaultServer, kind: str) -> None:
        faults.faults = ["hang"]
        events = [
            {"channel": "a", "name": "e", "data": "1"},
            {"channel": "b", "name": "e", "data": "2", "idempotency_key": "mine"},
            {"channel": "c", "name": "e", "data": "3"},
        ]
        await call(faults.client(kind), "trigger_batch", events)
        first, second = faults.attempts
        assert first.body == second.body
        keys = [item["idempotency_key"] for item in first.json["batch"]]
        assert keys[1] == "mine"
        assert GENERATED_KEY.fullmatch(keys[0]) and GENERATED_KEY.fullmatch(keys[2]) and keys[0] != keys[2]

    async def test_a_get_is_retried_as_it_is(self, faults: FaultServer, kind: str) -> None:
        faults.faults = ["502", "drop"]
        assert await call(faults.client(kind), "channels_info") == {"channels": {}}
        assert [attempt.method for attempt in faults.attempts] == ["GET"] * 3


class TestHowOften:
    async def test_after_the_last_retry_the_last_error_is_raised(self, faults: FaultServer, kind: str) -> None:
        faults.faults = ["503"] * 10
        with pytest.raises(ServerError, match="fault 503") as caught:
            await call(faults.client(kind, retries=2), "trigger", "c", "e", "d")
        assert caught.value.status == 503
        assert len(faults.attempts) == 3

    @pytest.mark.parametrize(("fault", "error"), [("hang", Timeout), ("drop", ConnectionFailed)])
    async def test_transport_failures_on_every_attempt_raise_the_transport_error(
        self, faults: FaultServer, kind: str, fault: str, error: type[PublishError]
    ) -> None:
        faults.faults = [fault] * 4
        with pytest.raises(error):
            await call(faults.client(kind, retries=1), "trigger", "c", "e", "d")
        assert len(faults.attempts) == 2

    async def test_retries_zero_sends_once_and_adds_no_key(self, faults: FaultServer, kind: str) -> None:
        faults.faults = ["503"]
        with pytest.raises(ServerError):
            await call(faults.client(kind, retries=0), "trigger", "c", "e", "d")
        (attempt,) = faults.attempts
        assert "idempotency_key" not in attempt.json

    @pytest.mark.parametrize(
        ("status", "error"),
        [(400, BadRequest), (401, AuthenticationError), (403, Forbidden), (413, PayloadTooLarge)],
    )
    async def test_client_errors_are_never_retried(
        self, faults: FaultServer, kind: str, status: int, error: type[PublishError]
    ) -> None:
        faults.faults = [str(status)]
        with pytest.raises(error):
            await call(faults.client(kind), "trigger", "c", "e", "d")
        assert len(faults.attempts) == 1

    async def test_a_post_without_idempotency_is_not_retried(self, faults: FaultServer, kind: str) -> None:
        faults.faults = ["503"]
        with pytest.raises(ServerError):
            await call(faults.client(kind), "terminate_user_connections", "user-1")
        assert len(faults.attempts) == 1


class TestRetryAfter:
    async def test_a_429_is_retried_no_sooner_than_retry_after(self, faults: FaultServer, kind: str) -> None:
        faults.faults = ["429:0.2"]
        client = faults.client(kind, retry_backoff=0)  # any wait must come from Retry-After
        started = time.monotonic()
        assert await call(client, "trigger", "c", "e", "d") == {}
        assert time.monotonic() - started >= 0.2
        first, second = faults.attempts
        assert first.body == second.body

    async def test_a_retry_after_beyond_the_cap_is_raised_at_once_for_the_caller_to_schedule(
        self, faults: FaultServer, kind: str
    ) -> None:
        faults.faults = [f"429:{MAX_RETRY_DELAY + 55:g}"]
        with pytest.raises(TooManyRequests) as caught:
            await call(faults.client(kind), "trigger", "c", "e", "d")
        assert caught.value.retry_after == MAX_RETRY_DELAY + 55  # type: ignore[attr-defined]
        assert len(faults.attempts) == 1

    async def test_a_429_without_retry_after_is_retried_with_backoff(self, faults: FaultServer, kind: str) -> None:
        faults.faults = ["429", "429"]
        assert await call(faults.client(kind), "trigger", "c", "e", "d") == {}
        assert len(faults.attempts) == 3


class TestIdempotencyKeyValidation:
    @pytest.mark.parametrize("key", ["", "k" * 129, "has space", "é", "a/b", 42])
    async def test_a_bad_key_is_refused_before_sending(self, faults: FaultServer, kind: str, key: object) -> None:
        with pytest.raises(InvalidArgument, match="idempotency_key"):
            await call(faults.client(kind), "trigger", "c", "e", "d", idempotency_key=key)
        batch = [{"channel": "c", "name": "e", "data": "d", "idempotency_key": key}]
        with pytest.raises(InvalidArgument, match="idempotency_key"):
            await call(faults.client(kind), "trigger_batch", batch)
        assert faults.attempts == []

    async def test_the_longest_key_is_sent(self, faults: FaultServer, kind: str) -> None:
        key = "A-z0_9.:" * 16
        await call(faults.client(kind), "trigger", "c", "e", "d", idempotency_key=key)
        assert faults.attempts[0].json["idempotency_key"] == key


async def published_once(stream: ReplyStream) -> None:
    while stream.events_sent < 1:
        await asyncio.sleep(0.01)


async def test_a_retried_stream_chunk_keeps_its_key_and_every_event_has_its_own(faults: FaultServer) -> None:
    faults.faults = ["503", "ok", "hang"]
    async with AsyncPusher(
        APP_ID, KEY, SECRET, host="127.0.0.1", port=faults.server.port, scheme="http", timeout=CLIENT_TIMEOUT
    ) as pusher:
        async with pusher.stream("private-chat", "reply") as stream:
            await stream.send("Hello")
            await asyncio.wait_for(published_once(stream), DEADLINE)  # the chunk, before the final event
        assert stream.events_sent == 2
    first, second, final, final_again = (attempt.json for attempt in faults.attempts)
    assert first == second and final == final_again
    assert first["idempotency_key"] != final["idempotency_key"]
    assert (codec.loads(first["data"])["chunk"], codec.loads(final["data"])["final"]) == ("Hello", True)


class TestBackoff:
    """The waits themselves, with the jitter's random source pinned (no clock, no server)."""

    def test_full_jitter_stays_under_the_doubling_ceiling_and_the_cap(self) -> None:
        policy = RetryPolicy(retries=10, backoff=0.1)
        error = ServerError(503, "{}")
        for retry in range(10):
            ceiling = min(MAX_RETRY_DELAY, 0.1 * 2**retry)
            waits = [policy.delay(error, retry, random.Random(seed)) for seed in range(200)]
            assert all(wait is not None and 0 <= wait <= ceiling for wait in waits)
            assert max(w for w in waits if w is not None) > ceiling / 2  # jitter spans the range

    def test_retry_after_is_a_floor(self) -> None:
        error = TooManyRequests(429, "{}", retry_after=1.5)
        assert RetryPolicy(backoff=0).delay(error, 0, random.Random(1)) == 1.5

    def test_no_retry_once_retries_are_used_or_for_a_final_answer(self) -> None:
        policy = RetryPolicy(retries=2)
        assert policy.delay(ServerError(500, "{}"), 2) is None
        assert policy.delay(BadRequest(400, "{}"), 0) is None
        assert policy.delay(ConnectionFailed("TLS refused", retryable=False), 0) is None
