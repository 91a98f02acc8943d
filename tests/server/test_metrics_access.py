"""Who may read ``GET /metrics``: anyone on a loopback bind (as before); elsewhere only a scraper with the
``metrics_token``, one that reaches the separate ``metrics_host``/``metrics_port`` listener, or anyone when
``metrics_public = true`` says so. A refusal is JSON that says how to open it, never the metrics.

The in-process servers listen on 127.0.0.1 whatever ``host`` their settings name; the rule follows the configured
``host`` (what the server was told it is exposed on), and one test binds ``0.0.0.0`` for real.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from pusherpy.protocol.errors import ConfigError
from pusherpy.server.http_health import METRICS_LISTENER
from pusherpy.server.settings import load_settings
from tests.conftest import ServerFactory
from tests.helpers import RunningServer, make_app
from tests.server.serve_process import serving
from tests.server.test_metrics import scrape

TOKEN = "metrics-t0ken-for-prometheus"
APP_OPTIONS = ("--app-id", "1", "--app-key", "k", "--app-secret", "s")


async def get(url: str, authorization: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """GET ``url``: the status, the JSON body (or the text, for metrics) and the headers."""
    headers = {} if authorization is None else {"Authorization": authorization}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body, dict(response.headers)


async def public_server(server_factory: ServerFactory, **settings: Any) -> RunningServer:
    return await server_factory(make_app(), host="0.0.0.0", **settings)


class TestOffLoopback:
    async def test_metrics_are_refused_with_how_to_open_them(self) -> None:
        """A real ``pusherpy serve --host 0.0.0.0``, scraped over loopback as any other machine would be."""
        async with serving("--host", "0.0.0.0", *APP_OPTIONS) as server:
            status, body, _ = await get(f"http://127.0.0.1:{server.port}/metrics")
            health, _, _ = await get(f"http://127.0.0.1:{server.port}/up")
            assert any(line.startswith("Metrics: not served on 0.0.0.0") for line in server.banner)
        assert status == 403
        for way in ("metrics_token", "metrics_port", "metrics_public"):
            assert way in body["error"]
        assert health == 200, "/up stays open for load balancers"

    async def test_metrics_public_opens_them_to_anyone(self, server_factory: ServerFactory) -> None:
        server = await public_server(server_factory, metrics_public=True)
        assert (await scrape(server))[("pusherpy_up", "")] == 1


class TestToken:
    @pytest.mark.parametrize(
        "authorization",
        [None, f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"{TOKEN}", "Bearer \udcff"],
        ids=["none", "basic", "empty", "longer", "shorter", "no scheme", "undecodable"],
    )
    async def test_anything_but_the_bearer_token_gets_401(
        self, server_factory: ServerFactory, authorization: str | None
    ) -> None:
        server = await public_server(server_factory, metrics_token=TOKEN)
        status, body, headers = await get(server.http_url + "/metrics", authorization)
        assert status == 401
        assert "Authorization: Bearer" in body["error"]
        assert headers["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
    async def test_the_bearer_token_gets_the_metrics(self, server_factory: ServerFactory, scheme: str) -> None:
        server = await public_server(server_factory, metrics_token=TOKEN)
        status, text, _ = await get(server.http_url + "/metrics", f"{scheme} {TOKEN}")
        assert status == 200
        assert "pusherpy_up 1" in text.splitlines()

    async def test_a_token_is_asked_for_on_loopback_too(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(), metrics_token=TOKEN)
        assert (await get(server.http_url + "/metrics"))[0] == 401
        assert (await get(server.http_url + "/metrics", f"Bearer {TOKEN}"))[0] == 200


class TestOwnListener:
    async def test_metrics_and_up_move_to_their_own_port(self, server_factory: ServerFactory) -> None:
        server = await public_server(server_factory, metrics_port=0)
        port = server.application[METRICS_LISTENER].port
        assert port is not None and port != server.port
        status, body, _ = await get(server.http_url + "/metrics")
        assert status == 404 and "metrics_port" in body["error"]
        status, text, _ = await get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "pusherpy_up 1" in text.splitlines()
        assert (await get(f"http://127.0.0.1:{port}/up"))[:2] == (200, {"health": "OK"})

    async def test_from_the_environment_with_a_token_as_the_banner_says(self) -> None:
        env = {"PUSHERPY_METRICS_PORT": "0", "PUSHERPY_METRICS_TOKEN": TOKEN}
        async with serving("--host", "0.0.0.0", *APP_OPTIONS, env=env) as server:
            (line,) = [line for line in server.banner if line.startswith("Metrics: ")]
            url = line.split()[1]
            assert line == f"Metrics: {url} (send Authorization: Bearer <metrics_token>)"
            assert url.startswith("http://127.0.0.1:") and f":{server.port}/" not in url
            assert (await get(url))[0] == 401
            status, text, _ = await get(url, f"Bearer {TOKEN}")
        assert status == 200 and "pusherpy_up 1" in text.splitlines()
        assert all(TOKEN not in line for line in server.banner)


@pytest.mark.parametrize("token", ["two words", "caf\u00e9-t0ken", "tab\there"])
def test_a_token_no_header_could_carry_stops_start_up_without_being_shown(token: str) -> None:
    with pytest.raises(ConfigError, match="metrics_token must be printable ASCII") as raised:
        load_settings(environ={"PUSHERPY_METRICS_TOKEN": token})
    assert token not in str(raised.value)
