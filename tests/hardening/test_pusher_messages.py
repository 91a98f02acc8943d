"""Hostile Pusher messages (the ones that take soketi down among them): each gets a ``pusher:error`` or a
subscription error naming the problem, the socket stays usable, and a bystander keeps receiving.

An exception escaping a handler (a bug) closes only that socket, with 4200, and is logged as a bug.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from pusherpy.protocol import signing
from pusherpy.protocol.connection import Connection
from tests.hardening.watch import unharmed
from tests.helpers import PusherClient, RunningServer, connect

PRESENCE_DATA = json.dumps({"user_id": "u1"})


def signed(client: PusherClient, channel: str, channel_data: str | None = None, *, socket_id: str = "") -> str:
    app = client.app
    return signing.sign_channel(app.key, app.secret, socket_id or client.socket_id, channel, channel_data)


def subscribe(data: Any) -> dict[str, Any]:
    return {"event": "pusher:subscribe", "data": data}


# Each case: (the message, built for this client) -> the error code expected (None: code null, malformed input).
CASES: list[Any] = [
    pytest.param(lambda c: subscribe(42), None, id="subscribe-data-42"),
    pytest.param(lambda c: subscribe({}), None, id="subscribe-data-empty"),
    pytest.param(lambda c: subscribe("not json"), None, id="subscribe-data-string-not-json"),
    pytest.param(lambda c: subscribe({"channel": ["news"]}), None, id="subscribe-channel-list"),
    pytest.param(lambda c: {"event": "pusher:unsubscribe"}, None, id="unsubscribe-without-data"),
    pytest.param(lambda c: {"event": "pusher:signin"}, None, id="signin-without-data"),
    pytest.param(lambda c: {"event": "pusher:signin", "data": {"auth": 5, "user_data": {}}}, None, id="signin-typed"),
    pytest.param(lambda c: subscribe({"channel": "#internal"}), None, id="reserved-hash-prefix"),
    pytest.param(lambda c: subscribe({"channel": "news room"}), None, id="channel-name-with-space"),
    pytest.param(lambda c: subscribe({"channel": "x" * 201}), None, id="channel-name-201-chars"),
    pytest.param(lambda c: subscribe({"channel": "private-x"}), 4009, id="private-without-auth"),
    pytest.param(
        lambda c: subscribe({"channel": "private-x", "auth": f"{c.app.key}:{'0' * 64}"}), 4009, id="forged-signature"
    ),
    pytest.param(
        lambda c: subscribe({"channel": "private-x", "auth": signed(c, "private-y")}),
        4009,
        id="signed-for-another-channel",
    ),
    pytest.param(
        lambda c: subscribe({"channel": "private-x", "auth": signed(c, "private-x", socket_id="1.1")}),
        4009,
        id="signed-for-another-socket",
    ),
    pytest.param(
        lambda c: subscribe({"channel": "private-x", "auth": "other-key:" + signed(c, "private-x").split(":")[1]}),
        4009,
        id="auth-with-another-apps-key",
    ),
    pytest.param(
        lambda c: subscribe({"channel": "presence-x", "auth": signed(c, "presence-x", PRESENCE_DATA)}),
        4009,  # the signature covers channel_data: without it the signature cannot match
        id="presence-without-channel-data",
    ),
    pytest.param(
        lambda c: subscribe(
            {"channel": "presence-x", "auth": signed(c, "presence-x", "not json"), "channel_data": "not json"}
        ),
        None,
        id="presence-channel-data-not-json-but-signed",
    ),
    pytest.param(
        lambda c: subscribe({"channel": "presence-x", "auth": signed(c, "presence-x", "[1]"), "channel_data": "[1]"}),
        None,
        id="presence-channel-data-not-an-object",
    ),
    pytest.param(
        lambda c: subscribe(
            {
                "channel": "presence-x",
                "auth": signed(c, "presence-x", PRESENCE_DATA),
                "channel_data": '{"user_id":"u2"}',
            }
        ),
        4009,
        id="presence-channel-data-swapped-after-signing",
    ),
    pytest.param(
        lambda c: {
            "event": "pusher:signin",
            "data": {
                "auth": signing.sign_user(c.app.key, c.app.secret, c.socket_id, "not json"),
                "user_data": "not json",
            },
        },
        None,
        id="signin-user-data-not-json-but-signed",
    ),
    pytest.param(
        lambda c: {
            "event": "pusher:signin",
            "data": {"auth": signing.sign_user(c.app.key, c.app.secret, c.socket_id, "{}"), "user_data": "{}"},
        },
        None,
        id="signin-user-data-without-id",
    ),
    pytest.param(
        lambda c: {"event": "pusher:signin", "data": {"auth": "x", "user_data": "{}"}}, 4009, id="signin-forged"
    ),
    pytest.param(lambda c: {"event": "pusher_internal:subscription_succeeded", "data": {}}, None, id="server-event"),
    pytest.param(lambda c: {"event": "Client-x", "channel": "private-x", "data": {}}, None, id="wrong-case-prefix"),
]


@pytest.mark.parametrize(("build", "code"), CASES)
async def test_hostile_pusher_message_gets_an_error_and_the_socket_stays_usable(
    server: RunningServer, build: Any, code: int | None
) -> None:
    async with unharmed(server), connect(server) as offender:
        await offender.ws.send_str(json.dumps(build(offender)))
        error = await offender.expect("pusher:error")
        assert error["data"]["code"] == code, error
        assert isinstance(error["data"]["message"], str) and error["data"]["message"]
        await offender.send("pusher:ping")
        await offender.expect("pusher:pong")
        assert (await offender.subscribe("private-afterwards"))["event"] == "pusher_internal:subscription_succeeded"


async def test_exception_escaping_a_handler_closes_only_that_socket_with_4200_and_is_logged_as_a_bug(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = Connection.receive_text

    def buggy(self: Connection, text: str | bytes, now: float) -> Any:
        if "boom" in str(text):
            raise RuntimeError("a bug in the core")
        return real(self, text, now)

    monkeypatch.setattr(Connection, "receive_text", buggy)
    async with unharmed(server), connect(server) as victim, connect(server) as neighbour:
        await neighbour.subscribe("news")
        await victim.send("pusher:ping", {"boom": True})
        assert await victim.expect_close() == 4200
        await neighbour.send("pusher:ping")
        await neighbour.expect("pusher:pong")
    bugs = [r for r in caplog.records if r.levelno == logging.ERROR and "bug" in r.getMessage()]
    assert bugs and bugs[0].exc_info is not None and "a bug in the core" in str(bugs[0].exc_info[1])
