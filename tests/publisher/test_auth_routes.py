"""Laravel Echo's auth endpoints on a real aiohttp app: form and JSON bodies, 400/401/403/200, exact signatures."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from pusherpy.protocol import signing
from pusherpy.publisher import (
    BroadcastAuth,
    ChannelRules,
    Pusher,
    bearer_token,
    broadcasting_routes,
)

from .conftest import APP_ID, KEY, MASTER_KEY_B64, SECRET

JWT_SECRET = "jwt-test-secret-that-is-long-enough"
SOCKET_ID = "123.456"
AiohttpClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]

USERS = {"1": {"id": 1, "name": "Ada", "conversations": ["10"]}, "2": {"id": 2, "name": "Bob", "conversations": []}}


def token_for(user_id: str) -> str:
    return jwt.encode({"sub": user_id}, JWT_SECRET, algorithm="HS256")


async def user_from_jwt(request: web.Request) -> dict[str, Any] | None:
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        return None
    try:
        claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return None
    return USERS.get(claims["sub"])


def make_rules() -> ChannelRules:
    channels = ChannelRules()

    @channels.rule("conversation.{conversation_id}")
    async def conversation(user: dict[str, Any], conversation_id: str) -> bool:
        return conversation_id in user["conversations"]

    @channels.rule("room.{room_id}")
    def room(user: dict[str, Any], room_id: str) -> dict[str, Any] | bool:
        return {"name": user["name"], "room": room_id} if room_id != "closed" else False

    @channels.rule("lobby")
    def lobby(user: dict[str, Any]) -> bool:
        return True

    @channels.rule("broken.{n}")
    def broken(user: dict[str, Any], n: str) -> bool:
        raise RuntimeError("database is down with secret details")

    return channels


@pytest.fixture
def pusher() -> Pusher:
    return Pusher(APP_ID, KEY, SECRET, encryption_master_key_base64=MASTER_KEY_B64)


@pytest.fixture
async def http(aiohttp_client: AiohttpClient, pusher: Pusher) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app.add_routes(
        broadcasting_routes(
            pusher,
            make_rules(),
            user_from_jwt,
            user_data=lambda user: {"id": str(user["id"]), "user_info": {"name": user["name"]}},
        )
    )
    return await aiohttp_client(app)


def auth_header(user_id: str = "1") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


async def post(
    http: TestClient[web.Request, web.Application],
    fields: dict[str, str],
    *,
    as_json: bool = False,
    user_id: str | None = "1",
    path: str = "/broadcasting/auth",
) -> tuple[int, dict[str, Any]]:
    headers = auth_header(user_id) if user_id else {}
    if as_json:
        response = await http.post(path, json=fields, headers=headers)
    else:
        response = await http.post(path, data=fields, headers=headers)
    assert response.content_type == "application/json"
    return response.status, await response.json()


class TestChannelAuth:
    @pytest.mark.parametrize("as_json", [False, True])
    async def test_private_channel_allowed_by_the_rule_gets_the_exact_signature(
        self, http: TestClient[web.Request, web.Application], as_json: bool
    ) -> None:
        status, body = await post(
            http, {"socket_id": SOCKET_ID, "channel_name": "private-conversation.10"}, as_json=as_json
        )
        assert status == 200
        assert body == {"auth": signing.sign_channel(KEY, SECRET, SOCKET_ID, "private-conversation.10")}

    async def test_rule_saying_no_gets_403(self, http: TestClient[web.Request, web.Application]) -> None:
        status, body = await post(http, {"socket_id": SOCKET_ID, "channel_name": "private-conversation.99"})
        assert status == 403
        assert "error" in body

    async def test_channel_without_a_rule_gets_403(self, http: TestClient[web.Request, web.Application]) -> None:
        status, _ = await post(http, {"socket_id": SOCKET_ID, "channel_name": "private-unknown"})
        assert status == 403

    @pytest.mark.parametrize("user_id", [None, "999"])
    async def test_no_user_gets_401(self, http: TestClient[web.Request, web.Application], user_id: str | None) -> None:
        status, body = await post(
            http, {"socket_id": SOCKET_ID, "channel_name": "private-conversation.10"}, user_id=user_id
        )
        assert (status, body) == (401, {"error": "not authenticated"})

    async def test_forged_token_gets_401(self, http: TestClient[web.Request, web.Application]) -> None:
        forged = jwt.encode({"sub": "1"}, "another-secret-that-is-long-enough", algorithm="HS256")
        response = await http.post(
            "/broadcasting/auth",
            data={"socket_id": SOCKET_ID, "channel_name": "private-conversation.10"},
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert response.status == 401

    @pytest.mark.parametrize(
        "fields",
        [
            {"channel_name": "private-conversation.10"},
            {"socket_id": SOCKET_ID},
            {"socket_id": "abc", "channel_name": "private-conversation.10"},
            {"socket_id": SOCKET_ID, "channel_name": "private-bad name"},
            {"socket_id": SOCKET_ID, "channel_name": "public-lobby"},
        ],
    )
    @pytest.mark.parametrize("as_json", [False, True])
    async def test_bad_input_gets_400(
        self, http: TestClient[web.Request, web.Application], fields: dict[str, str], as_json: bool
    ) -> None:
        status, body = await post(http, fields, as_json=as_json)
        assert status == 400
        assert isinstance(body["error"], str)

    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"socket_id": 1, "channel_name": "private-lobby"}'])
    async def test_malformed_json_gets_400(self, http: TestClient[web.Request, web.Application], raw: bytes) -> None:
        response = await http.post(
            "/broadcasting/auth", data=raw, headers={**auth_header(), "Content-Type": "application/json"}
        )
        assert response.status == 400
        assert "error" in await response.json()

    @pytest.mark.parametrize(
        ("content_type", "raw"),
        [("multipart/form-data; boundary=xx", b"garbage"), ("application/x-www-form-urlencoded", b"\xff=%%%")],
    )
    async def test_broken_form_gets_400(
        self, http: TestClient[web.Request, web.Application], content_type: str, raw: bytes
    ) -> None:
        response = await http.post(
            "/broadcasting/auth", data=raw, headers={**auth_header(), "Content-Type": content_type}
        )
        assert (response.status, await response.json()) == (400, {"error": "body is not a form"})

    async def test_presence_channel_returns_member_with_user_id_from_the_user(
        self, http: TestClient[web.Request, web.Application]
    ) -> None:
        status, body = await post(http, {"socket_id": SOCKET_ID, "channel_name": "presence-room.5"})
        assert status == 200
        assert json.loads(body["channel_data"]) == {"user_id": "1", "user_info": {"name": "Ada", "room": "5"}}
        assert body["auth"] == signing.sign_channel(KEY, SECRET, SOCKET_ID, "presence-room.5", body["channel_data"])

    async def test_presence_rule_returning_false_gets_403(self, http: TestClient[web.Request, web.Application]) -> None:
        status, _ = await post(http, {"socket_id": SOCKET_ID, "channel_name": "presence-room.closed"})
        assert status == 403

    async def test_encrypted_channel_gets_the_shared_secret(
        self, http: TestClient[web.Request, web.Application], pusher: Pusher
    ) -> None:
        status, body = await post(http, {"socket_id": SOCKET_ID, "channel_name": "private-encrypted-lobby"})
        assert status == 200
        assert body["auth"] == signing.sign_channel(KEY, SECRET, SOCKET_ID, "private-encrypted-lobby")
        assert base64.b64decode(body["shared_secret"]) == pusher.channel_shared_secret("private-encrypted-lobby")

    async def test_exception_in_a_rule_gets_500_without_details(
        self, http: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
    ) -> None:
        status, body = await post(http, {"socket_id": SOCKET_ID, "channel_name": "private-broken.1"})
        assert (status, body) == (500, {"error": "internal error"})
        assert "RuntimeError" in caplog.text  # logged for the operator, not shown to the client


class TestUserAuth:
    @pytest.mark.parametrize("as_json", [False, True])
    async def test_signed_in_user_gets_user_data_and_its_signature(
        self, http: TestClient[web.Request, web.Application], as_json: bool
    ) -> None:
        status, body = await post(http, {"socket_id": SOCKET_ID}, as_json=as_json, path="/broadcasting/user-auth")
        assert status == 200
        assert json.loads(body["user_data"]) == {"id": "1", "user_info": {"name": "Ada"}}
        assert body["auth"] == signing.sign_user(KEY, SECRET, SOCKET_ID, body["user_data"])

    async def test_no_user_gets_401(self, http: TestClient[web.Request, web.Application]) -> None:
        status, _ = await post(http, {"socket_id": SOCKET_ID}, user_id=None, path="/broadcasting/user-auth")
        assert status == 401

    async def test_bad_socket_id_gets_400(self, http: TestClient[web.Request, web.Application]) -> None:
        status, _ = await post(http, {"socket_id": "x"}, path="/broadcasting/user-auth")
        assert status == 400

    async def test_default_user_data_is_the_user_id(self, aiohttp_client: AiohttpClient, pusher: Pusher) -> None:
        app = web.Application()
        app.add_routes(broadcasting_routes(pusher, ChannelRules(), user_from_jwt))
        http = await aiohttp_client(app)
        status, body = await post(http, {"socket_id": SOCKET_ID}, path="/broadcasting/user-auth")
        assert status == 200
        assert json.loads(body["user_data"]) == {"id": "1"}


class TestChannelRules:
    def test_resolve_strips_echo_prefixes_and_extracts_parameters(self) -> None:
        rules = ChannelRules()
        rules.add("orders.{order_id}.items.{item_id}", lambda user, **params: True)
        for channel in ("private-orders.5.items.9", "presence-orders.5.items.9", "private-encrypted-orders.5.items.9"):
            resolved = rules.resolve(channel)
            assert resolved is not None
            assert resolved.params == {"order_id": "5", "item_id": "9"}
        assert rules.resolve("private-orders.5") is None
        assert rules.resolve("private-orders.5.6.items.9") is None  # a parameter never spans a dot

    def test_first_registered_match_wins_and_literals_are_escaped(self) -> None:
        rules = ChannelRules()
        rules.add("a.b", lambda user: True)
        rules.add("a.{x}", lambda user, x: True)
        resolved = rules.resolve("private-a.b")
        assert resolved is not None and resolved.rule.pattern == "a.b"
        assert rules.resolve("private-aXb") is None

    @pytest.mark.parametrize("pattern", ["", "a.{x}.{x}", "a.{"])
    def test_malformed_patterns_are_refused(self, pattern: str) -> None:
        with pytest.raises(ValueError):
            ChannelRules().add(pattern, lambda user: True)

    async def test_core_answers_without_any_framework(self, pusher: Pusher) -> None:
        rules = ChannelRules()
        rules.add("doc.{doc_id}", lambda user, doc_id: doc_id == user.id)

        class User:
            id = "7"

        core: BroadcastAuth[dict[str, str]] = BroadcastAuth(
            pusher, rules, lambda request: User() if request.get("session") == "ok" else None
        )
        status, body = await core.authorize_channel(
            {"session": "ok"}, {"socket_id": "1.1", "channel_name": "private-doc.7"}
        )
        assert (status, body) == (200, {"auth": signing.sign_channel(KEY, SECRET, "1.1", "private-doc.7")})
        assert (await core.authorize_channel({}, {"socket_id": "1.1", "channel_name": "private-doc.7"})).status == 401
        # parse_qs-style bodies (lists of one value) are accepted too
        status, _ = await core.authorize_channel(
            {"session": "ok"}, {"socket_id": ["1.1"], "channel_name": ["private-doc.8"]}
        )
        assert status == 403


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None
