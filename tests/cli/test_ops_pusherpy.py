"""What the ops commands do against pusherpy only: attributes soketi leaves out, terminating a user, verifying the
webhooks a real pusherpy sent, and where the credentials come from."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from pusherpy.protocol.apps import WebhookTarget
from tests.cli.conftest import Peer
from tests.cli.run import DroppingRelay, listening, pusherpy
from tests.conftest import ServerFactory
from tests.helpers import DEADLINE, bounded_cleanup, make_app, make_settings, post_endpoint, serve


class TestPusherpyAttributes:
    async def test_trigger_with_info_returns_the_channel_attributes(self, pusherpy_peer: Peer) -> None:
        url = pusherpy_peer.url
        async with listening("--url", url, "counted") as listener:
            await listener.subscribed("counted")
            sent = await pusherpy("trigger", "--url", url, "counted", "e", "{}", "--info", "subscription_count")
            assert sent.status == 0, sent.stderr
            assert "  counted: subscription_count 1" in sent.stdout.splitlines()
            as_json = await pusherpy(
                "trigger", "--url", url, "counted", "e", "{}", "--info", "subscription_count", "--json"
            )
            assert as_json.json() == {"channels": {"counted": {"subscription_count": 1}}}

    async def test_channels_gives_only_the_attributes_asked_for(self, pusherpy_peer: Peer) -> None:
        url = pusherpy_peer.url
        async with listening("--url", url, "presence-lobby", "--user-id", "u1") as listener:
            await listener.subscribed("presence-lobby")
            listed = await pusherpy("channels", "--url", url, "--prefix", "presence-", "--info", "user_count", "--json")
            assert listed.json() == {"channels": {"presence-lobby": {"user_count": 1}}}


class TestTerminate:
    async def test_terminate_closes_the_connections_of_a_signed_in_user(self, pusherpy_peer: Peer) -> None:
        url = pusherpy_peer.url
        async with (
            listening("--url", url, "news", "--signin", "--user-id", "7") as seven,
            listening("--url", url, "news", "--signin", "--user-id", "8") as eight,
        ):
            for listener in (seven, eight):
                await listener.until("pusher:signin_success")
                await listener.subscribed("news")
            done = await pusherpy("terminate", "--url", url, "7")
            assert done.status == 0, done.stderr
            assert done.stdout.startswith("closed the connections of user 7")
            status, stderr = await seven.ended()
            assert status == 1 and "closed the connection with 4009" in stderr, (status, stderr)
            assert eight.process.returncode is None
            sent = await pusherpy("trigger", "--url", url, "news", "still-here")
            assert sent.status == 0
            await eight.until("still-here", "news")

    async def test_signin_needs_a_user_id(self, pusherpy_peer: Peer) -> None:
        refused = await pusherpy("listen", "--url", pusherpy_peer.url, "news", "--signin")
        assert refused.status == 2 and "--signin needs --user-id" in refused.stderr


class TestKeepAlive:
    async def test_listen_answers_the_servers_pings_and_keeps_its_connection(
        self, server_factory: ServerFactory
    ) -> None:
        server = await server_factory(make_app(ping_interval=1, activity_timeout=60), pong_timeout=1.0)
        async with DroppingRelay(server.port) as relay:
            url = f"http://test-key:test-secret@127.0.0.1:{relay.port}/apps/4242"
            async with listening("--url", url, "orders", "--no-reconnect") as listener:
                await listener.subscribed("orders")
                # unanswered, the first ping would close the socket (4201) a second later, before the second ping
                await wait_until(lambda: relay.downstream.count(b"pusher:ping") >= 2)
                direct = f"http://test-key:test-secret@127.0.0.1:{server.port}/apps/4242"
                assert (await pusherpy("trigger", "--url", direct, "orders", "still", "1")).status == 0
                await listener.until("still", "orders")
                assert [m["event"] for m in listener.seen].count("pusher:connection_established") == 1

    async def test_listen_pings_a_silent_server_after_its_activity_timeout(self, server_factory: ServerFactory) -> None:
        server = await server_factory(make_app(activity_timeout=1, ping_interval=60))
        async with DroppingRelay(server.port) as relay:
            url = f"http://test-key:test-secret@127.0.0.1:{relay.port}/apps/4242"
            async with listening("--url", url, "orders", "--no-reconnect") as listener:
                await listener.subscribed("orders")
                await wait_until(lambda: b"pusher:pong" in relay.downstream)  # the server's answer to its ping


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await asyncio.sleep(0.05)


class TestWebhookVerify:
    async def test_a_webhook_pusherpy_sent_verifies_and_a_tampered_one_is_refused(
        self, server_factory: ServerFactory
    ) -> None:
        received: list[tuple[bytes, dict[str, str]]] = []

        async def receive(request: web.Request) -> web.Response:
            received.append((await request.read(), dict(request.headers)))
            return web.Response(text="ok")

        async with post_endpoint("/hooks", receive) as hook_url:
            app = make_app(webhooks=(WebhookTarget(url=hook_url, event_types=frozenset({"channel_occupied"})),))
            server = await server_factory(app, webhook_batch_interval=0.05)
            url = f"http://{app.key}:{app.secret}@127.0.0.1:{server.port}/apps/{app.id}"
            async with listening("--url", url, "orders") as listener:
                await listener.subscribed("orders")
                await wait_until(lambda: bool(received))
        body, headers = received[0]
        key, signature = headers["X-Pusher-Key"], headers["X-Pusher-Signature"]

        verified = await pusherpy("webhook", "verify", "--url", url, "--key", key, "--signature", signature, stdin=body)
        assert verified.status == 0, verified.stderr
        assert verified.stdout.splitlines()[1] == "  channel_occupied orders"

        as_json = await pusherpy(
            "webhook", "verify", "--url", url, "-H", f"X-Pusher-Key: {key}",
            "-H", f"x-pusher-signature: {signature}", "--json", stdin=body,
        )  # fmt: skip
        assert as_json.status == 0, as_json.stderr
        assert as_json.json()["events"] == [{"name": "channel_occupied", "channel": "orders"}]

        tampered = body.replace(b"orders", b"ordens")
        refused = await pusherpy(
            "webhook", "verify", "--url", url, "--key", key, "--signature", signature, stdin=tampered
        )
        assert refused.status == 1
        assert "X-Pusher-Signature does not match the body" in refused.stderr

        no_signature = await pusherpy("webhook", "verify", "--url", url, "--key", key, stdin=body)
        assert no_signature.status == 1 and "no X-Pusher-Signature" in no_signature.stderr

    async def test_a_header_option_without_a_colon_is_a_usage_error(self) -> None:
        url = "http://k:s@127.0.0.1:1/apps/1"
        bad = await pusherpy("webhook", "verify", "--url", url, "-H", "X-Pusher-Key k", stdin=b"{}")
        assert bad.status == 2 and "must be 'Name: value'" in bad.stderr


class TestCredentials:
    async def test_a_server_config_file_gives_host_port_and_the_app_picked_by_id(
        self, server_factory: ServerFactory, tmp_path: Path
    ) -> None:
        one, two = make_app(), make_app(id="5151", key="other-key", secret="other-secret")
        server = await server_factory(one, two)
        config = tmp_path / "pusherpy.toml"
        config.write_text(
            f'host = "0.0.0.0"\nport = {server.port}\nmetrics_token = "whatever"\n'
            '[[apps]]\nid = "4242"\nkey = "test-key"\nsecret = "test-secret"\n'
            '[[apps]]\nid = "5151"\nkey = "other-key"\nsecret = "other-secret"\n'
        )
        ambiguous = await pusherpy("channels", "--config", str(config))
        assert ambiguous.status == 2
        assert "has 2 apps (4242, 5151): pick one with --app ID" in ambiguous.stderr

        async with listening("--config", str(config), "--app", "5151", "orders") as listener:
            await listener.subscribed("orders")
            sent = await pusherpy("trigger", "--config", str(config), "--app", "other-key", "orders", "e", "1")
            assert sent.status == 0, sent.stderr
            assert f"via http://127.0.0.1:{server.port} app 5151" in sent.stdout
            assert (await listener.until("e", "orders"))["data"] == 1

        unknown = await pusherpy("channels", "--config", str(config), "--app", "9")
        assert unknown.status == 2 and "no app with that id or key" in unknown.stderr

        on_the_server = {"PUSHERPY_CONFIG": str(config)}  # what a server's service environment has
        by_variable = await pusherpy("channel", "orders", "--app", "5151", "--json", env=on_the_server)
        assert by_variable.status == 0, by_variable.stderr
        assert by_variable.json() == {"occupied": False}
        publisher_wins = await pusherpy(
            "channels", env={**on_the_server, "PUSHERPY_URL": "http://k:s@127.0.0.1:1/apps/1"}
        )
        assert publisher_wins.status == 3

    async def test_a_server_config_with_a_path_prefix_is_reached_under_it(
        self, server_factory: ServerFactory, tmp_path: Path
    ) -> None:
        server = await server_factory(make_app(), path_prefix="/ws")
        config = tmp_path / "pusherpy.toml"
        app = '[[apps]]\nid = "4242"\nkey = "test-key"\nsecret = "test-secret"\n'
        config.write_text(f'port = {server.port}\npath_prefix = "/ws"\n{app}')
        async with listening("--config", str(config), "orders", "--count", "1", as_json=False) as listener:
            connected = await listener.text_line("stderr")
            assert connected.startswith(f"connected to ws://127.0.0.1:{server.port}/ws/app/test-key as socket ")
            assert await listener.text_line("stderr") == "subscribed to orders"
            sent = await pusherpy("trigger", "--config", str(config), "orders", "e", "1")
            assert sent.status == 0, sent.stderr
            assert f"via http://127.0.0.1:{server.port}/ws app 4242" in sent.stdout
            assert (await listener.text_line()).endswith(" orders e 1")
            assert (await listener.ended())[0] == 0

    async def test_the_environment_of_a_laravel_app_names_the_server(self, pusherpy_peer: Peer) -> None:
        peer = pusherpy_peer
        env: dict[str, Any] = {"PORT": str(peer.port), "HOST": "127.0.0.1", "SCHEME": "http"}
        for prefix in ("PUSHER", "REVERB"):
            variables = {f"{prefix}_{name}": value for name, value in env.items()}
            variables.update(
                {f"{prefix}_APP_ID": peer.app_id, f"{prefix}_APP_KEY": peer.key, f"{prefix}_APP_SECRET": peer.secret}
            )
            listed = await pusherpy("channels", env=variables)
            assert listed.status == 0, (prefix, listed.stderr)
        by_url = await pusherpy("channels", "--json", env={"PUSHERPY_URL": peer.url})
        assert by_url.status == 0 and by_url.json() == {"channels": {}}

    async def test_a_laravel_env_file_names_the_server(self, pusherpy_peer: Peer, tmp_path: Path) -> None:
        peer = pusherpy_peer
        env_file = tmp_path / ".env"
        env_file.write_text(
            "BROADCAST_CONNECTION=reverb\n"
            f"REVERB_APP_ID={peer.app_id}\nREVERB_APP_KEY={peer.key}\nREVERB_APP_SECRET={peer.secret}\n"
            f'REVERB_HOST="127.0.0.1"\nREVERB_PORT={peer.port}\nREVERB_SCHEME=http\n'
        )
        listed = await pusherpy("channels", "--env-file", str(env_file))
        assert listed.status == 0, listed.stderr

    async def test_without_credentials_the_error_says_what_to_set(self) -> None:
        missing = await pusherpy("trigger", "orders", "e")
        assert missing.status == 2
        assert "set PUSHERPY_URL or PUSHER_URL" in missing.stderr and "--url URL or --config" in missing.stderr

    async def test_url_and_config_cannot_both_be_given(self) -> None:
        both = await pusherpy("channels", "--url", "http://k:s@127.0.0.1:1/apps/1", "--config", "x.toml")
        assert both.status == 2 and "not allowed with argument" in both.stderr

    async def test_an_incomplete_url_is_a_usage_error_without_its_secret(self) -> None:
        bad = await pusherpy("channels", "--url", "http://key:sekrit@127.0.0.1:8080/")
        assert bad.status == 2 and "--url" in bad.stderr and "sekrit" not in bad.stderr


class TestUnreachableAndBadInput:
    async def test_a_server_that_is_not_there_exits_3(self) -> None:
        with socket.socket() as probe:  # a port nobody listens on: bound, never listening
            probe.bind(("127.0.0.1", 0))
            url = f"http://k:s@127.0.0.1:{probe.getsockname()[1]}/apps/1"
            sent = await pusherpy("trigger", "--url", url, "orders", "e")
            assert sent.status == 3 and "could not reach the server" in sent.stderr
            async with listening("--url", url, "orders") as listener:
                status, stderr = await listener.ended()
            assert status == 3 and "could not connect" in stderr

    async def test_a_config_files_apps_database_that_is_not_there_exits_3(self, tmp_path: Path) -> None:
        config = tmp_path / "pusherpy.toml"
        with socket.socket() as probe:  # a port nobody listens on: bound, never listening
            probe.bind(("127.0.0.1", 0))
            store = f"postgresql://postgres:dbsecret@127.0.0.1:{probe.getsockname()[1]}/pusherpy"
            config.write_text(f'apps_source = "{store}"\n')
            sent = await pusherpy("trigger", "--config", str(config), "orders", "e")
        assert sent.status == 3 and "apps_source" in sent.stderr, sent
        assert "dbsecret" not in sent.stderr

    async def test_a_config_files_apps_database_without_the_table_exits_1(self, tmp_path: Path) -> None:
        config = tmp_path / "pusherpy.toml"
        database = tmp_path / "empty.db"
        sqlite3.connect(database).close()  # a database, without pusherpy_apps (no `pusherpy apps migrate` yet)
        config.write_text(f'apps_source = "sqlite:///{database}"\n')
        sent = await pusherpy("trigger", "--config", str(config), "orders", "e")
        assert sent.status == 1 and "apps_source" in sent.stderr, sent

    async def test_a_server_going_away_ends_listen_with_3_when_told_not_to_reconnect(self) -> None:
        async with serve(make_settings(make_app())) as server:
            url = f"http://test-key:test-secret@127.0.0.1:{server.port}/apps/4242"
            async with listening("--url", url, "orders", "--no-reconnect") as listener:
                await listener.subscribed("orders")
                await bounded_cleanup(server.runner)  # a shutdown: every socket is closed, 4200 "reconnect"
                status, stderr = await listener.ended()
        assert status == 3 and "the connection closed (4200" in stderr, (status, stderr)

    async def test_a_websocket_url_that_is_not_a_websocket_exits_1(self, pusherpy_peer: Peer) -> None:
        ws_url = f"ws://127.0.0.1:{pusherpy_peer.port}/not-pusher"
        async with listening("--url", pusherpy_peer.url, "--ws-url", ws_url, "orders") as listener:
            status, stderr = await listener.ended()
        assert status == 1 and "answered HTTP 404, not a WebSocket" in stderr, stderr

    async def test_invalid_arguments_are_usage_errors_that_say_what_is_wrong(self) -> None:
        url = "http://k:s@127.0.0.1:1/apps/1"
        cases = [
            (("users", "--url", url, "private-x"), "needs a presence- channel"),
            (("trigger", "--url", url, "bad channel", "e"), "channel"),
            (("listen", "--url", url, "presence-x", "--user-info", "{nope"), "--user-info"),
            (("listen", "--url", url, "private-encrypted-x"), "--encryption-master-key"),
            (("terminate", "--url", url, "bad user"), "user"),
            (("listen", "--url", url, "news", "--user-id", "bad user"), "user id"),
        ]
        for args, said in cases:
            result = await pusherpy(*args)
            assert result.status == 2, (args, result)
            assert said in result.stderr, (args, result.stderr)
            assert "Traceback" not in result.stderr
