"""Fixtures for the scale-out tests: one shared 3-node cluster, and fresh clusters for the fault tests.

Each runs twice: on one ``redis-server`` ("redis") and on a 3-shard Redis Cluster with sharded pub/sub
("redis-cluster"). A test about one of them asks for it: ``@pytest.mark.parametrize("cluster", ["redis"],
indirect=True)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.scale_out.cluster import Cluster, running_cluster

BACKENDS = ["redis", "redis-cluster"]


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=BACKENDS)
async def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """Three nodes on one Redis, shared by the tests that break nothing (each uses its own channel names)."""
    workdir = tmp_path_factory.mktemp(request.param)
    async with running_cluster(workdir, redis_cluster=request.param == "redis-cluster") as running:
        yield running


@pytest.fixture(params=BACKENDS)
async def fresh_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Three nodes on a Redis of their own, for tests that kill a node or Redis."""
    async with running_cluster(tmp_path, redis_cluster=request.param == "redis-cluster") as running:
        yield running
