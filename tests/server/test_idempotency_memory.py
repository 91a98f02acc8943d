"""The keys a node remembers for idempotent publishing are bounded per app: publishers choose them, so past the
cap the oldest are forgotten (a repeat of one is then delivered again) and /metrics shows the count."""

from __future__ import annotations

import json

from pusherpy.server.broker.local import LocalBroker
from tests.helpers import api_request, connect, make_app, make_settings, serve
from tests.server.test_metrics import scrape

CAP = 5


async def test_the_remembered_keys_stay_within_the_cap_and_the_oldest_go_first() -> None:
    settings = make_settings(make_app())
    async with serve(settings, broker=LocalBroker(settings, idempotency_keys=CAP)) as server:
        path = f"/apps/{server.app.id}/events"

        async def publish(n: int) -> None:
            body = {"name": "order", "channel": "orders", "data": json.dumps({"n": n}), "idempotency_key": f"k{n}"}
            assert (await api_request(server, "POST", path, body=body))[0] == 200

        async with connect(server) as client:
            await client.subscribe("orders")
            for n in range(4 * CAP):
                await publish(n)
            assert [(await client.expect("order"))["data"]["n"] for _ in range(4 * CAP)] == list(range(4 * CAP))
            samples = await scrape(server)
            assert samples[("pusherpy_idempotency_keys", server.app.id)] == CAP
            await publish(4 * CAP - 1)  # the newest key is remembered: not delivered again
            await publish(0)  # the oldest was forgotten: delivered again, and now it is the newest
            assert (await client.expect("order"))["data"]["n"] == 0
            await client.expect_nothing()
            samples = await scrape(server)
            assert samples[("pusherpy_idempotency_keys", server.app.id)] == CAP
            assert samples[("pusherpy_api_messages_repeated_total", server.app.id)] == 1
