"""Redis secured as docs/scale-out.md ("Securing Redis") says: TLS through a ``rediss://`` URL whose query names
the CA, and an ACL user that may run pusherpy's commands on its keys and bus channels, and nothing else."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.helpers import connect, trigger
from tests.scale_out.cluster import Cluster, running_cluster
from tests.scale_out.secured import Tls, TlsRedisClusterServer, TlsRedisServer


async def _an_event_and_a_member_cross_between_the_nodes(cluster: Cluster) -> None:
    node0, node1 = cluster.nodes[:2]
    async with AsyncExitStack() as stack:
        ann = await stack.enter_async_context(connect(node0))
        await ann.subscribe("presence-secured", user_id="ann")
        bob = await stack.enter_async_context(connect(node1))
        reply = await bob.subscribe("presence-secured", user_id="bob")
        assert sorted(reply["data"]["presence"]["ids"]) == ["ann", "bob"]
        assert (await ann.expect("pusher_internal:member_added"))["data"]["user_id"] == "bob"
        status, _ = await trigger(node1, "presence-secured", "sealed", {"n": 1})
        assert status == 200
        assert (await ann.expect("sealed"))["data"] == {"n": 1}


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
async def test_nodes_share_a_tls_redis_through_a_rediss_url_naming_the_ca(tmp_path: Path, kind: str) -> None:
    tls = await Tls.make(tmp_path / "tls")
    redis = TlsRedisClusterServer(tmp_path, tls) if kind == "redis-cluster" else TlsRedisServer(tmp_path, tls)
    async with running_cluster(tmp_path, nodes=2, redis=redis) as cluster:
        assert f'redis_url = "{redis.url}"' in cluster.config.read_text() and redis.url.startswith("rediss://")
        await cluster.wait_all_healthy()
        await _an_event_and_a_member_cross_between_the_nodes(cluster)

        # Without the CA, the certificate cannot be verified: the node says so and stays degraded.
        unverified = cluster.workdir / "unverified.toml"
        unverified.write_text(cluster.config.read_text().replace(f"?ssl_ca_certs={tls.ca}", ""))
        blind = await cluster.start_node(config=unverified)
        assert await blind.health() == 503
        cluster.nodes.remove(blind)
        await blind.stop()
        log = (cluster.workdir / f"{blind.name}.log").read_text()
        assert re.search("CERTIFICATE_VERIFY_FAILED", log), log[-2000:]
