"""Webhooks routed to fit real backends: per endpoint, a channel ``filter`` (a prefix, several, or soketi's
``channel_name_starts_with/ends_with`` table), extra request ``headers`` (an API key for the receiver's gateway, never
shown) and its own ``timeout_seconds``; and each delivery, retry and give-up in the console log of a watched app.

Receivers are real aiohttp servers on 127.0.0.1 (``webhook_receiver.py``); the settings come from real TOML text
through ``load_settings``, as a user writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pusher
import pytest
from aiohttp import web

from pusherpy.protocol import webhooks as webhook
from pusherpy.protocol.apps import AppConfig, ChannelFilter, WebhookTarget
from pusherpy.protocol.console import LogEntry, LogKind
from pusherpy.protocol.errors import ConfigError
from pusherpy.server.console.hub import Watcher
from pusherpy.server.settings import load_settings
from pusherpy.server.state import STATE
from pusherpy.server.webhooks import WebhookSender
from tests.conftest import ServerFactory
from tests.console.test_log_cluster import node_in_process, watch_across
from tests.console.watching import entries_until, has
from tests.helpers import DEADLINE, RunningServer, connect, make_app, make_settings
from tests.scale_out.cluster import Cluster, running_cluster
from tests.server.webhook_receiver import Receiver, receiving

QUICK: dict[str, Any] = {"webhook_batch_interval": 0.05, "webhook_delay_seconds": 0.3, "webhook_retry_seconds": 5.0}
API_KEY = "gateway-key-7f3a9c"
"""An extra header's value: it must reach the receiver and nowhere else (no repr, no log, no console entry)."""


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    """Three receivers; a test uses as many as it needs."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(receiving()) for _ in range(3)]


def app_with(*targets: WebhookTarget, **overrides: Any) -> AppConfig:
    return make_app(webhooks=targets, **overrides)


def webhooks_from_toml(tmp_path: Path, tables: str) -> tuple[WebhookTarget, ...]:
    """Parse ``[[apps.webhooks]]`` tables as the server reads a config file."""
    path = tmp_path / "pusherpy.toml"
    path.write_text(f'[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n{tables}')
    return load_settings(config_file=path, environ={}).apps[0].webhooks


def names_and_channels(receiver: Receiver) -> list[tuple[str, str]]:
    return [(event["name"], event["channel"]) for event in receiver.events]


async def occupy(server: RunningServer, *channels: str) -> None:
    """Subscribe one socket to each channel, then leave: each channel is occupied once."""
    async with connect(server) as client:
        for channel in channels:
            await client.subscribe(channel)


class TestChannelFilter:
    async def test_an_endpoint_with_a_prefix_gets_only_those_channels_and_one_without_gets_all(
        self, server_factory: ServerFactory, receivers: list[Receiver]
    ) -> None:
        presence, everything = receivers[:2]
        server = await server_factory(
            app_with(
                WebhookTarget(
                    url=presence.url,
                    event_types=frozenset({"channel_occupied"}),
                    filter=ChannelFilter(starts_with=("presence-",)),
                ),
                WebhookTarget(url=everything.url, event_types=frozenset({"channel_occupied"})),
            ),
            **QUICK,
        )
        await occupy(server, "news", "presence-room", "private-orders")
        await everything.expect_events(3)
        assert names_and_channels(presence) == [("channel_occupied", "presence-room")]
        await presence.expect_no_more()

    async def test_several_prefixes_and_soketis_starts_and_ends_with_table(
        self, tmp_path: Path, server_factory: ServerFactory, receivers: list[Receiver]
    ) -> None:
        prefixes, soketi, _ = receivers
        targets = webhooks_from_toml(
            tmp_path,
            f'[[apps.webhooks]]\nurl = "{prefixes.url}"\nevent_types = ["channel_occupied"]\n'
            'filter = ["presence-", "private-"]\n'
            f'[[apps.webhooks]]\nurl = "{soketi.url}"\nevent_types = ["channel_occupied"]\n'
            'filter = { channel_name_starts_with = "private-", channel_name_ends_with = ".orders" }\n',
        )
        server = await server_factory(app_with(*targets), **QUICK)
        await occupy(server, "news", "presence-room", "private-team.orders", "private-team.chat", "shop.orders")
        await prefixes.wait_until(lambda: len(prefixes.events) >= 3)
        await soketi.wait_until(lambda: len(soketi.events) >= 1)
        await prefixes.expect_no_more()
        await soketi.expect_no_more()
        assert sorted(channel for _, channel in names_and_channels(prefixes)) == [
            "presence-room",
            "private-team.chat",
            "private-team.orders",
        ]
        assert names_and_channels(soketi) == [("channel_occupied", "private-team.orders")]

    async def test_a_retried_batch_still_carries_only_the_filtered_events(
        self, server_factory: ServerFactory, receivers: list[Receiver]
    ) -> None:
        receiver = receivers[0]
        receiver.statuses = [500, 503]
        target = WebhookTarget(
            url=receiver.url,
            event_types=frozenset({"channel_occupied"}),
            filter=ChannelFilter(starts_with=("presence-",)),
        )
        server = await server_factory(app_with(target), **QUICK)
        await occupy(server, "news", "presence-a", "private-b", "presence-c")
        await receiver.wait_until(lambda: len(receiver.accepted) >= 1)
        assert len(receiver.deliveries) == 3  # two failed attempts, then the accepted one
        for delivery in receiver.deliveries:
            assert sorted(event["channel"] for event in delivery.events) == ["presence-a", "presence-c"]

    @pytest.mark.parametrize(
        ("filter_toml", "mentions"),
        [
            ('filter = ""', "filter"),
            ("filter = []", "filter"),
            ("filter = 3", "filter"),
            ('filter = { channel_name_contains = "x" }', "channel_name_contains"),
            ("filter = { channel_name_starts_with = [] }", "channel_name_starts_with"),
        ],
    )
    def test_a_bad_filter_stops_start_up_naming_it(self, tmp_path: Path, filter_toml: str, mentions: str) -> None:
        with pytest.raises(ConfigError, match=mentions) as raised:
            webhooks_from_toml(tmp_path, f'[[apps.webhooks]]\nurl = "http://127.0.0.1/h"\n{filter_toml}\n')
        assert "apps[0].webhooks[0].filter" in str(raised.value)


class TestHeaders:
    async def test_extra_headers_arrive_with_every_request_and_the_signature_still_verifies(
        self, tmp_path: Path, server_factory: ServerFactory, receivers: list[Receiver]
    ) -> None:
        receiver = receivers[0]
        receiver.statuses = [500]
        targets = webhooks_from_toml(
            tmp_path,
            f'[[apps.webhooks]]\nurl = "{receiver.url}"\n'
            f'headers = {{ X-Api-Key = "{API_KEY}", Authorization = "Bearer {API_KEY}" }}\n',
        )
        app = app_with(*targets)
        server = await server_factory(app, **QUICK)
        await occupy(server, "news")
        await receiver.wait_until(lambda: len(receiver.accepted) >= 1)
        assert len(receiver.deliveries) == 2  # the retry carries them too
        sdk = pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret)
        for delivery in receiver.deliveries:
            assert delivery.headers["X-Api-Key"] == API_KEY
            assert delivery.headers["Authorization"] == f"Bearer {API_KEY}"
            assert delivery.headers["Content-Type"] == "application/json"
            verified = sdk.validate_webhook(app.key, delivery.headers["X-Pusher-Signature"], delivery.body.decode())
            assert verified is not None

    def test_header_values_are_hidden_in_the_repr_of_settings_apps_and_targets(self, tmp_path: Path) -> None:
        path = tmp_path / "pusherpy.toml"
        path.write_text(
            '[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n[[apps.webhooks]]\nurl = "https://backend.example/h"\n'
            f'headers = {{ X-Api-Key = "{API_KEY}" }}\n'
        )
        settings = load_settings(config_file=path, environ={})
        target = settings.apps[0].webhooks[0]
        assert target.headers == (("X-Api-Key", API_KEY),)
        for shown in (repr(settings), repr(settings.apps[0]), repr(target), str(target)):
            assert API_KEY not in shown
            assert "X-Api-Key: ***" in shown

    async def test_header_values_never_reach_the_log_when_deliveries_fail(
        self, server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        async with receiving() as receiver:
            url = receiver.url
        # The receiver is gone: every attempt is refused, then the batch is given up and logged.
        target = WebhookTarget(url=url, headers=(("X-Api-Key", API_KEY),), timeout_seconds=1.0)
        server = await server_factory(app_with(target), **{**QUICK, "webhook_retry_seconds": 0.4})
        watcher = server.application[STATE].console.watch(server.app.id)
        with caplog.at_level(logging.DEBUG):
            await occupy(server, "news")
            failed = await next_entry(watcher, LogKind.WEBHOOK_FAILED)
        assert "abandoned" in caplog.text
        assert API_KEY not in caplog.text
        assert API_KEY not in repr(failed)

    @pytest.mark.parametrize(
        "header", ["X-Pusher-Signature", "x-pusher-key", "Content-Type", "content-length", "Host", "Transfer-Encoding"]
    )
    def test_a_header_that_signing_or_framing_owns_is_refused(self, tmp_path: Path, header: str) -> None:
        with pytest.raises(ConfigError, match="cannot be replaced") as raised:
            webhooks_from_toml(
                tmp_path, f'[[apps.webhooks]]\nurl = "http://127.0.0.1/h"\nheaders = {{ "{header}" = "{API_KEY}" }}\n'
            )
        assert "apps[0].webhooks[0].headers" in str(raised.value)
        assert header in str(raised.value)
        assert API_KEY not in str(raised.value)

    @pytest.mark.parametrize(
        ("headers_toml", "mentions"),
        [
            (f'{{ X-Api-Key = "{API_KEY}\\r\\nX-Admin: yes" }}', "control character"),
            (f'{{ "X Api Key" = "{API_KEY}" }}', "not a header name"),
            (f'{{ X-Api-Key = "{API_KEY}", x-api-key = "{API_KEY}" }}', "given twice"),
            (f'{{ X-Api-Key = "{API_KEY}\u00e9" }}', "not ASCII"),
            ("{ X-Api-Key = 42 }", "must be a string"),
            (f'"{API_KEY}"', "table"),
        ],
    )
    def test_a_bad_header_is_refused_without_quoting_its_value(
        self, tmp_path: Path, headers_toml: str, mentions: str
    ) -> None:
        with pytest.raises(ConfigError, match=mentions) as raised:
            webhooks_from_toml(tmp_path, f'[[apps.webhooks]]\nurl = "http://127.0.0.1/h"\nheaders = {headers_toml}\n')
        assert API_KEY not in str(raised.value)


class TestTimeout:
    async def test_a_slow_endpoint_times_out_on_its_own_while_another_of_the_app_is_served(
        self, server_factory: ServerFactory, receivers: list[Receiver]
    ) -> None:
        fast = receivers[0]
        async with receiving(slow=True) as slow:
            app = app_with(WebhookTarget(url=slow.url, timeout_seconds=1.0), WebhookTarget(url=fast.url))
            server = await server_factory(app, **QUICK)
            watcher = server.application[STATE].console.watch(app.id)
            await occupy(server, "news")
            await fast.wait_until(lambda: len(fast.events) >= 1)
            retried = await next_entry(watcher, LogKind.WEBHOOK_RETRIED)
            # Cut at 1 s, retried 0.5 s later; without a timeout of its own it would hang until the test ends.
            await slow.wait_until(lambda: len(slow.deliveries) >= 2, timeout=DEADLINE)
        first, second = slow.deliveries[:2]
        assert 1.0 <= second.received_at - first.received_at < 4.0
        assert fast.accepted[0].received_at < first.received_at + 1.0  # served while the slow one hung
        assert "no answer within 1 s" in retried.message
        assert retried.code is None

    @pytest.mark.parametrize("value", ["0", "0.05", "301", '"soon"'])
    def test_a_timeout_out_of_bounds_is_refused(self, tmp_path: Path, value: str) -> None:
        with pytest.raises(ConfigError, match=r"apps\[0\]\.webhooks\[0\]\.timeout_seconds"):
            webhooks_from_toml(tmp_path, f'[[apps.webhooks]]\nurl = "http://127.0.0.1/h"\ntimeout_seconds = {value}\n')

    def test_the_default_is_ten_seconds(self, tmp_path: Path) -> None:
        (target,) = webhooks_from_toml(tmp_path, '[[apps.webhooks]]\nurl = "http://127.0.0.1/h"\ntimeout_seconds = 2\n')
        assert target.timeout_seconds == 2.0
        assert WebhookTarget(url="http://127.0.0.1/h").timeout_seconds == 10.0


async def next_entry(watcher: Watcher, kind: LogKind) -> LogEntry:
    """The next console entry of ``kind`` (others skipped), within the deadline."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            entries = await asyncio.wait_for(watcher.next(), deadline - time.monotonic())
        except TimeoutError:
            raise AssertionError(f"no {kind} entry in {DEADLINE} s") from None
        for entry in entries:
            if entry.kind == kind:
                return entry


class TestConsoleLog:
    async def test_a_delivery_to_a_watched_app_is_logged_with_its_status_events_and_redacted_url(
        self, server_factory: ServerFactory, receivers: list[Receiver]
    ) -> None:
        receiver = receivers[0]
        app = app_with(WebhookTarget(url=f"{receiver.url}?token=s3cret-token", headers=(("X-Api-Key", API_KEY),)))
        server = await server_factory(app, **QUICK)
        watcher = server.application[STATE].console.watch(app.id)
        async with connect(server) as client:
            await client.subscribe("presence-room", user_id="ada")
            sent = await next_entry(watcher, LogKind.WEBHOOK_SENT)
        assert sent.app_id == app.id
        assert sent.code == 200
        assert sent.channel == "presence-room"
        assert sent.event == "channel_occupied,member_added"
        assert sent.message.startswith(f"{receiver.url}?token=***: 2 events")
        assert sent.size == len(receiver.deliveries[0].body)
        assert sent.preview == receiver.deliveries[0].body.decode()
        assert "s3cret-token" not in repr(sent)
        assert API_KEY not in repr(sent)

    async def test_retries_and_the_give_up_are_logged(
        self, server_factory: ServerFactory, receivers: list[Receiver]
    ) -> None:
        receiver = receivers[0]
        receiver.statuses = [500] * 20
        app = app_with(WebhookTarget(url=receiver.url, event_types=frozenset({"channel_occupied"})))
        server = await server_factory(app, **{**QUICK, "webhook_retry_seconds": 1.0})
        watcher = server.application[STATE].console.watch(app.id)
        await occupy(server, "news")
        retried = await next_entry(watcher, LogKind.WEBHOOK_RETRIED)
        failed = await next_entry(watcher, LogKind.WEBHOOK_FAILED)
        assert (retried.code, retried.channel, retried.event) == (500, "news", "channel_occupied")
        assert "HTTP 500; retry in 0.5 s" in retried.message
        assert (failed.code, failed.channel) == (500, "news")
        assert "1 events, given up after retries (HTTP 500)" in failed.message

    async def test_entries_are_built_only_for_a_watched_app(self, receivers: list[Receiver]) -> None:
        watched = app_with(WebhookTarget(url=receivers[0].url))
        other = make_app(id="5151", key="other-key", webhooks=(WebhookTarget(url=receivers[1].url),))
        asked: list[str] = []
        recorded: list[LogEntry] = []

        def watching(app_id: str) -> bool:
            asked.append(app_id)
            return app_id == watched.id

        settings = make_settings(watched, other, **QUICK)
        sender = WebhookSender(settings, watching=watching, record=recorded.append)
        async with contextlib.asynccontextmanager(sender.run)(web.Application()):
            sender.emit(watched, webhook.channel_occupied("first"))
            sender.emit(other, webhook.channel_occupied("second"))
            await receivers[0].wait_until(lambda: len(receivers[0].events) >= 1)
            await receivers[1].wait_until(lambda: len(receivers[1].events) >= 1)
            await receivers[0].expect_no_more()
        assert sorted(asked) == sorted([watched.id, other.id])  # each delivery asked, once
        assert [(entry.kind, entry.app_id, entry.channel) for entry in recorded] == [
            (LogKind.WEBHOOK_SENT, watched.id, "first")
        ]


class TestDocumentedExample:
    def test_the_example_in_docs_webhooks_md_loads_as_it_says(self, tmp_path: Path) -> None:
        text = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
        (example,) = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
        path = tmp_path / "pusherpy.toml"
        path.write_text(example)
        presence, audit = load_settings(config_file=path, environ={}).apps[0].webhooks
        assert presence.event_types == {"member_added", "member_removed"}
        assert presence.filter == ChannelFilter(starts_with=("presence-",))
        assert [name for name, _ in presence.headers] == ["X-Api-Key"]
        assert (presence.timeout_seconds, audit.timeout_seconds) == (5.0, 30.0)
        passing = [c for c in ("private-team.orders", "private-team.chat", "shop.orders") if audit.filter.passes(c)]
        assert passing == ["private-team.orders"]


@pytest.fixture
async def one_node(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A real ``pusherpy serve`` on a real ``redis-server``, its main app's webhooks going to the cluster's receiver."""
    async with running_cluster(tmp_path, nodes=1) as running:
        yield running


class TestConsoleLogAcrossNodes:
    async def test_a_console_on_node_1_sees_the_webhooks_node_2_sends(self, one_node: Cluster) -> None:
        remote = one_node.nodes[0]
        async with node_in_process(one_node) as here:
            watcher = await watch_across(here.application[STATE].console, remote)
            async with connect(remote) as client:  # type: ignore[arg-type]
                await client.subscribe("hooked-news")
                seen = await entries_until(watcher, has(LogKind.WEBHOOK_SENT, channel="hooked-news"))
            here_name = here.application[STATE].broker.node_name
        sent = next(entry for entry in seen if entry.kind is LogKind.WEBHOOK_SENT and entry.channel == "hooked-news")
        assert sent.node and sent.node != here_name  # sent, and logged, by the node that saw the channel occupied
        assert sent.code == 200
        assert "channel_occupied" in sent.event.split(",")
        assert sent.message.startswith(f"{one_node.webhooks.url}: ")
        assert one_node.webhooks.count("channel_occupied", "hooked-news") == 1
