"""The real laravel-echo 2 (broadcaster "reverb", on pusher-js 8) against ``pusherpy serve``, configured as a
Laravel app's ``bootstrap/echo.js`` is: listen, whisper / listenForWhisper, toOthers, an encrypted private channel,
and presence here / joining / leaving with Ada and two browser tabs of Bob.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import CompatServer

ADA = {"id": "1", "name": "Ada"}
BOB = {"id": "2", "name": "Bob"}


@pytest.fixture(scope="module")
def echo(compat_server: CompatServer) -> dict[str, Any]:
    return compat_server.node("echo_app.mjs")  # type: ignore[no-any-return]


def payloads(log: list[dict[str, Any]], kind: str) -> list[Any]:
    return [entry["payload"] for entry in log if entry["type"] == kind]


class TestListen:
    def test_listen_with_a_leading_dot_receives_the_raw_event_name(self, echo: dict[str, Any]) -> None:
        assert payloads(echo["ada"], "order.shipped") == [{"id": 7}]

    def test_listen_without_a_dot_receives_the_namespaced_laravel_event(self, echo: dict[str, Any]) -> None:
        assert payloads(echo["ada"], "OrderPlaced") == [{"id": 8}]

    def test_encrypted_private_channel_event_from_the_sdk_is_decrypted(self, echo: dict[str, Any]) -> None:
        assert payloads(echo["ada"], "secret") == [{"launch_code": "0000"}]

    def test_trigger_with_the_socket_id_skips_that_socket_only(self, echo: dict[str, Any]) -> None:
        assert echo["checkpoints"]["ada_socket_id"] == echo["sockets"]["ada"]
        assert payloads(echo["ada"], "message") == [{"text": "for everyone"}]
        assert payloads(echo["bob1"], "message") == [{"text": "not for Ada"}, {"text": "for everyone"}]


class TestWhisper:
    def test_whisper_on_a_private_channel_reaches_listen_for_whisper(self, echo: dict[str, Any]) -> None:
        assert payloads(echo["ada"], "whisper-typing") == [{"name": "Bob"}]

    def test_whisper_on_a_presence_channel_reaches_listen_for_whisper(self, echo: dict[str, Any]) -> None:
        assert payloads(echo["ada"], "whisper-ping") == [{"n": 1}, {"n": 2}]


class TestPresence:
    def test_here_lists_the_members_already_in_the_room(self, echo: dict[str, Any]) -> None:
        assert payloads(echo["ada"], "here") == [[ADA]]
        assert payloads(echo["bob1"], "here") == [[ADA, BOB]]

    def test_a_second_tab_of_a_member_sees_each_user_once(self, echo: dict[str, Any]) -> None:
        assert payloads(echo["bob2"], "here") == [[ADA, BOB]]

    def test_joining_fires_once_for_a_user_with_two_tabs(self, echo: dict[str, Any]) -> None:
        assert echo["checkpoints"]["joining_after_second_tab"] == 1
        assert payloads(echo["ada"], "joining") == [BOB]

    def test_leaving_waits_for_the_users_last_tab(self, echo: dict[str, Any]) -> None:
        assert echo["checkpoints"]["leaving_after_first_tab_closed"] == 0
        assert echo["checkpoints"]["leaving_at_end"] == 1
        assert payloads(echo["ada"], "leaving") == [BOB]

    def test_presence_events_arrive_in_order(self, echo: dict[str, Any]) -> None:
        order = [
            (e["type"], e["payload"].get("n") if isinstance(e["payload"], dict) else None)
            for e in echo["ada"]
            if e["type"] in ("here", "joining", "whisper-ping", "leaving", "final")
        ]
        assert order == [
            ("here", None),
            ("joining", None),
            ("whisper-ping", 1),
            ("whisper-ping", 2),
            ("leaving", None),
            ("final", None),
        ]

    def test_subscription_count_follows_each_tab_on_a_public_channel(self, echo: dict[str, Any]) -> None:
        counts = [p["subscription_count"] for p in payloads(echo["ada"], "subscription_count")]
        assert counts == [1, 2, 3, 2, 1]


@pytest.fixture(scope="module")
def refusal(compat_server: CompatServer) -> dict[str, Any]:
    return compat_server.node("echo_refusal.mjs")  # type: ignore[no-any-return]


class TestRefusedSubscription:
    """A subscription the server refuses reaches Echo's ``.error()`` callback on that channel."""

    def test_echo_error_callback_gets_the_servers_auth_error(self, refusal: dict[str, Any]) -> None:
        assert len(refusal["errors"]) == 1
        error = refusal["errors"][0]
        assert error["type"] == "AuthError" and error["status"] == 401
        assert "signature" in error["error"]

    def test_the_connection_keeps_working_after_the_refusal(self, refusal: dict[str, Any]) -> None:
        assert refusal["ok_event"] == {"n": 1}
