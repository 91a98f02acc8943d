"""Real nginx and Caddy running the recipes of docs/proxy.md: each terminates TLS (a certificate from a throw-away
CA) and forwards ``/ws/`` (and ``/apps/`` at the root) to a ``pusherpy serve`` process with ``path_prefix = "/ws"``.

Through each, unmodified pusher-js and Laravel Echo join a presence channel over wss and whisper, the npm SDK
publishes over https under the prefix, and the PyPI SDK (which cannot send a prefix) publishes at the root. The
client address pusherpy logs is the real client's only when the proxy is trusted. The proxies listen on TLS only
and forward only ``/ws/`` and ``/apps/``, so a client that connected at all did so over TLS under the prefix.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pusher  # type: ignore[import-untyped]
import pytest

from pusherpy.protocol.apps import AppConfig
from pusherpy.server.settings import Settings
from tests.compat.conftest import DEADLINE, MAIN_APP, SCENARIOS, CompatServer, NodeSession, running_server
from tests.proxy.caddy import running_caddy
from tests.proxy.nginx import running_nginx
from tests.proxy.recipes import recipe
from tests.server.tls_certs import ServerPair, TestCa

PREFIX = "/ws"
CLIENT = "127.0.0.2"
"""The address the test's own client connects to the proxy from (the proxy reaches pusherpy from 127.0.0.1)."""
SPOOFED = "198.51.100.66"
Proxy = Callable[[Path, int, ServerPair], AbstractContextManager[int]]
PROXIES: dict[str, Proxy] = {"nginx": running_nginx, "caddy": running_caddy}


def pusherpy_toml(trusted: list[str]) -> str:
    return f'path_prefix = "{PREFIX}"\ntrusted_proxies = {json.dumps(trusted)}\n' + MAIN_APP.toml()


@pytest.fixture(scope="module", params=sorted(PROXIES))
def behind_proxy(
    request: pytest.FixtureRequest, node_modules: Path, tmp_path_factory: pytest.TempPathFactory, pair: ServerPair
) -> Iterator[tuple[CompatServer, int]]:
    """A pusherpy that trusts 127.0.0.1, behind the proxy; yields it and the proxy's port."""
    directory = tmp_path_factory.mktemp(f"behind-{request.param}")
    with running_server(directory, pusherpy_toml(["127.0.0.1"])) as server:
        with PROXIES[request.param](directory / request.param, server.port, pair) as port:
            yield server, port


def python_sdk(port: int, ca: TestCa) -> pusher.Pusher:
    """The PyPI SDK publishing over https to the proxy's root (it puts ``:port`` after the host, so no prefix)."""
    client = pusher.Pusher(
        app_id=MAIN_APP.id, key=MAIN_APP.key, secret=MAIN_APP.secret, host="127.0.0.1", port=port, ssl=True,
        timeout=DEADLINE,
    )  # fmt: skip
    # The SDK verifies against the CA bundle it ships; a private CA (this test's) is set on its requests backend.
    client._pusher_client.http.options["verify"] = str(ca.cert)
    return client


def node_session(port: int, ca: TestCa, log_path: Path) -> NodeSession:
    """through_proxy.mjs pointed at the proxy, with Node trusting the test CA as it would a private CA."""
    env = CompatServer(host="127.0.0.1", port=port, log_path=log_path).env()
    env["NODE_EXTRA_CA_CERTS"] = str(ca.cert)
    command = ["node", str(SCENARIOS / "through_proxy.mjs"), json.dumps(PREFIX)]
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=SCENARIOS.parent,
    )  # fmt: skip
    return NodeSession("through_proxy.mjs", process)


@pytest.fixture(scope="module")
def outcome(behind_proxy: tuple[CompatServer, int], ca: TestCa) -> dict[str, Any]:
    """Run through_proxy.mjs through the proxy, publish to its news channel with the PyPI SDK, collect what came."""
    server, port = behind_proxy
    session = node_session(port, ca, server.log_path)
    try:
        ready = session.expect(lambda m: m["type"] == "ready", "the clients in the room")
        published = python_sdk(port, ca).trigger(ready["news"], "from-python", {"n": 2})
        for client in ("ada", "bob"):
            session.expect(lambda m: m["type"] == "event" and m["client"] == client, f"the PyPI event at {client}")  # noqa: B023
    finally:
        session.close()
    return {"ready": ready, "python_publish": published, "python_received": session.messages[1:]}


def test_pusher_js_and_echo_join_a_presence_channel_over_wss_under_the_prefix(outcome: dict[str, Any]) -> None:
    ready = outcome["ready"]
    assert sorted(member["id"] for member in ready["here"]) == ["1", "2"]
    assert ready["member_added"] == {"id": "2", "info": {"id": "2", "name": "Bob"}}


def test_whispers_go_both_ways_between_pusher_js_and_echo(outcome: dict[str, Any]) -> None:
    whispers = {w["to"]: w["data"] for w in outcome["ready"]["whispers"]}
    assert whispers == {"ada": {"from": "Bob"}, "bob": {"from": "Ada"}}


def test_the_npm_sdk_publishes_over_https_with_the_prefix_in_its_host(outcome: dict[str, Any]) -> None:
    ready = outcome["ready"]
    assert ready["node_publish"]["status"] == 200, ready["node_publish"]
    assert sorted(e["to"] for e in ready["node_received"]) == ["ada", "bob"]
    assert all(e["data"] == {"n": 1} for e in ready["node_received"])


def test_the_pypi_sdk_publishes_over_https_at_the_root(outcome: dict[str, Any]) -> None:
    assert outcome["python_publish"] == {}
    received = {(m["client"], m["event"]) for m in outcome["python_received"]}
    assert received == {("ada", "from-python"), ("bob", "from-python")}
    assert all(m["data"] == {"n": 2} for m in outcome["python_received"])


def test_nginx_waits_longer_than_a_quiet_socket_can_stay_silent() -> None:
    """nginx closes an upstream that has been silent for proxy_read_timeout; a healthy idle socket is silent up to
    activity_timeout (then the client pings) plus pong_timeout, so the recipe's timeouts must exceed that."""
    silent = AppConfig(id="1", key="key", secret="secret").activity_timeout + Settings().pong_timeout
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        found = re.findall(rf"^\s*{directive} (\d+)s;$", recipe("nginx"), flags=re.MULTILINE)
        assert len(found) == 1 and int(found[0]) > silent, (directive, found, silent)


@pytest.mark.parametrize("proxy", sorted(PROXIES))
@pytest.mark.parametrize(("trusted", "seen"), [(["127.0.0.1"], CLIENT), ([], "127.0.0.1")])
async def test_pusherpy_sees_the_real_client_only_when_the_proxy_is_trusted(
    tmp_path: Path, pair: ServerPair, ca: TestCa, proxy: str, trusted: list[str], seen: str
) -> None:
    """A client on 127.0.0.2 claiming to be SPOOFED opens a socket for an unknown key through the proxy; pusherpy
    logs the refusal with the address it believes: the client's (from the proxy's X-Forwarded-For) behind a trusted
    proxy, the proxy's own (127.0.0.1) otherwise, and never the one the client wrote itself."""
    with (
        running_server(tmp_path, pusherpy_toml(trusted)) as server,
        PROXIES[proxy](tmp_path / proxy, server.port, pair) as port,
    ):
        connector = aiohttp.TCPConnector(local_addr=(CLIENT, 0), ssl=ca.client_context())
        url = f"wss://127.0.0.1:{port}{PREFIX}/app/no-such-key?protocol=7&client=js&version=8.4.0"
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.ws_connect(url, headers={"X-Forwarded-For": SPOOFED}) as ws:
                error = json.loads((await ws.receive(timeout=DEADLINE)).data)
        assert error["event"] == "pusher:error", error
        refusals = [line for line in server.log_path.read_text().splitlines() if "refused a connection" in line]
        assert len(refusals) == 1, refusals
        assert f"refused a connection from {seen}: " in refusals[0]
