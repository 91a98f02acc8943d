"""Replay protection across the cluster: with ``reject_replayed_signatures``, a signed request accepted by one node
is refused (401) when a copy is sent to another, because the first use is recorded in Redis (``SET NX``)."""

from __future__ import annotations

import json
import time
from contextlib import AsyncExitStack

import pytest

from pusherpy.protocol import signing
from tests.helpers import connect
from tests.scale_out.cluster import MAIN_APP, Cluster, drain, named
from tests.server.test_replay import send

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_signed_request_accepted_by_one_node_is_refused_when_replayed_to_another(cluster: Cluster) -> None:
    config = cluster.workdir / "replays.toml"
    config.write_text("reject_replayed_signatures = true\n" + cluster.config.read_text())
    async with AsyncExitStack() as stack:
        node_a, node_b = [await cluster.start_node(config=config) for _ in range(2)]
        for node in (node_a, node_b):
            stack.callback(cluster.nodes.remove, node)
            stack.push_async_callback(node.stop)
        await cluster.wait_all_healthy()
        listener = await stack.enter_async_context(connect(cluster.nodes[0]))
        await listener.subscribe("news-replayed")

        events = f"/apps/{MAIN_APP.id}/events"
        body = json.dumps({"name": "headline", "channels": ["news-replayed"], "data": "{}"}).encode()
        now = int(time.time())
        query = signing.signed_query(MAIN_APP.key, MAIN_APP.secret, "POST", events, timestamp=now, body=body)
        assert (await send(node_a, "POST", events, query, body))[0] == 200
        status, reply, _ = await send(node_b, "POST", events, query, body)
        assert status == 401 and "already used" in reply["error"]
        await listener.expect("headline")
        assert named(await drain(listener), "headline") == []

        channels = f"/apps/{MAIN_APP.id}/channels"
        fresh = signing.signed_query(MAIN_APP.key, MAIN_APP.secret, "GET", channels, timestamp=int(time.time()))
        assert (await send(node_b, "GET", channels, fresh))[0] == 200
