"""What pusherpy keeps in Redis: each app's state under one hash tag (one Redis Cluster slot, so every script stays
atomic), and nothing of a channel or a user once the last of their sockets is gone.

(Every scale-out test also runs on a Redis Cluster: see ``conftest``; a shard restarting empty is in ``test_faults``.)
"""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import connect, trigger
from tests.scale_out.cluster import MAIN_APP, Cluster, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_every_key_carries_the_hash_tag_of_its_app_or_of_the_node_registry(cluster: Cluster) -> None:
    async with connect(cluster.nodes[1]) as client:
        await client.subscribe("presence-tagged", user_id="tagged")
        await client.subscribe("cache-tagged")
        await trigger(cluster.nodes[0], "cache-tagged", "kept", {})
        await client.expect("kept")
        keys = list(await cluster.redis.dump(cluster.prefix))
    prefix = re.escape(cluster.prefix)
    untagged = [key for key in keys if not re.match(rf"^\{{{prefix}(:\d+)?\}}:", key)]
    assert untagged == []
    app_keys = [key for key in keys if key.startswith(f"{{{cluster.prefix}:{MAIN_APP.id}}}:")]
    assert any(":presence:presence-tagged" in key for key in app_keys)
    assert any(":cache:cache-tagged" in key for key in app_keys)


async def test_a_node_set_for_the_wrong_kind_of_redis_stays_out_and_says_which_setting_to_fix(
    cluster: Cluster,
) -> None:
    """One Redis addressed as a cluster, or a cluster node addressed as one Redis, is refused (the keys would land
    on whatever slots that node owns): the node serves its own sockets alone, /up says 503, and its log says why."""
    wrong = cluster.workdir / "wrong-mode.toml"
    text = cluster.config.read_text()
    if cluster.redis.is_cluster:
        wrong.write_text(text.replace("redis_cluster = true", "redis_cluster = false"))
        reason = "is a Redis Cluster node: set redis_cluster = true"
    else:
        wrong.write_text("redis_cluster = true\n" + text)
        reason = "Cluster mode is not enabled"
    node = await cluster.start_node(config=wrong)
    try:
        async with connect(node) as client:
            await client.subscribe("wrong-mode")
            await trigger(node, "wrong-mode", "local", {})
            await client.expect("local")
        assert await node.health() == 503
        log = cluster.workdir / f"{node.name}.log"
        assert reason in log.read_text()
    finally:
        await node.stop()
        cluster.nodes.remove(node)


async def test_nothing_of_a_channel_or_user_stays_in_redis_once_their_last_socket_left(cluster: Cluster) -> None:
    async with connect(cluster.nodes[0]) as ann, connect(cluster.nodes[1]) as bob, connect(cluster.nodes[2]) as cat:
        for client, user_id in ((ann, "leaky-ann"), (bob, "leaky-bob"), (cat, "leaky-ann")):
            await client.subscribe("presence-leaky-room", user_id=user_id)
            await client.subscribe("leaky-news")
            await client.sign_in(user_id)
        await trigger(cluster.nodes[0], "leaky-news", "hello", {})
        await cat.expect("hello")
        during = json.dumps(await cluster.redis.dump(cluster.prefix))
        for name in ("presence-leaky-room", "leaky-news", "leaky-ann", "leaky-bob"):
            assert name in during  # the check below would see a leak

    async def forgotten() -> bool:
        state = json.dumps(await cluster.redis.dump(cluster.prefix))
        return "leaky" not in state

    await eventually(forgotten, what="every key and field of the channels and users gone from Redis")
