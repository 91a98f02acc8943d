"""Redis secured as docs/scale-out.md ("Securing Redis") says: TLS through a ``rediss://`` URL whose query names
the CA, and an ACL user that may run pusherpy's commands on its keys and bus channels, and nothing else."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.helpers import api_request, connect, trigger
from tests.scale_out.cluster import MAIN_APP, Cluster, RedisClusterServer, RedisServer, running_cluster
from tests.scale_out.secured import AclRedisClusterServer, AclRedisServer, Tls, TlsRedisClusterServer, TlsRedisServer


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


DOCS = Path(__file__).parents[2] / "docs" / "scale-out.md"
ACL_PASSWORD = "acl-test-password"


def documented_acl(kind: str) -> list[str]:
    """The ACL user line docs/scale-out.md gives for one Redis (the first) or a Redis Cluster (the second), as
    ``redis-server --user`` tokens, with a password of the test's."""
    lines = [line for line in DOCS.read_text().splitlines() if line.startswith("user pusherpy on ")]
    assert len(lines) == 2, "docs/scale-out.md gives one ACL line for one Redis and one for a Redis Cluster"
    line = lines[1 if kind == "redis-cluster" else 0]
    return line.replace(">CHANGE-ME", f">{ACL_PASSWORD}").split()[1:]


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
async def test_the_documented_acl_user_may_do_all_pusherpy_does(tmp_path: Path, kind: str) -> None:
    """Nodes logged in as the documented ACL user (default prefix) serve presence, cache channels, queries, sign-in,
    replay records, kept channels (history) and a clean stop, and Redis denies them nothing: its ACL LOG stays empty."""
    user = documented_acl(kind)
    redis = AclRedisClusterServer(tmp_path, user) if kind == "redis-cluster" else AclRedisServer(tmp_path, user)
    async with running_cluster(tmp_path, nodes=0, redis=redis) as cluster:
        url = redis.url.replace("redis://", f"redis://pusherpy:{ACL_PASSWORD}@")
        config = cluster.workdir / "acl.toml"
        config.write_text(
            "reject_replayed_signatures = true\n"
            + cluster.config.read_text()
            .replace(f'redis_prefix = "{cluster.prefix}"', 'redis_prefix = "pusherpy"')
            .replace(f'redis_url = "{redis.url}"', f'redis_url = "{url}"')
        )
        node0 = await cluster.start_node(config=config)
        node1 = await cluster.start_node(config=config)
        await cluster.wait_all_healthy()
        async with AsyncExitStack() as stack:
            ann = await stack.enter_async_context(connect(node0))
            await ann.subscribe("presence-acl", user_id="ann")
            bob = await stack.enter_async_context(connect(node1))
            await bob.subscribe("presence-acl", user_id="bob")
            await ann.expect("pusher_internal:member_added")
            await bob.sign_in("bob", watchlist=["ann"])
            await bob.expect("pusher_internal:watchlist_events")
            assert (await trigger(node1, "cache-acl", "last", {"n": 1}))[0] == 200
            late = await stack.enter_async_context(connect(node0))
            await late.subscribe("cache-acl")
            assert (await late.expect("last"))["data"] == {"n": 1}
            kept = await trigger(node1, "kept-acl", "kept", {"n": 2})
            assert kept[0] == 200, kept
            paths = ("/channels", "/channels/presence-acl", "/channels/presence-acl/users", "/connections")
            for path in (*paths, "/channels/kept-acl/events"):
                status, _ = await api_request(node0, "GET", f"/apps/{MAIN_APP.id}{path}")
                assert status == 200, path
            await node1.stop()
            assert (await ann.expect("pusher_internal:member_removed"))["data"] == {"user_id": "bob"}

        for client in await _shard_clients(redis):
            try:
                assert await client.acl_log() == [], f"Redis denied pusherpy something: {await client.acl_log()}"
                # Every connection that ran a command ran it as the pusherpy user. A connection a node is opening
                # right now shows as "default" until its AUTH is read (cmd NULL, or the AUTH/HELLO itself).
                entries = [e for e in await client.client_list() if e["cmd"] not in _NOT_YET_AUTHENTICATED]
                assert {entry["user"] for entry in entries} == {"pusherpy"}, entries
            finally:
                await client.aclose()


_NOT_YET_AUTHENTICATED = ("client|list", "NULL", "auth", "hello")
"""The ``cmd`` of ``CLIENT LIST`` entries that say nothing of the user: this test's own client (listing), and a
connection that has not finished logging in."""


async def _shard_clients(redis: RedisServer | RedisClusterServer) -> list[Redis]:
    """A client (as the default user) of the Redis, or of each shard of the Redis Cluster."""
    if isinstance(redis, RedisClusterServer):
        return [redis.shard_client(port) for port in redis.processes]
    return [Redis(host="127.0.0.1", port=redis.port, decode_responses=True)]
