"""``GET /metrics`` (Prometheus text) and ``GET /up``: per-app gauges that follow the sockets, channels and
subscriptions, and counters of messages and bytes that move when traffic flows."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import aiohttp

from tests.conftest import ServerFactory
from tests.helpers import DEADLINE, RunningServer, connect, make_app, trigger

SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?:app_id|reason)="(?P<app>[^"]*)"\})? (?P<value>\S+)$')

Samples = dict[tuple[str, str], float]


async def scrape(server: RunningServer) -> Samples:
    """Every sample of /metrics as ``{(metric name, app id or ""): value}``, after checking the text format."""
    async with aiohttp.ClientSession() as session:
        async with session.get(server.http_url + "/metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
    samples: Samples = {}
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("gauge", "counter"), line
            declared.add(name)
        elif line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match is not None, f"not a Prometheus sample: {line!r}"
            assert match["name"] in declared, f"{match['name']} has no # TYPE line"
            samples[(match["name"], match["app"] or "")] = float(match["value"])
    return samples


async def scrape_until(
    server: RunningServer, condition: Callable[[Samples], bool], timeout: float = DEADLINE
) -> Samples:
    """Scrape until ``condition`` holds (for changes the server makes just after a socket closes)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(server)
        if condition(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never met the condition: {samples}")
        await asyncio.sleep(0.02)


def gauges(samples: Samples, app_id: str) -> dict[str, float]:
    names = ("connections", "channels", "subscriptions")
    return {name: samples[(f"pusherpy_{name}", app_id)] for name in names}


def counter(samples: Samples, name: str, app_id: str) -> float:
    return samples.get((f"pusherpy_{name}_total", app_id), 0.0)


async def test_up_reports_health(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.http_url + "/up") as response:
            assert response.status == 200
            assert await response.json() == {"health": "OK"}
    assert (await scrape(server))[("pusherpy_up", "")] == 1


async def test_every_app_has_gauges_from_the_start(server_factory: ServerFactory) -> None:
    server = await server_factory(make_app(id="1", key="k1"), make_app(id="2", key="k2"))
    samples = await scrape(server)
    for app_id in ("1", "2"):
        assert gauges(samples, app_id) == {"connections": 0, "channels": 0, "subscriptions": 0}


async def test_gauges_follow_connections_channels_and_subscriptions_per_app(server_factory: ServerFactory) -> None:
    first, second = make_app(id="1", key="k1"), make_app(id="2", key="k2")
    server = await server_factory(first, second)
    async with connect(server, app=first) as one, connect(server, app=first) as two, connect(server, app=second):
        await one.subscribe("news")
        await one.subscribe("sport")
        await two.subscribe("news")
        samples = await scrape(server)
        assert gauges(samples, "1") == {"connections": 2, "channels": 2, "subscriptions": 3}
        assert gauges(samples, "2") == {"connections": 1, "channels": 0, "subscriptions": 0}
    samples = await scrape_until(server, lambda s: s[("pusherpy_connections", "1")] == 0)
    assert gauges(samples, "1") == {"connections": 0, "channels": 0, "subscriptions": 0}


async def test_messages_and_bytes_received_count_what_clients_send(server: RunningServer) -> None:
    before = await scrape(server)
    async with connect(server) as client:
        await client.send("pusher:ping")
        await client.expect("pusher:pong")
        await client.send("pusher:ping")
        await client.expect("pusher:pong")
        after = await scrape(server)
    app_id = server.app.id
    assert counter(after, "messages_received", app_id) - counter(before, "messages_received", app_id) == 2
    ping = len('{"event": "pusher:ping", "data": {}}')
    assert counter(after, "bytes_received", app_id) - counter(before, "bytes_received", app_id) == 2 * ping


async def test_messages_and_bytes_sent_count_each_socket_a_broadcast_reaches(server: RunningServer) -> None:
    app_id = server.app.id
    async with connect(server) as one, connect(server) as two, connect(server) as three:
        for client in (one, two, three):
            await client.subscribe("news")
        before = await scrape(server)
        await trigger(server, "news", "update", "x" * 100, socket_id=three.socket_id)
        await one.expect("update")
        await two.expect("update")
        after = await scrape(server)
    assert counter(after, "messages_sent", app_id) - counter(before, "messages_sent", app_id) == 2
    sent_bytes = counter(after, "bytes_sent", app_id) - counter(before, "bytes_sent", app_id)
    assert 2 * 100 < sent_bytes < 2 * 200
    assert counter(after, "api_messages", app_id) - counter(before, "api_messages", app_id) == 1


async def test_connections_opened_and_closed_are_counted(server: RunningServer) -> None:
    app_id = server.app.id
    async with connect(server):
        samples = await scrape(server)
        assert counter(samples, "connections_opened", app_id) == 1
    samples = await scrape_until(server, lambda s: counter(s, "connections_closed", app_id) == 1)
    assert counter(samples, "connections_opened", app_id) == 1
