"""Fixtures for the scale-out tests: one shared 3-node cluster, and fresh clusters for the fault tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.scale_out.cluster import Cluster, running_cluster


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """Three nodes on one Redis, shared by the tests that break nothing (each uses its own channel names)."""
    async with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture
async def fresh_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Three nodes on a Redis of their own, for tests that kill a node or Redis."""
    async with running_cluster(tmp_path) as running:
        yield running
