"""Properties of the input paths, sans I/O: whatever the bytes, each layer refuses with its own error type only.

- ``FrameParser``: random bytes raise nothing but ``FrameError``, and how the bytes are split never changes the
  outcome.
- ``http_auth.verify_signature``: random queries, bodies and clocks raise nothing but ``ApiError``; a request
  signed with the secret passes whatever its extra parameters.
- ``Connection`` under rate limits: random timed sequences raise nothing but ``ProtocolError``, and the limits hold
  in every one-second window. (tests/protocol/test_fuzz.py covers random text and JSON without limits.)
"""

from __future__ import annotations

import json
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pusherpy.protocol import signing
from pusherpy.protocol.actions import Relay
from pusherpy.protocol.apps import AppConfig
from pusherpy.protocol.connection import Connection
from pusherpy.protocol.errors import ApiError, ProtocolError
from pusherpy.protocol.frames import FrameError, FrameParser, Message
from pusherpy.server.http_auth import verify_signature

FUZZ = settings(max_examples=200, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_MESSAGE = 256


# -- frames ----------------------------------------------------------------------------------------------------


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """A frame that is often nearly valid: random flags, opcode, mask bit and length encoding."""
    first = draw(st.integers(0, 255)) if draw(st.booleans()) else 0x80 | draw(st.sampled_from([0, 1, 2, 8, 9, 10]))
    payload = draw(st.binary(max_size=300)) if draw(st.integers(0, 9)) else draw(st.text(max_size=50)).encode()
    masked = draw(st.integers(0, 9)) > 0
    length = len(payload)
    encoding = draw(st.sampled_from(["short", "16", "64", "lie"]))
    if encoding == "lie":
        header = struct.pack("!BBQ", first, (0x80 if masked else 0) | 127, draw(st.integers(0, 2**64 - 1)))
    elif encoding == "64" or length > 0xFFFF:
        header = struct.pack("!BBQ", first, (0x80 if masked else 0) | 127, length)
    elif encoding == "16" or length >= 126:
        header = struct.pack("!BBH", first, (0x80 if masked else 0) | 126, length)
    else:
        header = bytes((first, (0x80 if masked else 0) | length))
    mask = draw(st.binary(min_size=4, max_size=4)) if masked else b""
    return header + mask + payload


def parse(chunks: list[bytes]) -> tuple[list[Message], str | None]:
    """Feed chunks; return the messages and the close code of the ``FrameError`` that ended parsing, if any."""
    parser = FrameParser(MAX_MESSAGE)
    messages: list[Message] = []
    try:
        for chunk in chunks:
            messages.extend(parser.feed(chunk))
    except FrameError as error:
        return messages, f"{int(error.code)}"
    return messages, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_frame_parser_raises_only_frame_error_on_random_bytes(chunks: list[bytes]) -> None:
    parse(chunks)


@FUZZ
@given(st.lists(frames(), min_size=1, max_size=6), st.lists(st.integers(0, 10_000), max_size=6))
def test_frame_parser_outcome_does_not_depend_on_how_the_bytes_are_split(frames: list[bytes], cuts: list[int]) -> None:
    data = b"".join(frames)
    whole = parse([data])
    pieces = parse(split(data, cuts))
    finest = parse([bytes([byte]) for byte in data])
    # The verdict never changes. Messages completed in the same feed as a violation are not returned (the feed
    # raises), so a coarser split may deliver fewer of them, never others.
    assert whole[1] == pieces[1] == finest[1]
    if whole[1] is None:
        assert whole[0] == pieces[0] == finest[0]
    assert finest[0][: len(pieces[0])] == pieces[0] and finest[0][: len(whole[0])] == whole[0]
    messages, _ = finest
    for message in messages:
        assert len(message.data) <= MAX_MESSAGE or message.opcode >= 0x8
        if message.text is not None:
            assert message.text.encode() == message.data


# -- HTTP API signatures ---------------------------------------------------------------------------------------

APP = AppConfig(id="1", key="key", secret="secret")
AUTH_KEYS = ["auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5"]
any_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=40)  # surrogates included
query_values = st.sampled_from(["key", "1.0", "0", "-1", "1e9", "١٢", "NaN", " 5", "9" * 5000]) | any_text
queries = st.dictionaries(st.sampled_from(AUTH_KEYS) | any_text, query_values, max_size=8)
clocks = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@FUZZ
@given(queries, st.binary(max_size=64), clocks, st.sampled_from(["GET", "POST", "", "\ud800"]), any_text)
def test_verify_signature_raises_only_api_error(
    query: dict[str, str], body: bytes, now: float, method: str, path: str
) -> None:
    try:
        verify_signature(APP, method, path, query, body, now)
    except ApiError as error:
        assert error.status == 401 and error.message


@FUZZ
@given(st.dictionaries(any_text.filter(lambda k: k.lower() not in AUTH_KEYS), any_text, max_size=5), st.binary())
def test_request_signed_with_the_secret_passes_whatever_its_parameters(extra: dict[str, str], body: bytes) -> None:
    now = 1_700_000_000
    query = signing.signed_query(APP.key, APP.secret, "POST", "/apps/1/events", timestamp=now, body=body, params=extra)
    verify_signature(APP, "POST", "/apps/1/events", query, body, now + 599)


# -- the connection state machine under rate limits --------------------------------------------------------------

LIMITED = AppConfig(id="1", key="key", secret="secret", max_messages_per_second=8, max_client_events_per_second=3)
SOCKET_ID = "1.2"
CHANNELS = ["news", "private-chat", "presence-room", "private-encrypted-x", "#server-to-user-u1", "Private-x", ""]


def subscribe(channel: str, signed: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"channel": channel}
    if channel.startswith("presence-"):
        data["channel_data"] = '{"user_id":"u1"}'
    if signed:
        data["auth"] = signing.sign_channel(LIMITED.key, LIMITED.secret, SOCKET_ID, channel, data.get("channel_data"))
    return {"event": "pusher:subscribe", "data": data}


operations = st.one_of(
    st.builds(subscribe, st.sampled_from(CHANNELS), st.booleans()),
    st.builds(lambda c: {"event": "pusher:unsubscribe", "data": {"channel": c}}, st.sampled_from(CHANNELS)),
    st.builds(lambda c: {"event": "client-x", "channel": c, "data": {"a": 1}}, st.sampled_from(CHANNELS)),
    st.just({"event": "pusher:ping", "data": {}}),
    st.builds(
        lambda d: {"event": "pusher:signin", "data": d}, st.dictionaries(st.text(max_size=5), st.text(), max_size=2)
    ),
)
steps = st.lists(st.tuples(operations, st.floats(min_value=0, max_value=0.6)), min_size=1, max_size=40)


@FUZZ
@given(steps)
def test_rate_limited_connection_raises_only_protocol_errors_and_the_limits_hold(
    sequence: list[tuple[dict[str, Any], float]],
) -> None:
    connection = Connection(SOCKET_ID, LIMITED)
    now = 1000.0
    counted: list[float] = []  # every message is counted against the message limit first
    accepted: list[float] = []
    client_events_counted: list[float] = []  # client events that reached the client-event limit
    relayed: list[float] = []
    for message, elapsed in sequence:
        now += elapsed
        counted.append(now)
        try:
            actions = connection.receive_text(json.dumps(message), now)
        except ProtocolError as error:
            assert error.message
            if error.code is not None and int(error.code) == 4100:
                assert error.close
                return
            if "client events per second" in error.message:
                client_events_counted.append(now)
            continue
        accepted.append(now)
        for action in actions:
            if isinstance(action, Relay):
                relayed.append(now)
                client_events_counted.append(now)
    assert_within_windows(counted, accepted, LIMITED.max_messages_per_second)
    assert_within_windows(client_events_counted, relayed, LIMITED.max_client_events_per_second)


def assert_within_windows(counted: list[float], allowed: list[float], limit: int) -> None:
    """At most ``limit`` of ``allowed`` in each one-second window, a window opening at the first counted event at
    least a second after the previous one opened (``RateWindow``'s rule; a sliding second may hold more)."""
    opened_at = float("-inf")
    windows: list[float] = []
    for when in counted:
        if when - opened_at >= 1.0:
            opened_at = when
            windows.append(when)
    for start in windows:
        assert sum(1 for t in allowed if start <= t < start + 1.0) <= limit, (start, allowed)
