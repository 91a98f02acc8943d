"""The real pusher-js 8 (Node build) against ``pusherpy serve``: every channel kind, cache channels, subscription
counts, sign-in with server-to-user events, the watchlist, and terminating a user's connections.

Auth is signed by the official npm ``pusher`` SDK (``authorizeChannel`` / ``authenticateUser``) behind a tiny HTTP
auth endpoint that pusher-js calls with its own ajax transport, as it calls Laravel's ``/broadcasting/auth``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import QUIET_APP, CompatServer

KINDS = [
    "public",
    "private",
    "presence",
    "private-encrypted",
    "cache",
    "private-cache",
    "presence-cache",
    "private-encrypted-cache",
]


@pytest.fixture(scope="module")
def channel_kinds(compat_server: CompatServer) -> dict[str, Any]:
    return compat_server.node("channel_kinds.mjs")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def user_features(compat_server: CompatServer) -> dict[str, Any]:
    return compat_server.node("user_features.mjs")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cache_replay(compat_server: CompatServer) -> dict[str, Any]:
    return compat_server.node("cache_replay.mjs")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def refusals(compat_server: CompatServer) -> dict[str, Any]:
    return compat_server.node("refusals.mjs")  # type: ignore[no-any-return]


class TestChannelKinds:
    @pytest.mark.parametrize("kind", KINDS)
    def test_pusher_js_subscribes_and_receives_an_sdk_event(self, channel_kinds: dict[str, Any], kind: str) -> None:
        channel = channel_kinds["channels"][kind]
        assert channel["trigger_status"] == 200
        assert channel["received"] == [{"event": "kind-event", "data": {"kind": kind, "text": f"hello {kind}"}}]

    def test_only_non_public_channels_ask_the_auth_endpoint(self, channel_kinds: dict[str, Any]) -> None:
        asked = sorted(request["channel"] for request in channel_kinds["auth_requests"])
        public = {channel_kinds["channels"]["public"]["name"], channel_kinds["channels"]["cache"]["name"]}
        expected = sorted(c["name"] for c in channel_kinds["channels"].values() if c["name"] not in public)
        assert asked == expected

    @pytest.mark.parametrize("kind", ["presence", "presence-cache"])
    def test_presence_subscription_lists_the_member_with_sdk_signed_user_info(
        self, channel_kinds: dict[str, Any], kind: str
    ) -> None:
        assert channel_kinds["channels"][kind]["succeeded"] == {
            "count": 1,
            "me": {"id": "ada", "info": {"id": "ada", "name": "Ada"}},
            "ids": ["ada"],
        }

    @pytest.mark.parametrize("kind", ["cache", "private-cache", "presence-cache", "private-encrypted-cache"])
    def test_empty_cache_channel_reports_a_cache_miss(self, channel_kinds: dict[str, Any], kind: str) -> None:
        assert channel_kinds["channels"][kind]["cache_miss"] == 1

    @pytest.mark.parametrize("kind", ["public", "private", "presence", "private-encrypted"])
    def test_plain_channel_never_reports_a_cache_miss(self, channel_kinds: dict[str, Any], kind: str) -> None:
        assert channel_kinds["channels"][kind]["cache_miss"] == 0


class TestCacheChannels:
    @pytest.mark.parametrize("kind", ["cache", "private-cache", "presence-cache", "private-encrypted-cache"])
    def test_first_subscriber_gets_the_latest_cached_event_right_after_succeeding(
        self, cache_replay: dict[str, Any], kind: str
    ) -> None:
        assert cache_replay[kind]["replayed"] == [
            {"event": "pusher:subscription_succeeded", "data": None},
            {"event": "price", "data": {"version": 2}},
            {"event": "live", "data": {"after": "subscribe"}},
        ]

    @pytest.mark.parametrize("kind", ["cache", "private-cache", "presence-cache", "private-encrypted-cache"])
    def test_subscriber_to_a_never_triggered_cache_channel_gets_cache_miss(
        self, cache_replay: dict[str, Any], kind: str
    ) -> None:
        assert cache_replay[kind]["missed"] == [
            {"event": "pusher:subscription_succeeded", "data": None},
            {"event": "pusher:cache_miss", "data": {}},
            {"event": "live", "data": {"after": "subscribe"}},
        ]


class TestSubscriptionCount:
    def test_app_with_subscription_count_updates_pusher_js_on_join_and_leave(self, compat_server: CompatServer) -> None:
        result = compat_server.node("subscription_count.mjs")
        counts = [e["data"] for e in result["events"] if e["event"] == "pusher:subscription_count"]
        assert counts == [{"subscription_count": 1}, {"subscription_count": 2}, {"subscription_count": 1}]
        assert result["counts"] == {"after_join": 2, "after_leave": 1}

    def test_app_without_subscription_count_sends_none(self, compat_server: CompatServer) -> None:
        result = compat_server.node("subscription_count.mjs", app=QUIET_APP)
        assert [e["event"] for e in result["events"]] == ["pusher:subscription_succeeded", "after-join", "after-leave"]
        assert result["counts"] == {"after_join": None, "after_leave": None}


class TestUserAuthentication:
    def test_signin_returns_the_sdk_signed_user_data_to_pusher_js(self, user_features: dict[str, Any]) -> None:
        watcher = user_features["users"]["watcher"]
        assert watcher["id"].startswith("watcher-")
        assert watcher["user_info"] == {"name": "watcher"}
        assert user_features["users"]["alice1"]["id"] == user_features["users"]["alice2"]["id"]

    def test_send_to_user_reaches_every_signed_in_tab_of_that_user(self, user_features: dict[str, Any]) -> None:
        for tab in ("alice1", "alice2"):
            notices = [e["data"] for e in user_features["log"][tab] if e["type"] == "notice"]
            assert notices == [{"to": "alice"}]

    def test_send_to_user_reaches_only_that_user(self, user_features: dict[str, Any]) -> None:
        watcher_notices = [e["data"] for e in user_features["log"]["watcher"] if e["type"] == "notice"]
        assert watcher_notices == [{"n": 1}, {"n": 2}, {"n": 4}]
        assert [e["data"] for e in user_features["log"]["late"] if e["type"] == "notice"] == [{"n": 3}]

    def test_the_server_to_user_channel_carries_only_its_subscription_and_user_events(
        self, user_features: dict[str, Any]
    ) -> None:
        frames = [e["event"] for e in user_features["log"]["watcher"] if e["type"] == "user_channel_frame"]
        assert frames == ["pusher_internal:subscription_succeeded", "notice", "notice", "notice"]


class TestWatchlist:
    @staticmethod
    def watchlist_events(user_features: dict[str, Any], client: str) -> list[tuple[str, list[str]]]:
        return [(e["type"], e["user_ids"]) for e in user_features["log"][client] if e["type"] in ("online", "offline")]

    def test_signin_reports_everyone_offline_when_nobody_watched_is_online(self, user_features: dict[str, Any]) -> None:
        alice, bob = user_features["users"]["watcher"]["watchlist"]
        assert user_features["checkpoints"]["watcher_initial"] == [
            {"client": "watcher", "type": "offline", "user_ids": [alice, bob]}
        ]

    def test_signin_reports_the_current_state_of_each_watched_user(self, user_features: dict[str, Any]) -> None:
        alice, bob = user_features["users"]["late"]["watchlist"]
        initial = [(e["type"], e["user_ids"]) for e in user_features["checkpoints"]["late_initial"]]
        assert sorted(initial) == [("offline", [bob]), ("online", [alice])]

    def test_watched_user_goes_online_once_for_two_tabs_and_offline_when_terminated(
        self, user_features: dict[str, Any]
    ) -> None:
        alice, bob = user_features["users"]["watcher"]["watchlist"]
        assert self.watchlist_events(user_features, "watcher") == [
            ("offline", [alice, bob]),
            ("online", [alice]),
            ("offline", [alice]),
        ]
        assert user_features["checkpoints"]["online_events_for_alice_after_second_tab"] == 1


class TestTerminateUserConnections:
    def test_sdk_call_succeeds(self, user_features: dict[str, Any]) -> None:
        assert user_features["terminate"] == {"ok": True, "status": 200, "body": {}}

    @pytest.mark.parametrize("tab", ["alice1", "alice2"])
    def test_every_signed_in_connection_gets_4009_and_does_not_reconnect(
        self, user_features: dict[str, Any], tab: str
    ) -> None:
        errors = [e["data"] for e in user_features["log"][tab] if e.get("error") == "PusherError"]
        assert errors == [{"code": 4009, "message": errors[0]["message"]}]
        assert user_features["checkpoints"]["final_states"] == ["disconnected", "disconnected"]
        states = [e["current"] for e in user_features["log"][tab] if e["type"] == "state"]
        assert states == ["connected", "disconnected"]

    def test_a_connection_that_only_joined_presence_as_the_user_stays_open(self, user_features: dict[str, Any]) -> None:
        assert user_features["checkpoints"]["presence_only_state"] == "connected"
        after = [e["data"] for e in user_features["log"]["alice_presence_only"] if e["type"] == "after"]
        assert after == [{"still": "here"}]


class TestRefusals:
    def test_subscriptions_signed_with_the_wrong_secret_fail_with_4009(self, refusals: dict[str, Any]) -> None:
        codes = [(e["error"], e["data"]["code"]) for e in refusals["connection_errors"]]
        assert codes[:2] == [("PusherError", 4009), ("PusherError", 4009)]
        assert refusals["subscribed"] == {"private": False, "presence": False}

    def test_client_event_on_a_public_channel_is_refused_and_not_relayed(self, refusals: dict[str, Any]) -> None:
        assert refusals["client_event_thrown"] is None
        assert [e["data"]["code"] for e in refusals["connection_errors"]][2:] == [4301]
        assert "client-hello" not in refusals["bob_public"]
        assert refusals["bob_public"][-1] == "barrier"

    def test_the_connection_stays_open_and_usable_after_refusals(self, refusals: dict[str, Any]) -> None:
        assert refusals["states"] == ["connected"]
        assert refusals["channels"]["public"][-1] == {"event": "barrier", "data": {}}
