"""A publish whose answer is lost after pusherpy accepted it is retried, and subscribers still get it once.

Between the publisher and a real pusherpy sits a real TCP proxy that forwards every request but, for the first
connections, swallows pusherpy's answer and resets the publisher's connection: the publisher cannot know whether its
event went out, so it sends it again (same ``idempotency_key``), and pusherpy drops the copy. Without keys the same
retry would deliver the event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from pusherpy.protocol.history import HistoryRule
from pusherpy.publisher import AsyncPusher, ConnectionFailed, Pusher
from tests.helpers import PusherClient, RunningServer, connect, make_app, make_settings, serve

CHANNEL = "private-conversation.1"
RULE = HistoryRule(channels="private-conversation.*", size=100, ttl_seconds=600)


@dataclass
class AnswerLosingProxy:
    """Forwards each connection to ``upstream``; the first ``lose`` connections never see their answer."""

    upstream: int
    lose: int
    hold: float = 0.0
    """Seconds a lost answer is held before the connection is dropped (past the publisher's timeout: a timeout)."""
    port: int = 0
    forwarded: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        losing = self.forwarded < self.lose
        self.forwarded += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        upload = asyncio.create_task(self._pipe(reader, up_writer))
        try:
            if losing:
                await up_reader.read(1)  # pusherpy answered: the event was accepted
                await asyncio.sleep(self.hold)
                writer.transport.abort()  # ... and the publisher never hears it
            else:
                await self._pipe(up_reader, writer)
        finally:
            upload.cancel()
            up_writer.close()
            writer.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()


@contextlib.asynccontextmanager
async def losing_proxy(server: RunningServer, lose: int, hold: float = 0.0) -> AsyncIterator[AnswerLosingProxy]:
    proxy = AnswerLosingProxy(server.port, lose, hold)
    listening = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield proxy


@contextlib.asynccontextmanager
async def subscribed_behind_a_losing_proxy(
    lose: int, hold: float = 0.0
) -> AsyncIterator[tuple[AnswerLosingProxy, PusherClient]]:
    app = make_app(history=(RULE,))
    async with (
        serve(make_settings(app)) as server,
        losing_proxy(server, lose, hold) as proxy,
        connect(server) as client,
    ):
        await client.subscribe(CHANNEL)
        yield proxy, client


def publisher_options(proxy: AnswerLosingProxy, retries: int) -> dict[str, object]:
    return {"host": "127.0.0.1", "port": proxy.port, "scheme": "http", "retries": retries, "retry_backoff": 0.01}


async def delivered(client: PusherClient, event: str) -> list[dict[str, object]]:
    """Every ``event`` that arrives, once nothing more does."""
    got = [await client.expect(event)]
    while True:
        try:
            got.append(await client.expect(event, timeout=0.5))
        except (AssertionError, TimeoutError):
            return got


async def test_the_sync_client_retries_a_lost_answer_and_the_event_is_delivered_once() -> None:
    async with subscribed_behind_a_losing_proxy(lose=2) as (proxy, client):
        pusher = Pusher("4242", "test-key", "test-secret", **publisher_options(proxy, retries=3))
        reply = await asyncio.to_thread(pusher.trigger, CHANNEL, "order", {"n": 1})
        assert proxy.forwarded == 3, "two answers lost, the third heard"
        (order,) = await delivered(client, "order")
        assert reply["serials"][CHANNEL] == order["serial"], "the retry is answered with the first publish's serial"


async def test_the_async_client_retries_a_lost_answer_and_the_event_is_delivered_once() -> None:
    async with subscribed_behind_a_losing_proxy(lose=1) as (proxy, client):
        async with AsyncPusher("4242", "test-key", "test-secret", **publisher_options(proxy, retries=3)) as pusher:
            reply = await pusher.trigger(CHANNEL, "order", {"n": 1})
        assert proxy.forwarded == 2
        (order,) = await delivered(client, "order")
        assert reply["serials"][CHANNEL] == order["serial"]


async def test_a_publish_that_timed_out_after_pusherpy_accepted_it_is_retried_and_delivered_once() -> None:
    async with subscribed_behind_a_losing_proxy(lose=1, hold=2.0) as (proxy, client):
        options = {**publisher_options(proxy, retries=3), "timeout": 0.5}
        async with AsyncPusher("4242", "test-key", "test-secret", **options) as pusher:
            reply = await pusher.trigger(CHANNEL, "order", {"n": 1})
        assert proxy.forwarded == 2, "the first attempt timed out, the second was answered"
        (order,) = await delivered(client, "order")
        assert reply["serials"][CHANNEL] == order["serial"]


async def test_without_retries_the_lost_answer_is_an_error_though_the_event_went_out() -> None:
    async with subscribed_behind_a_losing_proxy(lose=1) as (proxy, client):
        async with AsyncPusher("4242", "test-key", "test-secret", **publisher_options(proxy, retries=0)) as pusher:
            with pytest.raises(ConnectionFailed):
                await pusher.trigger(CHANNEL, "order", {"n": 1})
        assert len(await delivered(client, "order")) == 1


async def test_a_streamed_reply_whose_chunk_answers_are_lost_is_rebuilt_exactly() -> None:
    async with subscribed_behind_a_losing_proxy(lose=2) as (proxy, client):
        async with AsyncPusher("4242", "test-key", "test-secret", **publisher_options(proxy, retries=3)) as pusher:
            async with pusher.stream(CHANNEL, "reply", interval=0.01) as stream:
                for word in ["exactly ", "once, ", "in ", "order"]:
                    await stream.send(word)
                    await asyncio.sleep(0.03)  # let each word go out as its own event
        events = [json.loads(json.dumps(e["data"])) for e in await delivered(client, "reply")]
        sequences = [e["sequence"] for e in events]
        assert sequences == list(range(len(events))), "each chunk once, in order"
        assert "".join(e["chunk"] for e in events) == "exactly once, in order"
        assert proxy.forwarded >= 3, "two connections lost their answers"
