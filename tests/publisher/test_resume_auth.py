"""A page's resume position (``resume_after``) signed into the channel auth answer, by hand and through the route.

Private and encrypted channels get ``channel_data = {"resume_after": N}`` signed over ``socket_id:channel:channel_data``
(the official SDK's custom-data form: the same answer as pusher-http-python's ``authenticate(channel, socket_id,
custom_data)``); presence channels get the key in the member object. The server checks each with
``signing.verify_channel_auth``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pusher as official_sdk  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from pusherpy.protocol import signing
from pusherpy.publisher import ChannelRules, InvalidArgument, Pusher, broadcasting_routes

from .conftest import APP_ID, KEY, MASTER_KEY_B64, SECRET

SOCKET_ID = "1234.5678"
SERIAL = 1_733_200_000_000_042
AiohttpClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def ours() -> Pusher:
    return Pusher(APP_ID, KEY, SECRET, encryption_master_key_base64=MASTER_KEY_B64)


@pytest.fixture
def official() -> official_sdk.Pusher:
    return official_sdk.Pusher(APP_ID, KEY, SECRET, encryption_master_key_base64=MASTER_KEY_B64)


def verifies(answer: dict[str, Any], channel: str) -> bool:
    """The server's check: the auth signs socket_id:channel:channel_data, channel_data exactly as received."""
    return signing.verify_channel_auth(KEY, SECRET, answer["auth"], SOCKET_ID, channel, answer["channel_data"])


class TestSigned:
    def test_private_channel_signs_the_resume_position_as_custom_data(
        self, ours: Pusher, official: official_sdk.Pusher
    ) -> None:
        answer = ours.authorize_channel(SOCKET_ID, "private-chat", resume_after=SERIAL)
        assert json.loads(answer["channel_data"]) == {"resume_after": SERIAL}
        assert verifies(dict(answer), "private-chat")
        assert answer == official.authenticate("private-chat", SOCKET_ID, {"resume_after": SERIAL})

    def test_presence_channel_adds_the_position_to_the_member(
        self, ours: Pusher, official: official_sdk.Pusher
    ) -> None:
        member = {"user_id": "7", "user_info": {"name": "Ada"}}
        answer = ours.authorize_channel(SOCKET_ID, "presence-room", member, resume_after=SERIAL)
        assert json.loads(answer["channel_data"]) == {**member, "resume_after": SERIAL}
        assert verifies(dict(answer), "presence-room")
        assert answer == official.authenticate("presence-room", SOCKET_ID, {**member, "resume_after": SERIAL})
        assert "resume_after" not in member

    def test_encrypted_channel_gets_the_position_and_its_shared_secret(
        self, ours: Pusher, official: official_sdk.Pusher
    ) -> None:
        answer = ours.authorize_channel(SOCKET_ID, "private-encrypted-vault", resume_after=SERIAL)
        theirs = official.authenticate("private-encrypted-vault", SOCKET_ID, {"resume_after": SERIAL})
        assert (answer["auth"], answer["channel_data"]) == (theirs["auth"], theirs["channel_data"])
        assert base64.b64decode(answer["shared_secret"]) == base64.b64decode(theirs["shared_secret"])
        assert verifies(dict(answer), "private-encrypted-vault")

    def test_without_a_position_the_answer_is_unchanged(self, ours: Pusher, official: official_sdk.Pusher) -> None:
        assert ours.authorize_channel(SOCKET_ID, "private-chat", resume_after=None) == official.authenticate(
            "private-chat", SOCKET_ID
        )

    @pytest.mark.parametrize("bad", [0, -5, True, False, 1.0, "42", 2**53])
    def test_a_position_that_is_not_a_positive_integer_is_refused(self, ours: Pusher, bad: object) -> None:
        with pytest.raises(InvalidArgument, match="resume_after"):
            ours.authorize_channel(SOCKET_ID, "private-chat", resume_after=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="resume_after"):
            ours.authorize_channel(SOCKET_ID, "presence-room", {"user_id": "1"}, resume_after=bad)  # type: ignore[arg-type]


def rules() -> ChannelRules:
    channels = ChannelRules()
    channels.add("chat", lambda user: True)
    channels.add("room", lambda user: {"name": user["name"]})
    return channels


@pytest.fixture
async def http(aiohttp_client: AiohttpClient, ours: Pusher) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app.add_routes(broadcasting_routes(ours, rules(), lambda request: {"id": 7, "name": "Ada"}))
    return await aiohttp_client(app)


async def post(http: TestClient[web.Request, web.Application], fields: dict[str, Any], *, as_json: bool) -> Any:
    if as_json:
        response = await http.post("/broadcasting/auth", json=fields)
    else:
        response = await http.post("/broadcasting/auth", data={name: str(value) for name, value in fields.items()})
    return response.status, await response.json()


class TestThroughTheAuthRoute:
    @pytest.mark.parametrize("as_json", [False, True])
    async def test_a_private_channel_request_with_resume_after_gets_it_signed(
        self, http: TestClient[web.Request, web.Application], as_json: bool
    ) -> None:
        fields = {"socket_id": SOCKET_ID, "channel_name": "private-chat", "resume_after": SERIAL}
        status, answer = await post(http, fields, as_json=as_json)
        assert status == 200
        assert json.loads(answer["channel_data"]) == {"resume_after": SERIAL}
        assert verifies(answer, "private-chat")

    @pytest.mark.parametrize("as_json", [False, True])
    async def test_a_presence_channel_request_gets_it_in_the_member(
        self, http: TestClient[web.Request, web.Application], as_json: bool
    ) -> None:
        fields = {"socket_id": SOCKET_ID, "channel_name": "presence-room", "resume_after": SERIAL}
        status, answer = await post(http, fields, as_json=as_json)
        assert status == 200
        assert json.loads(answer["channel_data"]) == {
            "user_id": "7",
            "user_info": {"name": "Ada"},
            "resume_after": SERIAL,
        }
        assert verifies(answer, "presence-room")

    async def test_an_empty_or_null_resume_after_means_none(
        self, http: TestClient[web.Request, web.Application]
    ) -> None:
        for fields, as_json in (({"resume_after": ""}, False), ({"resume_after": None}, True)):
            status, answer = await post(
                http, {"socket_id": SOCKET_ID, "channel_name": "private-chat", **fields}, as_json=as_json
            )
            assert (status, answer) == (200, {"auth": signing.sign_channel(KEY, SECRET, SOCKET_ID, "private-chat")})

    @pytest.mark.parametrize(
        ("value", "as_json"),
        [
            ("abc", False),
            ("0", False),
            ("-3", False),
            ("1.5", False),
            ("9" * 17, False),
            (True, True),
            (0, True),
            (2**53, True),
        ],
    )
    async def test_an_invalid_resume_after_gets_400_naming_it(
        self, http: TestClient[web.Request, web.Application], value: object, as_json: bool
    ) -> None:
        fields = {"socket_id": SOCKET_ID, "channel_name": "private-chat", "resume_after": value}
        status, answer = await post(http, fields, as_json=as_json)
        assert status == 400
        assert answer["error"].startswith("resume_after=") and "must be a serial" in answer["error"]
