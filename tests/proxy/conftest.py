"""Fixtures for the proxy tests: a throw-away CA and a certificate for 127.0.0.1 that the proxies present."""

from __future__ import annotations

import asyncio

import pytest

from tests.compat.conftest import node_modules  # noqa: F401 (a fixture the proxy tests use too)
from tests.server.tls_certs import ServerPair, TestCa


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    return asyncio.run(TestCa.make(tmp_path_factory.mktemp("proxy-ca")))


@pytest.fixture(scope="module")
def pair(ca: TestCa) -> ServerPair:
    return asyncio.run(ca.issue(2))
