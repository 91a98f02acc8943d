"""The HTTP API and listen commands behave the same against pusherpy and against soketi.

Each test runs the real ``pusherpy`` command line in child processes: ``listen`` subscribes as pusher-js would,
``trigger`` publishes through the publisher library, and the query commands read what the server says.
"""

from __future__ import annotations

import base64
import os
import re

from tests.cli.conftest import Peer
from tests.cli.run import DroppingRelay, listening, pusherpy


class TestTriggerAndListen:
    async def test_an_event_triggered_from_the_command_line_reaches_a_listener_with_its_data_as_written(
        self, peer: Peer
    ) -> None:
        async with listening("--url", peer.url, "orders") as listener:
            await listener.subscribed("orders")
            sent = await pusherpy("trigger", "--url", peer.url, "orders", "order.paid", '{"id": 7}')
            assert sent.status == 0, sent.stderr
            assert "sent order.paid to orders" in sent.stdout
            event = await listener.until("order.paid", "orders")
            assert event["data"] == {"id": 7}

            piped = await pusherpy("trigger", "--url", peer.url, "orders", "note", "-", stdin=b"plain text\n")
            assert piped.status == 0, piped.stderr
            assert (await listener.until("note", "orders"))["data"] == "plain text"

            status, stderr = await listener.interrupt()
            assert status == 0, stderr

    async def test_private_and_presence_channels_are_signed_locally_with_the_secret(self, peer: Peer) -> None:
        args = ("--url", peer.url, "private-inbox", "presence-room", "--user-id", "7", "--user-info", '{"name": "Ada"}')
        async with listening(*args) as listener:
            await listener.subscribed("private-inbox", "presence-room")
            presence = next(m for m in listener.seen if m.get("channel") == "presence-room")
            assert presence["data"]["presence"]["hash"] == {"7": {"name": "Ada"}}
            sent = await pusherpy("trigger", "--url", peer.url, "private-inbox", "hello", '"hi"')
            assert sent.status == 0, sent.stderr
            assert (await listener.until("hello", "private-inbox"))["data"] == "hi"

    async def test_listen_count_exits_0_after_that_many_events(self, peer: Peer) -> None:
        async with listening("--url", peer.url, "ticks", "--count", "2") as listener:
            await listener.subscribed("ticks")
            for n in (1, 2):
                assert (await pusherpy("trigger", "--url", peer.url, "ticks", "tick", str(n))).status == 0
            status, stderr = await listener.ended()
            assert status == 0, stderr
            assert [m["data"] for m in listener.seen if m.get("event") == "tick"] == [1, 2]

    async def test_encrypted_channels_are_encrypted_by_trigger_and_decrypted_by_listen(self, peer: Peer) -> None:
        key = ("--encryption-master-key", base64.b64encode(os.urandom(32)).decode())
        async with listening("--url", peer.url, "private-encrypted-vault", *key) as listener:
            await listener.subscribed("private-encrypted-vault")
            sent = await pusherpy("trigger", "--url", peer.url, "private-encrypted-vault", "secret", '{"n": 1}', *key)
            assert sent.status == 0, sent.stderr
            assert (await listener.until("secret", "private-encrypted-vault"))["data"] == {"n": 1}

    async def test_without_json_events_are_lines_on_stdout_and_the_connection_is_told_on_stderr(
        self, peer: Peer
    ) -> None:
        async with listening("--url", peer.url, "orders", "--count", "1", as_json=False) as listener:
            assert (await listener.text_line("stderr")).startswith("connected to ws://127.0.0.1:")
            assert await listener.text_line("stderr") == "subscribed to orders"
            assert (await pusherpy("trigger", "--url", peer.url, "orders", "paid", '{"id": 7}')).status == 0
            line = await listener.text_line()
            while " paid " not in line:  # pusherpy also says the channel's subscription_count, when enabled
                assert "pusher_internal:subscription_count" in line, line
                line = await listener.text_line()
            assert re.fullmatch(r'\d\d:\d\d:\d\d orders paid \{"id": ?7\}', line), line
            status, _ = await listener.ended()
            assert status == 0

    async def test_listen_reconnects_after_a_network_drop_and_subscribes_again(self, peer: Peer) -> None:
        async with DroppingRelay(peer.port) as relay:
            through_relay = peer.url.replace(f":{peer.port}/", f":{relay.port}/")
            async with listening("--url", through_relay, "orders") as listener:
                first = await listener.until("pusher:connection_established")
                await listener.subscribed("orders")
                relay.drop()
                second = await listener.until("pusher:connection_established")
                assert second["data"]["socket_id"] != first["data"]["socket_id"]
                await listener.subscribed("orders")
                assert (await pusherpy("trigger", "--url", peer.url, "orders", "after", '"drop"')).status == 0
                assert (await listener.until("after", "orders"))["data"] == "drop"


class TestQueries:
    async def test_channels_lists_occupied_channels_with_their_attributes(self, peer: Peer) -> None:
        async with listening("--url", peer.url, "presence-lobby", "news", "--user-id", "u1") as listener:
            await listener.subscribed("presence-lobby", "news")
            listed = await pusherpy("channels", "--url", peer.url, "--json")
            assert listed.status == 0, listed.stderr
            assert {"presence-lobby", "news"} <= set(listed.json()["channels"])

            by_prefix = await pusherpy(
                "channels", "--url", peer.url, "--prefix", "presence-", "--info", "subscription_count", "--json"
            )
            assert by_prefix.json()["channels"]["presence-lobby"]["subscription_count"] == 1
            assert set(by_prefix.json()["channels"]) == {"presence-lobby"}

            text = await pusherpy(
                "channels", "--url", peer.url, "--prefix", "presence-", "--info", "subscription_count"
            )
            assert text.status == 0
            assert text.stdout.splitlines() == ["CHANNEL         SUBSCRIPTION_COUNT", "presence-lobby  1"]

    async def test_no_occupied_channels_is_said_in_words(self, peer: Peer) -> None:
        listed = await pusherpy("channels", "--url", peer.url, "--prefix", "nobody-here-")
        assert listed.status == 0, listed.stderr
        assert listed.stdout.strip() == "no occupied channels starting with nobody-here-"

    async def test_channel_describes_one_channel(self, peer: Peer) -> None:
        async with listening("--url", peer.url, "presence-desk", "--user-id", "42") as listener:
            await listener.subscribed("presence-desk")
            described = await pusherpy(
                "channel", "--url", peer.url, "presence-desk", "--info", "user_count,subscription_count", "--json"
            )
            assert described.status == 0, described.stderr
            info = described.json()
            assert info["occupied"] is True and info["user_count"] == 1
            text = await pusherpy("channel", "--url", peer.url, "presence-desk", "--info", "user_count")
            lines = text.stdout.splitlines()
            assert lines[0] == "presence-desk: occupied" and "  user_count: 1" in lines[1:]
        empty = await pusherpy("channel", "--url", peer.url, "empty-one", "--json")
        assert empty.json()["occupied"] is False

    async def test_users_lists_the_members_of_a_presence_channel(self, peer: Peer) -> None:
        async with (
            listening("--url", peer.url, "presence-team", "--user-id", "ada") as ada,
            listening("--url", peer.url, "presence-team", "--user-id", "bob") as bob,
        ):
            await ada.subscribed("presence-team")
            await bob.subscribed("presence-team")
            users = await pusherpy("users", "--url", peer.url, "presence-team")
            assert users.status == 0, users.stderr
            assert sorted(users.stdout.split()) == ["ada", "bob"]
            as_json = await pusherpy("users", "--url", peer.url, "presence-team", "--json")
            assert sorted(u["id"] for u in as_json.json()["users"]) == ["ada", "bob"]


class TestRefusals:
    async def test_a_wrong_secret_exits_1_and_says_to_check_the_key_and_secret(self, peer: Peer) -> None:
        wrong = peer.url.replace(f":{peer.secret}@", ":not-the-secret@")
        refused = await pusherpy("trigger", "--url", wrong, "orders", "e")
        assert refused.status == 1
        assert "HTTP 401" in refused.stderr and "check the key and secret" in refused.stderr
        assert "not-the-secret" not in refused.stderr
        query = await pusherpy("channels", "--url", wrong)
        assert query.status == 1 and "HTTP 401" in query.stderr

    async def test_a_private_subscription_signed_with_a_wrong_secret_is_refused_and_exits_1(self, peer: Peer) -> None:
        wrong = peer.url.replace(f":{peer.secret}@", ":not-the-secret@")
        async with listening("--url", wrong, "private-inbox") as listener:
            status, stderr = await listener.ended()
        assert status == 1
        assert "subscription to private-inbox refused" in stderr, stderr

    async def test_listen_with_an_unknown_key_exits_1_with_the_servers_error(self, peer: Peer) -> None:
        unknown = peer.url.replace(f"//{peer.key}:", "//no-such-key:")
        async with listening("--url", unknown, "orders") as listener:
            status, stderr = await listener.ended()
        assert status == 1
        assert "4001" in stderr, stderr
