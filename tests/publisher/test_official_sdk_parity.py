"""Parity with the official PyPI ``pusher`` SDK (pusher-http-python) and the vectors in Pusher's docs.

Same inputs, same outputs: auth responses, request signatures, encrypted payloads, and accepted webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import nacl.secret
import pusher as official_sdk  # type: ignore[import-untyped]
import pytest
from pusher import crypto as official_crypto
from pusher.http import GET, POST, Request  # type: ignore[import-untyped]
from pusher.signature import sign as official_sign  # type: ignore[import-untyped]

from pusherpy.protocol import signing
from pusherpy.publisher import InvalidArgument, Pusher, WebhookTooOld, decrypt, verify_webhook
from pusherpy.publisher.crypto import encrypt

from .conftest import APP_ID, KEY, MASTER_KEY_B64, SECRET

MASTER_KEY = base64.b64decode(MASTER_KEY_B64)
SOCKET_ID = "1234.1234"


@pytest.fixture
def official() -> official_sdk.Pusher:
    return official_sdk.Pusher(APP_ID, KEY, SECRET, encryption_master_key_base64=MASTER_KEY_B64)


@pytest.fixture
def ours() -> Pusher:
    return Pusher(APP_ID, KEY, SECRET, encryption_master_key_base64=MASTER_KEY_B64)


class TestDocVectors:
    """Pusher docs "Auth signatures" and "HTTP API reference", with PROTOCOL.md §1.8-1.9."""

    def test_private_channel_vector(self, ours: Pusher) -> None:
        assert ours.authorize_channel(SOCKET_ID, "private-foobar") == {
            "auth": f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        }

    def test_presence_channel_signature_covers_the_returned_channel_data(self, ours: Pusher) -> None:
        member = {"user_id": 10, "user_info": {"name": "Mr. Channels"}}
        result = ours.authorize_channel(SOCKET_ID, "presence-foobar", member)
        assert json.loads(result["channel_data"]) == member
        assert signing.verify_channel_auth(
            KEY, SECRET, result["auth"], SOCKET_ID, "presence-foobar", result["channel_data"]
        )

    def test_rest_api_vector(self) -> None:
        body = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
        query = signing.signed_query(KEY, SECRET, "POST", "/apps/3/events", timestamp=1353088179, body=body)
        assert query["body_md5"] == "ec365a775a4cd0599faeb73354201b6f"
        assert query["auth_signature"] == "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"


class TestAuthParity:
    def test_private_channel(self, ours: Pusher, official: official_sdk.Pusher) -> None:
        assert ours.authorize_channel(SOCKET_ID, "private-orders") == official.authenticate("private-orders", SOCKET_ID)

    @pytest.mark.parametrize(
        "member",
        [
            {"user_id": "42"},
            {"user_id": 10, "user_info": {"name": "Mr. Channels"}},
            {"user_id": "u-1", "user_info": {"name": "Zoë", "tags": ["a", "b"], "admin": False}},
        ],
    )
    def test_presence_channel(self, ours: Pusher, official: official_sdk.Pusher, member: dict[str, Any]) -> None:
        assert ours.authorize_channel(SOCKET_ID, "presence-room", member) == official.authenticate(
            "presence-room", SOCKET_ID, member
        )

    def test_encrypted_channel_shares_the_same_secret(self, ours: Pusher, official: official_sdk.Pusher) -> None:
        theirs = official.authenticate("private-encrypted-vault", SOCKET_ID)
        result = ours.authorize_channel(SOCKET_ID, "private-encrypted-vault")
        assert result["auth"] == theirs["auth"]
        assert isinstance(result["shared_secret"], str)  # pusher-js needs a str; the SDK returns bytes
        assert base64.b64decode(result["shared_secret"]) == base64.b64decode(theirs["shared_secret"])
        assert (
            base64.b64decode(result["shared_secret"])
            == hashlib.sha256(b"private-encrypted-vault" + MASTER_KEY).digest()
        )

    @pytest.mark.parametrize(
        "user_data",
        [{"id": "12345"}, {"id": "u-1", "user_info": {"name": "Ada"}, "watchlist": ["u-2", "u-3"]}],
    )
    def test_authenticate_user(self, ours: Pusher, official: official_sdk.Pusher, user_data: dict[str, Any]) -> None:
        assert ours.authenticate_user(SOCKET_ID, user_data) == official.authenticate_user(SOCKET_ID, user_data)

    @pytest.mark.parametrize(
        ("socket_id", "channel", "user_data", "match"),
        [
            ("1234", "private-a", None, "socket_id"),
            ("1.2.3", "private-a", None, "socket_id"),
            (SOCKET_ID, "private-a b", None, "channel"),
            (SOCKET_ID, "public-channel", None, "needs no auth"),
            (SOCKET_ID, "presence-room", None, "user_id"),
            (SOCKET_ID, "presence-room", {"user_info": {}}, "user_id"),
            (SOCKET_ID, "private-a", {"user_id": "1"}, "only for presence"),
        ],
    )
    def test_invalid_input_is_refused(
        self, ours: Pusher, socket_id: str, channel: str, user_data: dict[str, Any] | None, match: str
    ) -> None:
        with pytest.raises(InvalidArgument, match=match):
            ours.authorize_channel(socket_id, channel, user_data)

    @pytest.mark.parametrize("user_data", [{}, {"id": ""}, {"id": 5}, {"id": "has space"}])
    def test_user_data_needs_a_valid_string_id(self, ours: Pusher, user_data: dict[str, Any]) -> None:
        with pytest.raises(InvalidArgument):
            ours.authenticate_user(SOCKET_ID, user_data)


class TestRequestSigningParity:
    def test_post_signature_matches_the_sdk_for_the_same_body(self, official: official_sdk.Pusher) -> None:
        request = official._pusher_client.trigger.make_request(["my-channel"], "my-event", {"a": 1})
        params = request.query_params
        ours = signing.signed_query(
            KEY, SECRET, POST, request.path, timestamp=int(params["auth_timestamp"]), body=request.body
        )
        assert ours == params

    def test_get_signature_matches_the_sdk_including_its_empty_body_md5(self, official: official_sdk.Pusher) -> None:
        request = official._pusher_client.channels_info.make_request("presence-", ["user_count"])
        params = dict(request.query_params)
        unsigned = {k: v for k, v in params.items() if k not in ("auth_key", "auth_timestamp", "auth_version")}
        unsigned.pop("auth_signature")
        ours = signing.signed_query(
            KEY, SECRET, GET, request.path, timestamp=int(params["auth_timestamp"]), params=unsigned
        )
        assert ours == params

    def test_our_request_verifies_with_the_sdk_signature_function(self) -> None:
        with Pusher(APP_ID, KEY, SECRET) as ours:
            request = ours._requests.trigger("c", "e", {"x": 1})
        timestamp = int(time.time())
        query = dict(pair.split("=", 1) for pair in request.target(ours.config, timestamp).split("?", 1)[1].split("&"))
        string_to_sign = "\n".join(
            [
                "POST",
                f"/apps/{APP_ID}/events",
                "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k != "auth_signature"),
            ]
        )
        assert query["auth_signature"] == official_sign(SECRET, string_to_sign)
        assert query["body_md5"] == hashlib.md5(request.body).hexdigest()

    def test_official_request_class_builds_the_same_path(self, official: official_sdk.Pusher) -> None:
        ours = Pusher(APP_ID, KEY, SECRET)._requests
        for theirs, mine in [
            (official._pusher_client.channel_info.make_request("private-a", []), ours.channel_info("private-a")),
            (official._pusher_client.users_info.make_request("presence-a"), ours.users_info("presence-a")),
        ]:
            assert isinstance(theirs, Request)
            assert (theirs.method, theirs.path) == (mine.method, mine.path)


class TestEncryptionParity:
    def test_same_nonce_gives_the_same_payload_as_the_sdk(self) -> None:
        nonce = bytes(range(24))
        theirs = official_crypto.encrypt("private-encrypted-x", '{"m":"hi"}', MASTER_KEY, nonce)
        assert json.loads(encrypt("private-encrypted-x", '{"m":"hi"}', MASTER_KEY, nonce=nonce)) == theirs

    def test_sdk_payload_decrypts_with_our_key_and_ours_with_theirs(self) -> None:
        theirs = official_crypto.encrypt("private-encrypted-x", "secret text", MASTER_KEY)
        assert decrypt("private-encrypted-x", json.dumps(theirs), MASTER_KEY) == "secret text"

        mine = json.loads(encrypt("private-encrypted-x", "secret text", MASTER_KEY))
        key = official_crypto.generate_shared_secret(b"private-encrypted-x", MASTER_KEY)
        opened = nacl.secret.SecretBox(key).decrypt(
            base64.b64decode(mine["ciphertext"]), base64.b64decode(mine["nonce"])
        )
        assert opened == b"secret text"

    def test_nonces_are_random(self) -> None:
        nonces = {json.loads(encrypt("private-encrypted-x", "t", MASTER_KEY))["nonce"] for _ in range(20)}
        assert len(nonces) == 20


class TestWebhookParity:
    def _signed_by_sdk_rules(self, payload: dict[str, Any]) -> tuple[str, str]:
        body = json.dumps(payload)
        return body, official_sign(SECRET, body)

    def test_body_the_sdk_accepts_is_accepted_and_typed(self, official: official_sdk.Pusher) -> None:
        now_ms = int(time.time() * 1000)
        body, signature = self._signed_by_sdk_rules(
            {
                "time_ms": now_ms,
                "events": [
                    {"name": "channel_occupied", "channel": "c"},
                    {"name": "member_added", "channel": "presence-r", "user_id": "7"},
                    {
                        "name": "client_event",
                        "channel": "private-c",
                        "event": "client-typing",
                        "data": '{"on":true}',
                        "socket_id": "1.1",
                    },
                    {"name": "subscription_count", "channel": "c", "subscription_count": 3},
                ],
            }
        )
        assert official.validate_webhook(KEY, signature, body) is not None
        batch = verify_webhook(KEY, signature, body=body, key=KEY, secret=SECRET)
        assert batch.time_ms == now_ms
        assert [(event.name, event.channel) for event in batch.events] == [
            ("channel_occupied", "c"),
            ("member_added", "presence-r"),
            ("client_event", "private-c"),
            ("subscription_count", "c"),
        ]
        assert batch.events[1].user_id == "7"
        assert (batch.events[2].event, batch.events[2].data, batch.events[2].socket_id) == (
            "client-typing",
            '{"on":true}',
            "1.1",
        )
        assert batch.events[3].subscription_count == 3

    @pytest.mark.parametrize("age_s", [301, -301])
    def test_both_reject_a_webhook_older_or_newer_than_five_minutes(
        self, official: official_sdk.Pusher, age_s: int
    ) -> None:
        body, signature = self._signed_by_sdk_rules({"time_ms": int((time.time() - age_s) * 1000), "events": []})
        assert official.validate_webhook(KEY, signature, body) is None
        with pytest.raises(WebhookTooOld):
            verify_webhook(KEY, signature, body=body, key=KEY, secret=SECRET)
