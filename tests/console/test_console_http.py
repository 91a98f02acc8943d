"""The console over HTTP: off unless configured, login and session cookie, CSRF, the JSON reads, the SSE log and
the event creator, against a real server on a real socket."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from pusherpy.cli import connection_help
from pusherpy.protocol.console import LogEntry, LogKind
from pusherpy.protocol.errors import ConfigError
from pusherpy.protocol.history import HistoryRule
from pusherpy.server.console import log_stream
from pusherpy.server.console.auth import SESSION_SECONDS, ConsoleAuth
from pusherpy.server.console.hub import WATCHER_QUEUE_SIZE
from pusherpy.server.console.log_stream import MAX_STREAMS
from pusherpy.server.settings import Settings, load_settings
from pusherpy.server.state import STATE
from tests.console.console_http import COOKIE, ConsoleSession, console_session
from tests.helpers import DEADLINE, api_request, connect, make_app, make_settings, serve
from tests.server.test_tls import serving_tls_here
from tests.server.tls_certs import TestCa

PASSWORD = "correct horse battery staple"


def console_settings(**overrides: object) -> Settings:
    return make_settings(console=True, console_password=PASSWORD, **overrides)


@asynccontextmanager
async def console_session_to_stopped_server() -> AsyncIterator[tuple[float, bytes]]:
    """Open a log stream, stop the server under it; yield how long stopping took and what the stream said."""
    async with serve(console_settings()) as server, console_session(server) as console:
        await console.login(PASSWORD)
        response = await console.http.get(f"{server.http_url}/console/api/apps/4242/log", headers=console.headers())
        assert response.status == 200
        await response.content.readline()
        started = time.monotonic()
        await server.runner.cleanup()
        stopped_in = time.monotonic() - started
        async with asyncio.timeout(DEADLINE):
            tail = await response.content.read()
        yield stopped_in, tail


class TestConfiguration:
    async def test_console_routes_are_404_when_the_console_is_off(self) -> None:
        async with serve(make_settings()) as server, aiohttp.ClientSession() as http:
            for path in ("/console", "/console/api/apps", "/console/static/console.js"):
                async with http.get(server.http_url + path) as response:
                    assert response.status == 404, path

    def test_start_up_is_refused_on_a_reachable_host_without_a_password(self) -> None:
        environ = {"PUSHERPY_HOST": "0.0.0.0", "PUSHERPY_CONSOLE": "true", "PUSHERPY_APP_ID": "1"}
        environ |= {"PUSHERPY_APP_KEY": "k", "PUSHERPY_APP_SECRET": "s"}
        with pytest.raises(ConfigError, match="console_password"):
            load_settings(environ=environ)
        settings = load_settings(environ={**environ, "PUSHERPY_CONSOLE_PASSWORD": PASSWORD})
        assert settings.console and settings.console_password == PASSWORD
        assert PASSWORD not in repr(settings)

    def test_loopback_needs_no_password(self) -> None:
        settings = load_settings(environ={"PUSHERPY_CONSOLE": "true"})
        assert settings.console and settings.console_password == ""

    def test_the_start_up_banner_says_where_the_console_is_never_its_password(self) -> None:
        banner = connection_help(console_settings(path_prefix="/ws"), 8080)
        assert "Console: http://127.0.0.1:8080/ws/console (log in with console_password)" in banner
        assert PASSWORD not in banner
        assert "Console:" not in connection_help(make_settings(), 8080)

    async def test_the_page_and_its_files_come_from_the_package(self) -> None:
        async with serve(make_settings(console=True)) as server, aiohttp.ClientSession() as http:
            for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
                async with http.get(f"{server.http_url}/console/static/{name}") as response:
                    assert response.status == 200 and response.content_type == kind
                    assert len(await response.text()) > 1000
            async with http.get(f"{server.http_url}/console/static/..%2Fweb.py") as response:
                assert response.status == 404


class TestLogin:
    async def test_the_console_asks_for_the_password_first(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            page = await console.load_page()
            assert 'type="password"' in page and console.csrf == ""
            status, body = await console.get_json("/apps")
            assert status == 401 and "log in" in body["error"]

    async def test_a_wrong_password_is_refused_with_a_message(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            response = await console.login("wrong")
            assert response.status == 401
            assert "Wrong password." in await response.text()
            assert COOKIE not in response.cookies

    async def test_the_right_password_gives_a_strict_http_only_session_cookie(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            response = await console.login(PASSWORD)
            assert response.status == 303 and response.headers["Location"] == "../console"
            set_cookie = response.headers["Set-Cookie"]
            assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
            assert "Path=" not in set_cookie  # scoped by the browser to the console's directory, prefix or not
            assert "Secure" not in set_cookie  # plain http here
            page = await console.load_page()
            assert 'id="log"' in page and len(console.csrf) == 64
            status, body = await console.get_json("/apps")
            assert status == 200 and body["apps"] == [{"id": "4242", "name": "", "key": "test-key", "enabled": True}]

    async def test_over_tls_the_cookie_is_secure(self, tmp_path: Path) -> None:
        ca = await TestCa.make(tmp_path / "ca")
        pair = await ca.issue(2)
        async with (
            serving_tls_here(pair, console=True, console_password=PASSWORD) as server,
            aiohttp.ClientSession() as http,
        ):
            origin = f"https://127.0.0.1:{server.port}"
            async with http.post(
                f"{origin}/console/login",
                data={"password": PASSWORD},
                headers={"Origin": origin},
                ssl=ca.client_context(),
                allow_redirects=False,
            ) as response:
                assert response.status == 303
                assert "Secure" in response.headers["Set-Cookie"]

    async def test_a_login_posted_from_another_site_is_refused(self) -> None:
        async with serve(console_settings()) as server, aiohttp.ClientSession() as http:
            for headers in ({}, {"Origin": "http://evil.example"}, {"Referer": "http://evil.example/x"}):
                async with http.post(
                    f"{server.http_url}/console/login", data={"password": PASSWORD}, headers=headers
                ) as response:
                    assert response.status == 403, headers
                    assert COOKIE not in response.cookies

    async def test_forged_expired_and_other_password_sessions_are_refused(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            auth = ConsoleAuth(PASSWORD)
            good = auth.new_session(time.time())
            expiry, nonce, mac = good.split(".")
            forged = f"{int(expiry) + 10**6}.{nonce}.{mac}"
            expired = auth.new_session(time.time() - SESSION_SECONDS - 1)
            other = ConsoleAuth("another password").new_session(time.time())
            for cookie in (forged, expired, other, "garbage", "x" * 500):
                console.cookie = cookie
                status, _ = await console.get_json("/apps")
                assert status == 401, cookie
            console.cookie = good
            status, _ = await console.get_json("/apps")
            assert status == 200

    async def test_login_attempts_are_rate_limited_per_client_so_a_guesser_locks_nobody_else_out(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as guesser:
            responses = await asyncio.gather(*(guesser.login("guess") for _ in range(12)))
            statuses = [response.status for response in responses]
            assert 429 in statuses and set(statuses) <= {401, 429}
            assert "Too many login attempts" in await responses[statuses.index(429)].text()
            other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))  # another client address
            async with aiohttp.ClientSession(connector=other) as http:
                response = await ConsoleSession(server, http).login(PASSWORD)
                assert response.status == 303

    async def test_logout_needs_the_csrf_token_and_ends_the_session_in_the_browser(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            await console.login(PASSWORD)
            await console.load_page()
            url = f"{server.http_url}/console/logout"
            async with console.http.post(url, data={"csrf": "0" * 64}, headers=console.headers()) as response:
                assert response.status == 403
            async with console.http.post(
                url, data={"csrf": console.csrf}, headers=console.headers(), allow_redirects=False
            ) as response:
                assert response.status == 303
                assert response.cookies[COOKIE].value == "" and response.cookies[COOKIE]["max-age"] == "0"


class TestWithoutPassword:
    async def test_a_loopback_console_without_password_opens_directly(self) -> None:
        async with serve(make_settings(console=True)) as server, console_session(server) as console:
            page = await console.load_page()
            assert 'id="log"' in page and console.csrf
            status, _ = await console.get_json("/apps")
            assert status == 200

    async def test_a_rebinding_host_name_is_refused(self) -> None:
        async with serve(make_settings(console=True)) as server, aiohttp.ClientSession() as http:
            for path in ("/console", "/console/api/apps"):
                async with http.get(server.http_url + path, headers={"Host": "rebind.evil.example"}) as response:
                    assert response.status == 403
            async with http.get(server.http_url + "/console", headers={"Host": f"localhost:{server.port}"}) as response:
                assert response.status == 200


class TestEventCreator:
    async def test_an_event_sent_from_the_console_reaches_a_subscriber(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console, connect(server) as client:
            await client.subscribe("news")
            await console.login(PASSWORD)
            await console.load_page()
            status, reply = await console.send_event(
                "4242", {"channel": "news", "event": "headline", "data": {"title": "hi"}}
            )
            assert (status, reply) == (200, {})
            message = await client.expect("headline", channel="news")
            assert message["data"] == {"title": "hi"}

    async def test_it_is_answered_as_the_http_api_answers(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            await console.login(PASSWORD)
            await console.load_page()
            status, reply = await console.send_event("4242", {"channel": "bad channel!", "event": "e", "data": 1})
            assert status == 400 and "channel" in reply["error"]
            status, reply = await console.send_event("4242", {"channel": "c", "event": "e", "data": "x" * 20_000})
            assert status == 413 and "KB" in reply["error"]
            status, reply = await console.send_event("9999", {"channel": "c", "event": "e", "data": 1})
            assert status == 404 and reply == {"error": "unknown app id"}

    async def test_a_kept_channel_gets_its_serial_as_from_the_http_api(self) -> None:
        app = make_app(history=(HistoryRule(channels="kept-*", size=10, ttl_seconds=600),))
        async with serve(make_settings(app, console=True)) as server, console_session(server) as console:
            await console.load_page()
            serials = []
            for n in (1, 2):
                status, reply = await console.send_event("4242", {"channel": "kept-news", "event": "e", "data": n})
                assert status == 200 and list(reply) == ["serials"]
                serials.append(reply["serials"]["kept-news"])
            assert serials[0] < serials[1]
            status, page = await api_request(server, "GET", "/apps/4242/channels/kept-news/events")
            assert status == 200 and [event["data"] for event in page["events"]] == ["1", "2"]

    async def test_a_post_without_the_csrf_token_or_from_another_origin_is_refused(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console, connect(server) as client:
            await client.subscribe("news")
            await console.login(PASSWORD)
            await console.load_page()
            event = {"channel": "news", "event": "forged", "data": 1}
            status, reply = await console.send_event("4242", event, **{"X-Pusherpy-CSRF": "0" * 64})
            assert status == 403 and "CSRF" in reply["error"]
            status, reply = await console.send_event("4242", event, Origin="http://evil.example")
            assert status == 403 and "Origin" in reply["error"]
            console.cookie = ""
            status, reply = await console.send_event("4242", event)
            assert status in (401, 403)
            await client.expect_nothing()


class TestReads:
    async def test_stats_and_channels_show_connections_subscriptions_and_members(self) -> None:
        async with (
            serve(console_settings()) as server,
            console_session(server) as console,
            connect(server) as alice,
            connect(server) as bob,
        ):
            await alice.subscribe("presence-room", user_id="alice")
            await bob.subscribe("presence-room", user_id="bob")
            await bob.subscribe("news")
            await console.login(PASSWORD)
            status, stats = await console.get_json("/apps/4242/stats")
            assert status == 200
            assert {k: stats[k] for k in ("connections", "channels", "subscriptions", "presence_members")} == {
                "connections": 2,
                "channels": 2,
                "subscriptions": 3,
                "presence_members": 2,
            }
            assert stats["messages_in_per_second"] >= 0 and stats["messages_out_per_second"] >= 0
            status, listing = await console.get_json("/apps/4242/channels?filter_by_prefix=presence-")
            assert status == 200 and listing["total"] == 1 and not listing["truncated"]
            (room,) = listing["channels"]
            assert room["name"] == "presence-room" and room["subscription_count"] == 2
            assert room["user_count"] == 2 and sorted(room["members"]) == ["alice", "bob"]

    async def test_the_cache_state_of_cache_channels(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console, connect(server) as client:
            await client.subscribe("cache-prices")
            await console.login(PASSWORD)
            await console.load_page()
            status, (listing) = await console.get_json("/apps/4242/channels")
            assert listing["channels"] == [{"name": "cache-prices", "subscription_count": 1, "cache": None}]
            assert (await console.send_event("4242", {"channel": "cache-prices", "event": "tick", "data": 1}))[0] == 200
            status, listing = await console.get_json("/apps/4242/channels?filter_by_prefix=cache-")
            (channel,) = listing["channels"]
            assert channel["cache"]["event"] == "tick" and channel["cache"]["ttl"] > 0


class TestLogStream:
    async def test_the_log_streams_what_happens_to_the_app(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            await console.login(PASSWORD)
            async with console.log("4242") as log:
                assert await log.next_event() == ("hello", {})
                async with connect(server) as client:
                    entry = await log.entry("connection_opened", socket_id=client.socket_id)
                    assert entry["app_id"] == "4242" and entry["at_ms"] > 0

    async def test_recent_entries_are_sent_first_to_a_console_that_opens(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            await console.login(PASSWORD)
            async with console.log("4242") as first:
                await first.next_event()
                async with connect(server) as client:
                    await first.entry("connection_opened", socket_id=client.socket_id)
                    async with console.log("4242") as second:
                        assert await second.next_event() == ("hello", {})
                        await second.entry("connection_opened", socket_id=client.socket_id, timeout=1)

    async def test_nothing_is_collected_once_the_last_console_leaves(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            hub = server.application[STATE].console
            await console.login(PASSWORD)
            async with console.log("4242") as log:
                await log.next_event()
                assert hub.watching("4242")
            deadline = time.monotonic() + 20
            while hub.watching("4242"):  # the server notices at its next write (an entry or a heartbeat)
                async with connect(server):
                    pass
                assert time.monotonic() < deadline, "the console's watcher outlived its stream"
                await asyncio.sleep(0.05)

    async def test_the_log_needs_a_session(self) -> None:
        async with serve(console_settings()) as server, aiohttp.ClientSession() as http:
            async with http.get(f"{server.http_url}/console/api/apps/4242/log") as response:
                assert response.status == 401
            assert not server.application[STATE].console.watching("4242")

    async def test_a_console_that_reads_too_slowly_is_told_how_many_entries_it_lost(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            hub = server.application[STATE].console
            await console.login(PASSWORD)
            async with console.log("4242") as log:
                assert await log.next_event() == ("hello", {})
                # All at once, before the stream's task runs again: its queue keeps the newest entries only.
                for n in range(WATCHER_QUEUE_SIZE + 3000):
                    hub.record(LogEntry(kind=LogKind.API_EVENT, app_id="4242", at_ms=1, event=f"e{n}"))
                assert await log.next_event() == ("dropped", {"dropped": 3000})
                name, first = await log.next_event()
                assert name == "message" and first["event"] == "e3000"

    async def test_the_number_of_open_log_streams_is_bounded(self) -> None:
        async with serve(console_settings()) as server, console_session(server) as console:
            await console.login(PASSWORD)
            async with AsyncExitStack() as streams:
                for _ in range(MAX_STREAMS):
                    log = await streams.enter_async_context(console.log("4242"))
                    await log.next_event()
                status, body = await console.get_json("/apps/4242/log")
                assert status == 503 and str(MAX_STREAMS) in body["error"]

    async def test_an_open_console_does_not_hold_up_shutdown(self) -> None:
        """The stream ends when the server shuts down, not after ``shutdown_timeout`` (2 s here) by cancellation."""
        async with console_session_to_stopped_server() as (stopped_in, tail):
            assert stopped_in < 1.5
            assert tail.endswith(b"event: hello\ndata: {}\n\n")

    async def test_an_idle_stream_gets_heartbeats_and_a_console_that_left_is_forgotten_at_one(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(log_stream, "HEARTBEAT_SECONDS", 0.2)
        async with serve(console_settings()) as server, console_session(server) as console:
            hub = server.application[STATE].console
            await console.login(PASSWORD)
            async with console.log("4242") as log:
                assert await log.next_event() == ("hello", {})
                async with asyncio.timeout(DEADLINE):
                    assert await log.response.content.readline() == b": heartbeat\n"
            deadline = time.monotonic() + DEADLINE
            while hub.watching("4242"):
                assert time.monotonic() < deadline, "a console that left was still watched after its heartbeats"
                await asyncio.sleep(0.05)


class TestCommandLine:
    async def test_serve_console_prints_where_it_is_and_serves_it(self) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pusherpy", "serve", "--console", "--port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=_clean_environ(),
        )  # fmt: skip
        try:
            assert process.stdout is not None
            async with asyncio.timeout(15):
                banner = ""
                while "Console:" not in banner:
                    line = (await process.stdout.readline()).decode()
                    assert line, f"the server exited; it printed {banner!r}"
                    banner += line
            match = re.search(r"Console: (http://127\.0\.0\.1:\d+/console) \(no password: this machine only\)", banner)
            assert match, banner
            async with aiohttp.ClientSession() as http, http.get(match.group(1)) as response:
                assert response.status == 200 and 'id="log"' in await response.text()
        finally:
            process.terminate()
            await process.wait()

    async def test_serve_console_on_a_reachable_host_without_a_password_exits_2(self) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pusherpy", "serve", "--console", "--host", "0.0.0.0", "--port", "0",
            "--app-id", "1", "--app-key", "k", "--app-secret", "s",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_clean_environ(),
        )  # fmt: skip
        async with asyncio.timeout(15):
            out, err = await process.communicate()
        assert process.returncode == 2 and out == b""
        assert "console_password (PUSHERPY_CONSOLE_PASSWORD)" in err.decode()
        assert "Traceback" not in err.decode()


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PUSHERPY_", "REVERB_", "PUSHER_"))}
