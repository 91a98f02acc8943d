"""Scale-out with the real pusher-js: clients on different nodes share one presence channel and its events."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.scale_out.cluster import MAIN_APP, Cluster

pytestmark = pytest.mark.asyncio(loop_scope="session")

COMPAT_MODULES = Path(__file__).resolve().parents[1] / "compat" / "node_modules"
SCENARIO = Path(__file__).with_name("pusher_js_cluster.cjs")


async def test_pusher_js_clients_on_two_nodes_share_presence_and_events(cluster: Cluster) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the pusher-js scale-out test"
    assert (COMPAT_MODULES / "pusher-js").is_dir(), "run `npm ci` in tests/compat first"
    env = {
        **os.environ,
        "NODE_PATH": str(COMPAT_MODULES),
        "CLUSTER_PORTS": ",".join(str(n.port) for n in cluster.nodes),
        "APP_ID": MAIN_APP.id,
        "APP_KEY": MAIN_APP.key,
        "APP_SECRET": MAIN_APP.secret,
    }
    process = await asyncio.create_subprocess_exec(
        node, str(SCENARIO), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    seen = json.loads(stdout)
    assert seen["bob_sees_members"] == ["ann", "bob"]
    assert seen["bob_sees_count"] == 2
    assert seen["ann_saw_added"] == {"id": "bob", "info": {"name": "bob"}}
    assert seen["greetings"] == [{"text": "hello cluster"}, {"text": "hello cluster"}]
    assert seen["ann_saw_removed"] == "bob"
    assert seen["ann_count_after"] == 1
