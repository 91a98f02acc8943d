"""A node's kept history is bounded: each channel keeps at most its rule's ``size`` events, and an app at most
``max_history_channels`` channel records (subscribers create records, so they must not grow without bound), the
least recently used forgotten first. /metrics shows both."""

from __future__ import annotations

from pusherpy.protocol.history import HistoryRule
from tests.helpers import api_request, connect, make_app, make_settings, serve
from tests.server.test_metrics import scrape

RULE = HistoryRule(channels="private-c.*", size=4, ttl_seconds=600, rewind=100)


async def test_each_channel_keeps_at_most_its_size_and_the_app_at_most_its_channels() -> None:
    app = make_app(history=(RULE,), max_history_channels=3)
    async with serve(make_settings(app)) as server:
        for n in range(10):
            body = {"name": "message", "channel": "private-c.0", "data": str(n)}
            assert (await api_request(server, "POST", f"/apps/{app.id}/events", body=body))[0] == 200
        samples = await scrape(server)
        assert samples[("pusherpy_history_events", app.id)] == RULE.size
        async with connect(server) as client:
            for n in range(1, 10):  # each subscription creates a record: a position before any event
                await client.subscribe(f"private-c.{n}")
            samples = await scrape(server)
            assert samples[("pusherpy_history_channels", app.id)] == 3
            assert samples[("pusherpy_history_events", app.id)] == 0, "the least recently used went first"
        async with connect(server) as late:
            await late.subscribe("private-c.0")
            await late.expect_nothing()
