"""Signatures against the worked examples in Pusher's docs (PROTOCOL.md §1.8 and §1.9)."""

from __future__ import annotations

import json

from pusherpy.protocol import signing

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
SOCKET_ID = "1234.1234"


class TestChannelAuth:
    def test_private_channel_matches_the_docs_example(self) -> None:
        auth = signing.sign_channel(KEY, SECRET, SOCKET_ID, "private-foobar")
        assert auth == f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"

    def test_presence_channel_signs_the_exact_channel_data_string(self) -> None:
        channel_data = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
        auth = signing.sign_channel(KEY, SECRET, SOCKET_ID, "presence-foobar", channel_data)
        assert auth == f"{KEY}:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"

    def test_presence_signature_changes_when_channel_data_is_reserialized(self) -> None:
        channel_data = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
        auth = signing.sign_channel(KEY, SECRET, SOCKET_ID, "presence-foobar", channel_data)
        reserialized = json.dumps(json.loads(channel_data))
        assert not signing.verify_channel_auth(KEY, SECRET, auth, SOCKET_ID, "presence-foobar", reserialized)

    def test_verify_accepts_the_right_signature(self) -> None:
        auth = f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        assert signing.verify_channel_auth(KEY, SECRET, auth, SOCKET_ID, "private-foobar")

    def test_verify_rejects_another_socket_id(self) -> None:
        auth = signing.sign_channel(KEY, SECRET, "1.1", "private-foobar")
        assert not signing.verify_channel_auth(KEY, SECRET, auth, SOCKET_ID, "private-foobar")

    def test_verify_rejects_another_channel(self) -> None:
        auth = signing.sign_channel(KEY, SECRET, SOCKET_ID, "private-other")
        assert not signing.verify_channel_auth(KEY, SECRET, auth, SOCKET_ID, "private-foobar")


class TestUserAuth:
    def test_user_signin_matches_the_docs_example(self) -> None:
        auth = signing.sign_user(KEY, SECRET, SOCKET_ID, '{"id":"12345"}')
        assert auth == f"{KEY}:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"

    def test_verify_rejects_changed_user_data(self) -> None:
        auth = signing.sign_user(KEY, SECRET, SOCKET_ID, '{"id":"12345"}')
        assert signing.verify_user_auth(KEY, SECRET, auth, SOCKET_ID, '{"id":"12345"}')
        assert not signing.verify_user_auth(KEY, SECRET, auth, SOCKET_ID, '{"id":"12346"}')


class TestHttpApiSignature:
    BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'

    def test_body_md5_matches_the_docs_example(self) -> None:
        assert signing.body_md5(self.BODY) == "ec365a775a4cd0599faeb73354201b6f"

    def test_signed_query_matches_the_docs_example(self) -> None:
        query = signing.signed_query(KEY, SECRET, "POST", "/apps/3/events", timestamp=1353088179, body=self.BODY)
        assert query == {
            "auth_key": KEY,
            "auth_timestamp": "1353088179",
            "auth_version": "1.0",
            "body_md5": "ec365a775a4cd0599faeb73354201b6f",
            "auth_signature": "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
        }

    def test_string_to_sign_lowercases_sorts_and_skips_the_signature_without_escaping(self) -> None:
        params = {"B": "x y", "a": "1,2", "auth_signature": "zzz"}
        assert signing.request_string_to_sign("get", "/apps/3/channels", params) == "GET\n/apps/3/channels\na=1,2&b=x y"

    def test_empty_body_gets_no_body_md5(self) -> None:
        query = signing.signed_query(KEY, SECRET, "GET", "/apps/3/channels", timestamp=1)
        assert "body_md5" not in query


class TestWebhookSignature:
    def test_signature_is_hmac_of_the_raw_body(self) -> None:
        body = b'{"time_ms":1,"events":[]}'
        signature = signing.sign_webhook(SECRET, body)
        assert signature == signing.hmac_sha256_hex(SECRET, body)
        assert signing.verify_webhook_signature(SECRET, signature, body)
        assert not signing.verify_webhook_signature(SECRET, signature, body + b" ")
