"""Property: whatever a client sends, ``Connection.receive_text`` answers with actions or a ``ProtocolError``.

Any other exception would be a bug that closes the socket with 4200 instead of a ``pusher:error``.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pusherpy.protocol import signing
from pusherpy.protocol.apps import AppConfig
from pusherpy.protocol.connection import Connection
from pusherpy.protocol.errors import ProtocolError

APP = AppConfig(id="1", key="key", secret="secret", max_client_events_per_second=1000)
SOCKET_ID = "1.2"
PRESENCE_DATA = '{"user_id":"u1","user_info":{"name":"Ann"}}'

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
event_names = st.sampled_from(
    [
        "pusher:subscribe",
        "pusher:unsubscribe",
        "pusher:signin",
        "pusher:ping",
        "pusher:pong",
        "pusher:bogus",
        "client-typing",
        "client-",
        "other",
        "",
    ]
) | st.text(max_size=30)
channel_names = st.sampled_from(
    ["news", "private-chat", "presence-room", "private-encrypted-x", "cache-x", "#server-to-user-u1", ""]
) | st.text(max_size=30)
field_values = channel_names | json_values


@st.composite
def data_objects(draw: st.DrawFn) -> Any:
    fields = draw(
        st.dictionaries(
            st.sampled_from(["channel", "auth", "channel_data", "user_data"]) | st.text(max_size=8),
            field_values,
            max_size=4,
        )
    )
    return fields


@st.composite
def frames(draw: st.DrawFn) -> str:
    message: dict[str, Any] = {}
    if draw(st.booleans()):
        message["event"] = draw(event_names | json_values)
    if draw(st.booleans()):
        message["channel"] = draw(channel_names | json_values)
    if draw(st.booleans()):
        data = draw(data_objects() | json_values)
        message["data"] = json.dumps(data) if draw(st.booleans()) else data
    if draw(st.booleans()):
        message["user_id"] = draw(json_values)
    return json.dumps(message)


def subscribed_connection() -> Connection:
    """A socket that is signed in and in a private and a presence channel, so client events get far."""
    connection = Connection(SOCKET_ID, APP)
    presence_auth = signing.sign_channel(APP.key, APP.secret, SOCKET_ID, "presence-room", PRESENCE_DATA)
    private_auth = signing.sign_channel(APP.key, APP.secret, SOCKET_ID, "private-chat")
    user_data = '{"id":"u1","watchlist":["u2"]}'
    user_auth = signing.sign_user(APP.key, APP.secret, SOCKET_ID, user_data)
    for message in (
        {"event": "pusher:subscribe", "data": {"channel": "private-chat", "auth": private_auth}},
        {
            "event": "pusher:subscribe",
            "data": {"channel": "presence-room", "auth": presence_auth, "channel_data": PRESENCE_DATA},
        },
        {"event": "pusher:signin", "data": {"auth": user_auth, "user_data": user_data}},
    ):
        connection.receive_text(json.dumps(message), 0.0)
    return connection


def receive_all(connection: Connection, texts: list[str | bytes]) -> None:
    for index, text in enumerate(texts):
        try:
            connection.receive_text(text, float(index))
        except ProtocolError as error:
            assert error.message


FUZZ = settings(max_examples=150, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(st.text(max_size=200) | st.binary(max_size=200), min_size=1, max_size=5))
def test_random_text_and_bytes_raise_only_protocol_errors(texts: list[str | bytes]) -> None:
    receive_all(subscribed_connection(), texts)


@FUZZ
@given(st.lists(frames(), min_size=1, max_size=5))
def test_random_json_frames_raise_only_protocol_errors(texts: list[str | bytes]) -> None:
    receive_all(subscribed_connection(), texts)


@FUZZ
@given(st.lists(json_values.map(json.dumps), min_size=1, max_size=5))
def test_random_json_values_raise_only_protocol_errors(texts: list[str | bytes]) -> None:
    receive_all(Connection(SOCKET_ID, APP), texts)


@FUZZ
@given(st.one_of(json_values.map(json.dumps), st.text(max_size=50)), st.booleans())
def test_correctly_signed_random_channel_data_and_user_data_raise_only_protocol_errors(
    payload: str, as_presence: bool
) -> None:
    """The signature check passes, so the payload's content reaches the member and sign-in parsers."""
    connection = Connection(SOCKET_ID, APP)
    if as_presence:
        auth = signing.sign_channel(APP.key, APP.secret, SOCKET_ID, "presence-room", payload)
        data = {"channel": "presence-room", "auth": auth, "channel_data": payload}
        message = {"event": "pusher:subscribe", "data": data}
    else:
        auth = signing.sign_user(APP.key, APP.secret, SOCKET_ID, payload)
        message = {"event": "pusher:signin", "data": {"auth": auth, "user_data": payload}}
    receive_all(connection, [json.dumps(message)])
