"""Under a path prefix, the real clients configured the way their users configure them: pusher-js with
``wsPath``, the official npm SDK with the prefix in ``host`` (it sends the prefix, signs the path without it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import MAIN_APP, CompatServer, running_server

PREFIX = "/ws"


@pytest.fixture(scope="module")
def prefixed_server(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatServer]:
    directory = tmp_path_factory.mktemp("compat-prefixed")
    with running_server(directory, f'path_prefix = "{PREFIX}"\n' + MAIN_APP.toml()) as server:
        yield server


@pytest.fixture(scope="module")
def outcome(prefixed_server: CompatServer) -> dict[str, Any]:
    return prefixed_server.node("path_prefix.mjs", PREFIX)  # type: ignore[no-any-return]


def sent(outcome: dict[str, Any], method: str) -> list[str]:
    """The paths (without their query) of the requests the clients sent with ``method``."""
    return [line.split(" ")[1].partition("?")[0] for line in outcome["request_lines"] if line.startswith(method)]


def test_pusher_js_connects_at_the_prefix_given_as_ws_path(outcome: dict[str, Any]) -> None:
    assert outcome["state"] == "connected"
    assert sent(outcome, "GET") == [f"{PREFIX}/app/{MAIN_APP.key}", f"{PREFIX}/apps/{MAIN_APP.id}/channels"]


def test_the_npm_sdk_publishes_through_the_prefix_in_its_host(outcome: dict[str, Any]) -> None:
    assert sent(outcome, "POST") == [f"{PREFIX}/apps/{MAIN_APP.id}/events"]
    assert outcome["trigger"]["status"] == 200, outcome["trigger"]
    assert outcome["received"] == [{"event": "through-prefix", "data": {"n": 1}}]
    assert outcome["channels"]["body"] == {"channels": {outcome["channel"]: {}}}
