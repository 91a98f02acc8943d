"""``trusted_proxies``: ``Forwarded`` / ``X-Forwarded-For`` / ``X-Forwarded-Proto`` name the client only when the
TCP peer is a trusted proxy, and only as far back as trusted proxies reach (``pusherpy/server/forwarded.py``).

The server tests read the client address where pusherpy reports it: the access log of requests aiohttp serves,
the publish path's log, and the log of a socket opened or refused, on a real server over real sockets.
"""

from __future__ import annotations

import json
import logging
import re
import time

import aiohttp
import pytest

from pusherpy.protocol import signing
from pusherpy.protocol.errors import ConfigError
from pusherpy.server.forwarded import ClientAddress, TrustedProxies
from pusherpy.server.settings import load_settings
from tests.conftest import ServerFactory
from tests.helpers import RunningServer, make_app

CLIENT = "203.0.113.9"
SPOOFED = "198.51.100.66"
PROXIES = TrustedProxies(("10.0.0.0/8", "127.0.0.1", "2001:db8::/32"))


class TestSetting:
    def test_addresses_and_networks_are_read_from_a_list_or_a_comma_separated_variable(self) -> None:
        settings = load_settings(environ={"PUSHERPY_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1,::1"})
        assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1", "::1")
        assert load_settings().trusted_proxies == ()

    @pytest.mark.parametrize("entry", ["nginx", "10.0.0.0/33", "10.0.0.1:80", "*"])
    def test_anything_else_is_refused_by_name(self, entry: str) -> None:
        with pytest.raises(ConfigError, match=rf"PUSHERPY_TRUSTED_PROXIES: '{re.escape(entry)}' is not an IP"):
            load_settings(environ={"PUSHERPY_TRUSTED_PROXIES": f"127.0.0.1,{entry}"})


class TestClientAddress:
    def test_without_trusted_proxies_the_headers_are_ignored(self) -> None:
        headers = {"x-forwarded-for": CLIENT, "x-forwarded-proto": "https", "forwarded": f"for={CLIENT}"}
        assert TrustedProxies(()).client_address("127.0.0.1", headers) == ClientAddress("127.0.0.1")

    def test_from_an_untrusted_peer_the_headers_are_ignored(self) -> None:
        assert PROXIES.client_address(SPOOFED, {"x-forwarded-for": CLIENT}) == ClientAddress(SPOOFED)

    def test_the_right_most_untrusted_address_is_the_client(self) -> None:
        headers = {"x-forwarded-for": f"{SPOOFED}, {CLIENT}, 10.1.2.3", "x-forwarded-proto": "https"}
        assert PROXIES.client_address("10.0.0.1", headers) == ClientAddress(CLIENT, "https")

    def test_each_hop_keeps_its_own_proto_when_every_hop_is_listed(self) -> None:
        headers = {"x-forwarded-for": f"{CLIENT}, 10.1.2.3", "x-forwarded-proto": "https, http"}
        assert PROXIES.client_address("10.0.0.1", headers) == ClientAddress(CLIENT, "https")

    def test_forwarded_wins_and_reads_quoted_ipv6_with_ports(self) -> None:
        headers = {
            "forwarded": 'for="[2001:db9::7]:4711";proto=https, for="10.9.9.9:80"',
            "x-forwarded-for": SPOOFED,
        }
        assert PROXIES.client_address("127.0.0.1", headers) == ClientAddress("2001:db9::7", "https")

    def test_a_chain_of_trusted_proxies_only_gives_its_left_most_address(self) -> None:
        assert PROXIES.client_address("127.0.0.1", {"x-forwarded-for": "10.0.0.7, 10.0.0.8"}).ip == "10.0.0.7"

    def test_an_unknown_hop_stops_the_walk_at_the_proxy_that_reported_it(self) -> None:
        headers = {"forwarded": "for=unknown, for=10.0.0.8"}
        assert PROXIES.client_address("127.0.0.1", headers).ip == "10.0.0.8"

    def test_an_ipv4_peer_written_as_ipv6_is_trusted(self) -> None:
        assert PROXIES.client_address("::ffff:127.0.0.1", {"x-forwarded-for": CLIENT}).ip == CLIENT


# -- on a real server ---------------------------------------------------------------------------------------------


async def publish(server: RunningServer, headers: dict[str, str]) -> int:
    app = server.app
    path = f"/apps/{app.id}/events"
    body = json.dumps({"name": "e", "channels": ["news"], "data": "{}"}).encode()
    query = signing.signed_query(app.key, app.secret, "POST", path, timestamp=int(time.time()), body=body)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.http_url + path, params=query, data=body, headers=headers) as response:
            return response.status


async def get(server: RunningServer, path: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.http_url + path, headers=headers) as response:
            return response.status


async def open_refused(server: RunningServer, headers: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.ws_url("no-such-key"), headers=headers) as ws:
            await ws.receive()


def logged(caplog: pytest.LogCaptureFixture, logger: str) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == logger)


@pytest.mark.parametrize(("trusted", "seen"), [(("127.0.0.1",), CLIENT), ((), "127.0.0.1")])
class TestServer:
    HEADERS = {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}", "X-Forwarded-Proto": "https"}

    async def test_the_access_log_names_the_client(
        self, server_factory: ServerFactory, caplog: pytest.LogCaptureFixture, trusted: tuple[str, ...], seen: str
    ) -> None:
        server = await server_factory(make_app(), trusted_proxies=trusted)
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            assert await get(server, "/up", self.HEADERS) == 200
        line = logged(caplog, "aiohttp.access")
        assert line.startswith(f'{seen} "GET /up" 200 '), line

    async def test_the_publish_path_log_names_the_client(
        self, server_factory: ServerFactory, caplog: pytest.LogCaptureFixture, trusted: tuple[str, ...], seen: str
    ) -> None:
        server = await server_factory(make_app(), trusted_proxies=trusted)
        with caplog.at_level(logging.DEBUG, logger="pusherpy.server.publish_path"):
            assert await publish(server, self.HEADERS) == 200
        line = logged(caplog, "pusherpy.server.publish_path")
        assert line.startswith(f'{seen} "POST /apps/{server.app.id}/events" 200'), line

    async def test_a_refused_socket_is_logged_with_the_client(
        self, server_factory: ServerFactory, caplog: pytest.LogCaptureFixture, trusted: tuple[str, ...], seen: str
    ) -> None:
        server = await server_factory(make_app(), trusted_proxies=trusted)
        with caplog.at_level(logging.INFO, logger="pusherpy.server.upgrade"):
            await open_refused(server, self.HEADERS)
        assert f"refused a connection from {seen}: " in logged(caplog, "pusherpy.server.upgrade")
