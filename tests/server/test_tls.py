"""``pusherpy serve --tls-cert --tls-key``: wss:// and https:// on one port, with certificates the tests make.

A real ``pusherpy serve`` process, the real pusher-js running the snippet the banner prints (trusting the test's CA
through ``NODE_EXTRA_CA_CERTS``), pusherpy's publishers on the printed ``PUSHER_URL`` (in a process of their own
that trusts the CA through ``SSL_CERT_FILE``), and the certificate reloaded on SIGHUP under a connected socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pusherpy.envfile import parse_env
from pusherpy.protocol import signing
from pusherpy.server.app import create_app
from pusherpy.server.listener import PusherSite
from pusherpy.server.settings import DEV_APP
from pusherpy.server.state import STATE
from pusherpy.server.tls import TlsCertificates
from tests.hardening.wire import RawSocket, upgrade_request
from tests.helpers import DEADLINE, PusherClient, RunningServer, bounded_cleanup, make_app, make_settings
from tests.server.serve_process import ServerProcess, banner_block, pusher_js_runs_the_snippet, run_cli, serving
from tests.server.tls_certs import ServerPair, TestCa

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def ca(tmp_path: Path) -> TestCa:
    return await TestCa.make(tmp_path / "ca")


@pytest.fixture
async def pair(ca: TestCa) -> ServerPair:
    return await ca.issue(0x1001)


async def publish(kind: str, url: str, channel: str, ca: TestCa) -> dict[str, Any]:
    """Trigger ``greeting`` on ``channel`` and read its info with pusherpy's sync or async publisher on ``url``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.server.publish_url",
        kind,
        url,
        channel,
        cwd=ROOT,
        env={**os.environ, "SSL_CERT_FILE": str(ca.cert)},
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), DEADLINE * 2)
    output = stdout.decode().strip()
    assert output.startswith("{"), output
    result: dict[str, Any] = json.loads(output)
    return result


@asynccontextmanager
async def socket_over_tls(port: int, context: ssl.SSLContext) -> AsyncIterator[PusherClient]:
    """A protocol-7 client of the dev app over wss://, once connection_established arrived."""
    url = f"wss://127.0.0.1:{port}/app/{DEV_APP.key}?protocol=7&client=js&version=8.4.0"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, ssl=context) as ws:
        client = PusherClient(ws, DEV_APP)
        established = await client.receive()
        assert established["event"] == "pusher:connection_established", established
        client.socket_id = established["data"]["socket_id"]
        yield client


async def served_serial(port: int, context: ssl.SSLContext) -> int:
    """The serial number of the certificate a new TLS connection to ``port`` is shown."""
    _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=context), DEADLINE)
    try:
        return int(writer.get_extra_info("peercert")["serialNumber"], 16)
    finally:
        writer.close()


async def logged(server: ServerProcess, text: str) -> str:
    """Read the server's log until a line containing ``text``; that line."""
    assert server.process.stderr is not None
    async with asyncio.timeout(DEADLINE):
        while True:
            line = (await server.process.stderr.readline()).decode()
            assert line, f"the server's log ended without {text!r}"
            if text in line:
                return line


def tls_args(pair: ServerPair) -> tuple[str, ...]:
    return ("--tls-cert", str(pair.cert), "--tls-key", str(pair.key))


class TestConfiguration:
    @pytest.mark.parametrize("given", ["--tls-cert", "--tls-key"])
    async def test_one_file_without_the_other_is_refused_naming_both(self, pair: ServerPair, given: str) -> None:
        path = pair.cert if given == "--tls-cert" else pair.key
        code, stdout, stderr = await run_cli("serve", "--port", "0", given, str(path))
        missing = "tls_key" if given == "--tls-cert" else "tls_cert"
        assert code == 2
        assert stderr == (
            f"pusherpy: configuration error: tls_cert and tls_key go together: {missing} is not set "
            "(--tls-cert/--tls-key)\n"
        )
        assert "listening" not in stdout

    async def test_a_missing_file_is_named(self, pair: ServerPair, tmp_path: Path) -> None:
        missing = tmp_path / "nowhere.pem"
        code, _, stderr = await run_cli("serve", "--port", "0", "--tls-cert", str(missing), "--tls-key", str(pair.key))
        assert (code, stderr) == (2, f"pusherpy: configuration error: tls_cert={str(missing)!r} is not a file\n")

    async def test_a_key_of_another_certificate_is_refused(self, ca: TestCa, pair: ServerPair) -> None:
        other = await ca.issue(0x2002)
        code, _, stderr = await run_cli(
            "serve", "--port", "0", "--tls-cert", str(pair.cert), "--tls-key", str(other.key)
        )
        assert code == 2
        assert stderr == (
            f"pusherpy: configuration error: tls_key={str(other.key)!r} is not the key of the certificate in "
            f"tls_cert={str(pair.cert)!r}\n"
        )

    async def test_a_file_that_is_not_pem_is_refused_in_one_line(self, pair: ServerPair, tmp_path: Path) -> None:
        garbage = tmp_path / "garbage.pem"
        garbage.write_text("not a certificate\n")
        code, _, stderr = await run_cli("serve", "--port", "0", "--tls-cert", str(garbage), "--tls-key", str(pair.key))
        assert code == 2
        assert stderr.startswith(f"pusherpy: configuration error: cannot load tls_cert={str(garbage)!r}"), stderr
        assert stderr.count("\n") == 1 and "Traceback" not in stderr


class TestServingTls:
    async def test_the_printed_snippet_and_url_work_over_wss_and_https(self, ca: TestCa, pair: ServerPair) -> None:
        async with serving(*tls_args(pair)) as server:
            banner = server.banner
            port = server.port
            assert banner[0] == f"pusherpy listening on https://127.0.0.1:{port}"
            assert banner[1] == f"WebSocket: wss://127.0.0.1:{port}/app/{DEV_APP.key}?protocol=7"
            assert banner[2] == f"Metrics: https://127.0.0.1:{port}/metrics"
            laravel = parse_env("\n".join(banner_block(banner, "Laravel .env")), {})
            assert (laravel["REVERB_SCHEME"], laravel["REVERB_PORT"]) == ("https", str(port))
            (url_line,) = banner_block(banner, "Python")
            url = url_line.removeprefix("PUSHER_URL=")
            assert url.startswith(f"https://{DEV_APP.key}:")
            snippet = "\n".join(banner_block(banner, "pusher-js:"))
            assert f"wssPort: {port}, forceTLS: true" in snippet

            received, published = await pusher_js_runs_the_snippet(
                snippet, lambda: publish("async", url, "first-hour", ca), {"NODE_EXTRA_CA_CERTS": str(ca.cert)}
            )
        assert received["data"] == {"text": "hello over TLS"}
        assert published == {"trigger": {}, "info": {"occupied": True, "subscription_count": 1}}

    async def test_http_api_up_metrics_and_sockets_share_the_tls_port(self, ca: TestCa, pair: ServerPair) -> None:
        environ = {"PUSHERPY_TLS_CERT": str(pair.cert), "PUSHERPY_TLS_KEY": str(pair.key)}
        context = ca.client_context()
        async with serving(env=environ) as server:
            assert server.scheme == "https"
            base = server.http_url
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{base}/up", ssl=context) as response:
                    assert (response.status, await response.json()) == (200, {"health": "OK"})
                async with session.get(f"{base}/metrics", ssl=context) as response:
                    assert response.status == 200 and "pusherpy_" in await response.text()
                # the same pooled connection carries the upgrade: aiohttp hands the TLS transport back to pusherpy
                url = f"wss://127.0.0.1:{server.port}/app/{DEV_APP.key}?protocol=7"
                async with session.ws_connect(url, ssl=context) as ws:
                    client = PusherClient(ws, DEV_APP)
                    assert (await client.receive())["event"] == "pusher:connection_established"
                    await client.subscribe("news")
                    url_line = banner_block(server.banner, "Python")[0].removeprefix("PUSHER_URL=")
                    published = await publish("sync", url_line, "news", ca)
                    event = await client.expect("greeting", channel="news")
            assert published["info"]["subscription_count"] == 1
            assert event["data"] == {"text": "hello over TLS"}
            plain = f"http://127.0.0.1:{server.port}/up"
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.ClientError):  # plain HTTP on the TLS port gets no answer
                    async with session.get(plain) as response:
                        await response.read()

    @pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
    async def test_alpn_is_http_1_1_and_tls_1_1_is_refused(self, ca: TestCa, pair: ServerPair) -> None:
        async with serving(*tls_args(pair)) as server:
            offering_h2 = ca.client_context()
            offering_h2.set_alpn_protocols(["h2", "http/1.1"])
            _, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=offering_h2)
            assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
            assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
            writer.close()

            old = ca.client_context()
            old.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client would speak TLS 1.1; the server must refuse it
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            with pytest.raises(OSError) as refused:
                await asyncio.open_connection("127.0.0.1", server.port, ssl=old)
            # The server hangs up in the handshake (asyncio and uvloop send no alert); never a local refusal to try
            assert isinstance(refused.value, ConnectionResetError | ssl.SSLEOFError) or "PROTOCOL_VERSION" in str(
                refused.value
            ), repr(refused.value)

            just_1_2 = ca.client_context()
            just_1_2.maximum_version = ssl.TLSVersion.TLSv1_2
            assert await served_serial(server.port, just_1_2) == pair.serial

    async def test_a_client_that_never_starts_its_handshake_is_closed_after_handshake_timeout(
        self, pair: ServerPair
    ) -> None:
        async with serving(*tls_args(pair), env={"PUSHERPY_HANDSHAKE_TIMEOUT": "0.5"}) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)  # TCP only, no ClientHello
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
            assert time.monotonic() - started < 2.5  # not asyncio's default of 60 s
            writer.close()


class TestReloadOnSighup:
    async def test_new_handshakes_get_the_new_pair_and_sockets_stay(self, ca: TestCa, tmp_path: Path) -> None:
        first, second = await ca.issue(0x1001), await ca.issue(0x2002)
        live = ServerPair(tmp_path / "live.pem", tmp_path / "live.key", 0)
        shutil.copy(first.cert, live.cert)
        shutil.copy(first.key, live.key)
        context = ca.client_context()
        async with serving(*tls_args(live)) as server, socket_over_tls(server.port, context) as old:
            await old.subscribe("news")
            assert await served_serial(server.port, context) == first.serial

            shutil.copy(second.cert, live.cert)
            shutil.copy(second.key, live.key)
            server.process.send_signal(signal.SIGHUP)
            await logged(server, "TLS certificate reloaded")
            assert await served_serial(server.port, context) == second.serial
            url = banner_block(server.banner, "Python")[0].removeprefix("PUSHER_URL=")
            await publish("async", url, "news", ca)
            assert (await old.expect("greeting", channel="news"))["data"] == {"text": "hello over TLS"}

            shutil.copy(first.cert, live.cert)  # a certificate whose key is not the one beside it
            server.process.send_signal(signal.SIGHUP)
            line = await logged(server, "not reloaded")
            assert "is not the key of the certificate" in line
            assert await served_serial(server.port, context) == second.serial
            async with socket_over_tls(server.port, context) as new:
                await new.subscribe("news")
                await publish("sync", url, "news", ca)
                await new.expect("greeting", channel="news")
                await old.expect("greeting", channel="news")
            server.process.send_signal(signal.SIGTERM)
            assert await server.wait_exit() == 0
            rest = await server.stderr()
        assert "Traceback" not in rest and "not reloaded" not in rest, rest


@asynccontextmanager
async def serving_tls_here(pair: ServerPair, **settings: Any) -> AsyncIterator[RunningServer]:
    """A server in this process on 127.0.0.1 and a free port, over TLS, so a test can look at its state."""
    application = create_app(make_settings(make_app(max_event_payload_kb=100), **settings))
    runner = web.AppRunner(application, shutdown_timeout=2.0)
    await runner.setup()
    await PusherSite(runner, "127.0.0.1", 0, tls=TlsCertificates(str(pair.cert), str(pair.key))).start()
    try:
        yield RunningServer(application[STATE].settings, application, runner, runner.addresses[0][1])
    finally:
        await bounded_cleanup(runner)


async def publish_here(server: RunningServer, context: ssl.SSLContext, batch: list[dict[str, str]]) -> None:
    """A signed ``batch_events`` over https:// (the publish fast path)."""
    app, path = server.app, f"/apps/{server.app.id}/batch_events"
    body = json.dumps({"batch": batch}).encode()
    query = signing.signed_query(app.key, app.secret, "POST", path, timestamp=int(time.time()), body=body)
    async with aiohttp.ClientSession() as session:
        url = f"https://127.0.0.1:{server.port}{path}"
        async with session.post(url, params=query, data=body, ssl=context) as response:
            assert response.status == 200, await response.text()


class TestFastPathsOverTls:
    async def test_a_socket_that_stops_reading_is_dropped_and_the_others_get_every_event(
        self, ca: TestCa, pair: ServerPair
    ) -> None:
        """The lean socket's send-buffer limit sees what the TLS transport holds back for a peer that stopped
        reading; the others keep getting every event published over https://."""
        context = ca.client_context()
        limits = {"send_buffer_limit_bytes": 256 * 1024, "max_request_body_bytes": 1024 * 1024}
        async with serving_tls_here(pair, **limits) as server:
            state = server.application[STATE]
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            reader, writer = await asyncio.open_connection(sock=sock, ssl=context, server_hostname="127.0.0.1")
            stalled = RawSocket(reader, writer)
            writer.write(upgrade_request(server))
            assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)).startswith(b"HTTP/1.1 101")
            stalled.socket_id = (await stalled.next_message())["data"]["socket_id"]
            stalled.send_json({"event": "pusher:subscribe", "data": {"channel": "firehose"}})
            assert (await stalled.next_message())["event"] == "pusher_internal:subscription_succeeded"
            url = f"wss://127.0.0.1:{server.port}/app/{server.app.key}?protocol=7"
            async with aiohttp.ClientSession() as session, session.ws_connect(url, ssl=context) as ws:
                healthy = PusherClient(ws, server.app)
                assert (await healthy.receive())["event"] == "pusher:connection_established"
                await healthy.subscribe("firehose")
                published, pad = 0, "x" * 60_000
                async with asyncio.timeout(20):
                    while state.metrics.counters[("slow_consumers_dropped", server.app.id)] == 0:
                        batch = [
                            {"name": "big", "channel": "firehose", "data": json.dumps({"n": published + i, "p": pad})}
                            for i in range(10)
                        ]
                        await publish_here(server, context, batch)
                        published += 10
                    received = [(await healthy.expect("big"))["data"]["n"] for _ in range(published)]
            assert received == list(range(published))
            async with asyncio.timeout(DEADLINE):  # gone once its grace period to flush the close frame is over
                while any(client.socket_id == stalled.socket_id for client in state.broker.local_clients()):
                    await asyncio.sleep(0.02)
            writer.close()
