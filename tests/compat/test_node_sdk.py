"""The official npm ``pusher`` SDK (5.x) against every HTTP API endpoint of ``pusherpy serve``, while real
pusher-js clients (Ada; Bob with two tabs; Carol signed in) hold channels open so counts and deliveries are real.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import CompatServer


@pytest.fixture(scope="module")
def api(compat_server: CompatServer) -> dict[str, Any]:
    return compat_server.node("sdk_http.mjs")  # type: ignore[no-any-return]


def ok(api: dict[str, Any], call: str) -> Any:
    outcome = api["calls"][call]
    assert outcome["ok"], outcome
    assert outcome["status"] == 200
    return outcome["body"]


def refused(api: dict[str, Any], call: str, status: int) -> None:
    outcome = api["calls"][call]
    assert not outcome["ok"], outcome
    assert outcome["isRequestError"] is True, outcome
    assert outcome["error"] == "PusherRequestError"
    assert outcome["status"] == status, outcome
    assert "error" in outcome["body"]


def received(api: dict[str, Any], client: str, channel: str) -> list[tuple[str, Any]]:
    return [(e["event"], e["data"]) for e in api["received"].get(client, []) if e["channel"] == api["names"][channel]]


class TestTrigger:
    def test_trigger_to_several_channels_answers_an_empty_object_and_delivers(self, api: dict[str, Any]) -> None:
        assert ok(api, "trigger") == {}
        assert ("plain", {"n": 1}) in received(api, "ada", "public")
        assert ("plain", {"n": 1}) in received(api, "ada", "private")
        assert ("plain", {"n": 1}) in received(api, "bob", "public")

    def test_trigger_with_info_reports_counts_per_channel(self, api: dict[str, Any]) -> None:
        names = api["names"]
        assert ok(api, "trigger_with_info") == {
            "channels": {
                names["public"]: {"subscription_count": 2},
                names["presence"]: {"user_count": 2, "subscription_count": 3},
            }
        }

    def test_trigger_with_socket_id_skips_that_socket(self, api: dict[str, Any]) -> None:
        assert ok(api, "trigger_excluding_socket") == {}
        assert ("not-for-ada", {"n": 3}) in received(api, "bob", "public")
        assert all(event != "not-for-ada" for event, _ in received(api, "ada", "public"))

    def test_encrypted_trigger_is_decrypted_by_pusher_js(self, api: dict[str, Any]) -> None:
        assert ok(api, "trigger_encrypted") == {}
        assert received(api, "ada", "encrypted") == [("sealed", {"secret": "npm"})]

    def test_refused_triggers_are_never_delivered(self, api: dict[str, Any]) -> None:
        events = [event for event, _ in received(api, "ada", "public")]
        assert "forged" not in events and "huge" not in events
        assert events[-1] == "last"


class TestTriggerBatch:
    def test_batch_without_info_answers_an_empty_object_and_delivers(self, api: dict[str, Any]) -> None:
        assert ok(api, "trigger_batch") == {}
        assert ("batched", {"i": 0}) in received(api, "ada", "public")
        assert ("batched", {"i": 1}) in received(api, "ada", "private")

    def test_batch_with_info_answers_attributes_in_request_order(self, api: dict[str, Any]) -> None:
        assert ok(api, "trigger_batch_with_info") == {
            "batch": [{"subscription_count": 2}, {"user_count": 2, "subscription_count": 3}, {}]
        }
        assert ("batched-info", {"i": 3}) in received(api, "bob_tab2", "presence")


class TestChannels:
    def test_channels_filtered_by_prefix_lists_only_occupied_matches(self, api: dict[str, Any]) -> None:
        assert ok(api, "channels") == {"channels": {api["names"]["cache"]: {}}}

    def test_presence_channels_with_user_count(self, api: dict[str, Any]) -> None:
        channels = ok(api, "channels_presence_user_count")["channels"]
        assert channels[api["names"]["presence"]] == {"user_count": 2}

    def test_user_count_without_a_presence_prefix_is_a_request_error_400(self, api: dict[str, Any]) -> None:
        refused(api, "channels_user_count_without_presence_prefix", 400)

    def test_channel_info_with_subscription_count(self, api: dict[str, Any]) -> None:
        assert ok(api, "channel_public") == {"occupied": True, "subscription_count": 2}

    def test_presence_channel_info_with_user_count(self, api: dict[str, Any]) -> None:
        assert ok(api, "channel_presence") == {"occupied": True, "user_count": 2}

    def test_cache_channel_info_returns_the_cached_event_and_its_ttl(self, api: dict[str, Any]) -> None:
        body = ok(api, "channel_cache")
        assert body["occupied"] is True
        assert body["cache"]["data"] == '{"eur":42}'
        assert 0 < body["cache"]["ttl"] <= 1800

    def test_cache_channel_info_without_a_cached_event_has_no_cache(self, api: dict[str, Any]) -> None:
        assert ok(api, "channel_empty_cache") == {"occupied": False}

    def test_unoccupied_channel_info(self, api: dict[str, Any]) -> None:
        assert ok(api, "channel_unoccupied") == {"occupied": False}

    def test_users_of_a_presence_channel_lists_each_user_once(self, api: dict[str, Any]) -> None:
        users = ok(api, "users")["users"]
        assert sorted(users, key=lambda user: user["id"]) == [{"id": "ada"}, {"id": "bob"}]

    def test_users_of_a_public_channel_is_a_request_error_400(self, api: dict[str, Any]) -> None:
        refused(api, "users_of_public_channel", 400)


class TestUsersAndErrors:
    def test_terminate_user_connections_closes_the_signed_in_connection(self, api: dict[str, Any]) -> None:
        assert ok(api, "terminate_user_connections") == {}
        assert api["carol_state"] == "disconnected"

    @pytest.mark.parametrize("call", ["wrong_secret", "wrong_secret_get"])
    def test_wrong_secret_is_a_request_error_401(self, api: dict[str, Any], call: str) -> None:
        refused(api, call, 401)

    @pytest.mark.parametrize("call", ["too_large", "too_large_batch"])
    def test_too_large_data_is_a_request_error_413(self, api: dict[str, Any], call: str) -> None:
        refused(api, call, 413)
