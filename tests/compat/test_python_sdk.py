"""The official PyPI ``pusher`` SDK (pusher-http-python) against every HTTP API endpoint of ``pusherpy serve``,
with real pusher-js clients (``scenarios/hold.mjs``) holding channels open and reporting what they receive.

Two quirks of this SDK must work unchanged: it signs ``body_md5`` (of the empty body) on every GET, and
``terminate_user_connections`` posts to the unprefixed ``/users/{id}/terminate_connections``. It has no ``info``
argument on ``trigger``, so trigger attributes are checked through ``trigger_batch``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pusher  # type: ignore[import-untyped]
import pusher.errors  # type: ignore[import-untyped]
import pytest

from tests.compat.conftest import CompatServer, NodeSession

PREFIX = f"py-{uuid.uuid4().hex[:8]}"
NAMES = {
    "public": f"{PREFIX}-news",
    "private": f"private-{PREFIX}-inbox",
    "presence": f"presence-{PREFIX}-room",
    "cache": f"cache-{PREFIX}-price",
    "encrypted": f"private-encrypted-{PREFIX}-vault",
}


@pytest.fixture(scope="module")
def sdk(compat_server: CompatServer) -> pusher.Pusher:
    return compat_server.python_sdk()


@pytest.fixture(scope="module")
def clients(compat_server: CompatServer) -> Iterator[NodeSession]:
    """Ada on every kind of channel; Bob with two tabs on the public and presence channels."""
    session = compat_server.node_session(
        "hold.mjs",
        {
            "clients": [
                {"label": "ada", "user": "ada", "channels": list(NAMES.values())},
                {"label": "bob", "user": "bob", "channels": [NAMES["public"], NAMES["presence"]]},
                {"label": "bob_tab2", "user": "bob", "channels": [NAMES["presence"]]},
            ]
        },
    )
    try:
        session.expect(lambda m: m["type"] == "ready", "every client subscribed")
        yield session
    finally:
        session.close()


def receives(session: NodeSession, client: str, channel: str, event: str) -> Any:
    """Wait until ``client`` got ``event`` on ``channel``; return the data pusher-js handed to its callback."""
    message = session.expect(
        lambda m: m["type"] == "event" and m["client"] == client and m["channel"] == channel and m["event"] == event,
        f"{event} on {channel} at {client}",
    )
    return message["data"]


class TestTrigger:
    def test_trigger_to_several_channels_reaches_pusher_js(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        assert sdk.trigger([NAMES["public"], NAMES["private"]], "py-event", {"n": 1}) == {}
        assert receives(clients, "ada", NAMES["public"], "py-event") == {"n": 1}
        assert receives(clients, "ada", NAMES["private"], "py-event") == {"n": 1}
        assert receives(clients, "bob", NAMES["public"], "py-event") == {"n": 1}

    def test_encrypted_trigger_is_decrypted_by_pusher_js(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        assert sdk.trigger(NAMES["encrypted"], "sealed", {"secret": "py"}) == {}
        assert receives(clients, "ada", NAMES["encrypted"], "sealed") == {"secret": "py"}

    def test_trigger_with_socket_id_skips_that_socket(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        ready = clients.expect(lambda m: m["type"] == "ready", "ready")
        sdk.trigger(NAMES["public"], "not-for-ada", {}, socket_id=ready["clients"]["ada"]["socket_id"])
        sdk.trigger(NAMES["public"], "after-skip", {})
        receives(clients, "bob", NAMES["public"], "not-for-ada")
        receives(clients, "ada", NAMES["public"], "after-skip")
        assert clients.events("ada", "not-for-ada") == []

    def test_trigger_batch_without_info_answers_an_empty_object(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        batch = [
            {"channel": NAMES["public"], "name": "batched", "data": {"i": 0}},
            {"channel": NAMES["encrypted"], "name": "batched", "data": {"i": 1}},
        ]
        assert sdk.trigger_batch(batch) == {}
        assert receives(clients, "ada", NAMES["public"], "batched") == {"i": 0}
        assert receives(clients, "ada", NAMES["encrypted"], "batched") == {"i": 1}

    def test_trigger_batch_with_info_answers_attributes_in_order(
        self, sdk: pusher.Pusher, clients: NodeSession
    ) -> None:
        batch = [
            {"channel": NAMES["public"], "name": "informed", "data": "{}", "info": "subscription_count"},
            {"channel": NAMES["presence"], "name": "informed", "data": "{}", "info": "user_count,subscription_count"},
            {"channel": NAMES["private"], "name": "informed", "data": "{}"},
        ]
        assert sdk.trigger_batch(batch, already_encoded=True) == {
            "batch": [{"subscription_count": 2}, {"user_count": 2, "subscription_count": 3}, {}]
        }
        receives(clients, "bob_tab2", NAMES["presence"], "informed")

    def test_cached_event_is_returned_by_channel_info(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        sdk.trigger(NAMES["cache"], "price", {"eur": 42})
        receives(clients, "ada", NAMES["cache"], "price")
        info = sdk.channel_info(NAMES["cache"], ["cache"])
        assert info["occupied"] is True
        assert info["cache"]["data"] == '{"eur": 42}'
        assert 0 < info["cache"]["ttl"] <= 1800


class TestChannelQueries:
    """Every call here is a GET that the SDK signs with ``body_md5`` of the empty body."""

    def test_channels_info_with_prefix(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        assert sdk.channels_info(prefix_filter=f"private-{PREFIX}") == {"channels": {NAMES["private"]: {}}}

    def test_channels_info_with_prefix_and_user_count(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        answer = sdk.channels_info(prefix_filter=f"presence-{PREFIX}", attributes=["user_count"])
        assert answer == {"channels": {NAMES["presence"]: {"user_count": 2}}}

    def test_channels_info_lists_every_occupied_channel(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        assert set(NAMES.values()) <= set(sdk.channels_info()["channels"])

    def test_channel_info_with_subscription_count(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        assert sdk.channel_info(NAMES["public"], ["subscription_count"]) == {"occupied": True, "subscription_count": 2}

    def test_presence_channel_info_with_user_count(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        assert sdk.channel_info(NAMES["presence"], ["user_count"]) == {"occupied": True, "user_count": 2}

    def test_channel_info_of_an_empty_channel(self, sdk: pusher.Pusher) -> None:
        assert sdk.channel_info(f"{PREFIX}-nobody") == {"occupied": False}

    def test_users_info_lists_each_presence_user_once(self, sdk: pusher.Pusher, clients: NodeSession) -> None:
        users = sdk.users_info(NAMES["presence"])["users"]
        assert sorted(users, key=lambda user: user["id"]) == [{"id": "ada"}, {"id": "bob"}]

    def test_users_info_of_a_public_channel_raises_bad_request(self, sdk: pusher.Pusher) -> None:
        with pytest.raises(pusher.errors.PusherBadRequest):
            sdk.users_info(NAMES["public"])


class TestTerminateUserConnections:
    def test_unprefixed_path_closes_only_the_users_signed_in_connections(
        self, compat_server: CompatServer, sdk: pusher.Pusher
    ) -> None:
        user = f"dave-{PREFIX}"
        session = compat_server.node_session(
            "hold.mjs",
            {
                "clients": [
                    {"label": "dave", "user": user, "signin": True},
                    {"label": "dave_presence_only", "user": user, "channels": [f"presence-{PREFIX}-dave"]},
                ]
            },
        )
        try:
            ready = session.expect(lambda m: m["type"] == "ready", "dave signed in")
            assert ready["clients"]["dave"]["user_data"]["id"] == user
            assert sdk.terminate_user_connections(user) == {}
            session.expect(
                lambda m: m["type"] == "state" and m["client"] == "dave" and m["current"] == "disconnected",
                "dave's connection to close",
            )
            sdk.trigger(f"presence-{PREFIX}-dave", "still-there", {})
            receives(session, "dave_presence_only", f"presence-{PREFIX}-dave", "still-there")
            assert [m for m in session.messages if m["type"] == "state" and m["client"] == "dave_presence_only"] == [
                {"type": "state", "client": "dave_presence_only", "previous": "connecting", "current": "connected"}
            ]
        finally:
            session.close()


class TestErrors:
    def test_wrong_secret_raises_bad_auth(self, compat_server: CompatServer) -> None:
        forged = compat_server.python_sdk(secret="not-the-secret")
        with pytest.raises(pusher.errors.PusherBadAuth):
            forged.trigger(NAMES["public"], "forged", {})

    def test_wrong_secret_on_a_get_raises_bad_auth(self, compat_server: CompatServer) -> None:
        with pytest.raises(pusher.errors.PusherBadAuth):
            compat_server.python_sdk(secret="not-the-secret").channels_info()

    def test_data_over_the_apps_limit_is_refused_with_413(self, sdk: pusher.Pusher) -> None:
        """20 KB passes the SDK's own 30 KB check, so the server's 10 KB limit is what refuses it."""
        with pytest.raises(pusher.errors.PusherBadStatus, match=r"^413: "):
            sdk.trigger(NAMES["public"], "huge", "x" * 20 * 1024)

    def test_refused_triggers_are_never_delivered(
        self, compat_server: CompatServer, sdk: pusher.Pusher, clients: NodeSession
    ) -> None:
        with pytest.raises(pusher.errors.PusherBadStatus):
            sdk.trigger(NAMES["public"], "huge", "x" * 20 * 1024)
        with pytest.raises(pusher.errors.PusherBadAuth):
            compat_server.python_sdk(secret="not-the-secret").trigger(NAMES["public"], "forged", {})
        sdk.trigger(NAMES["public"], "barrier", {})
        receives(clients, "ada", NAMES["public"], "barrier")
        assert clients.events("ada", "huge") == [] and clients.events("ada", "forged") == []
