"""Request heads, without sockets: ``parse_head`` answers a complete head, a refusal, or "need more", and
``websocket_upgrade`` decides whether a head opens a Pusher socket (RFC 6455 §4.2.1). Like h11's tests, bytes go
in and typed values come out; the listener's socket tests (tests/hardening/test_http_limits.py) cover the rest."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from pusherpy.server.http_head import (
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    MAX_REQUEST_LINE_BYTES,
    NEED_MORE,
    Head,
    NeedMore,
    Refusal,
    WebSocketUpgrade,
    accept_key,
    parse_head,
    query_pairs,
    websocket_upgrade,
)

GET_UP = b"GET /up HTTP/1.1\r\nHost: example.com\r\n\r\n"
TLS_CLIENT_HELLO = bytes.fromhex("16030100f4010000f00303") + bytes(32)


def head_of(data: bytes) -> Head:
    result = parse_head(data)
    assert isinstance(result, Head), result
    return result


def refusal_of(data: bytes) -> Refusal:
    result = parse_head(data)
    assert isinstance(result, Refusal), result
    return result


class TestCompleteHead:
    def test_request_line_and_headers_are_read_with_lower_cased_names(self) -> None:
        head = head_of(b"POST /apps/1/events?a=b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        assert (head.method, head.target, head.version) == ("POST", "/apps/1/events?a=b", "HTTP/1.1")
        assert head.headers == {"host": "x", "content-length": "2"}

    def test_length_points_at_the_body_and_what_follows_is_left_alone(self) -> None:
        data = b"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}" + GET_UP
        head = head_of(data)
        assert data[head.length : head.length + 2] == b"{}"

    def test_a_head_without_headers_is_complete(self) -> None:
        head = head_of(b"GET / HTTP/1.0\r\n\r\n")
        assert head.headers == {} and head.version == "HTTP/1.0"

    def test_header_values_are_stripped_and_a_repeated_name_keeps_its_last_value(self) -> None:
        head = head_of(b"GET / HTTP/1.1\r\nX-A:  one \r\nx-a:two\r\n\r\n")
        assert head.headers == {"x-a": "two"}

    def test_blank_lines_before_the_request_line_are_skipped(self) -> None:
        head = head_of(b"\r\n\r\n" + GET_UP)
        assert head.target == "/up"
        assert head.length == 4 + len(GET_UP)

    def test_every_byte_of_a_valid_head_before_its_end_asks_for_more(self) -> None:
        for cut in range(len(GET_UP)):
            assert parse_head(GET_UP[:cut]) is NEED_MORE, GET_UP[:cut]
        assert isinstance(parse_head(GET_UP), Head)

    def test_a_bytearray_buffer_parses_like_bytes(self) -> None:
        assert head_of(bytearray(GET_UP)) == head_of(GET_UP)


class TestKeepAlive:
    @pytest.mark.parametrize(
        ("version", "connection", "keeps_alive"),
        [
            ("HTTP/1.1", None, True),
            ("HTTP/1.1", "close", False),
            ("HTTP/1.1", "Keep-Alive, Close", False),
            ("HTTP/1.0", None, False),
            ("HTTP/1.0", "keep-alive", True),
        ],
    )
    def test_http_1_1_keeps_alive_unless_closed_and_http_1_0_only_when_asked(
        self, version: str, connection: str | None, keeps_alive: bool
    ) -> None:
        extra = f"Connection: {connection}\r\n" if connection else ""
        assert head_of(f"GET / {version}\r\n{extra}\r\n".encode()).keeps_alive is keeps_alive


class TestNotHttp:
    """Bytes that can never become a request line are refused with 400 as soon as they are seen."""

    def test_a_tls_client_hello_is_refused_at_its_first_byte_with_a_hint(self) -> None:
        for data in (TLS_CLIENT_HELLO[:1], TLS_CLIENT_HELLO):
            refusal = refusal_of(data)
            assert refusal.status == 400
            assert "TLS" in refusal.message and "http://" in refusal.message

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(b"\x00\x01\x02", id="binary"),
            pytest.param(b"GE\xffT", id="non-token-byte-in-method"),
            pytest.param(b'{"event":', id="json"),
            pytest.param(b" GET / HTTP/1.1", id="leading-space"),
            pytest.param(b"GET  /", id="two-spaces"),
            pytest.param(b"GET /a\x01", id="control-byte-in-target"),
            pytest.param(b"GET / HTTX", id="not-http-version"),
            pytest.param(b"GET / HTTP/1.1 ", id="space-after-version"),
            pytest.param(b"GET / HTTP/1.1\n", id="bare-line-feed"),
        ],
    )
    def test_a_partial_line_that_cannot_become_http_is_refused_before_its_line_end(self, data: bytes) -> None:
        refusal = refusal_of(data)
        assert refusal.status == 400
        assert "HTTP request line" in refusal.message

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param(b"GET /", id="no-version"),
            pytest.param(b"GET", id="method-only"),
            pytest.param(b"GET / HTTP/1", id="short-version"),
            pytest.param(b"GET / HTTP/1.1 extra", id="four-parts"),
            pytest.param(b"hello world", id="two-words"),
        ],
    )
    def test_a_complete_line_that_is_not_method_target_version_is_refused(self, line: bytes) -> None:
        assert refusal_of(line + b"\r\nHost: x\r\n\r\n").status == 400

    def test_a_header_line_without_a_colon_is_refused(self) -> None:
        refusal = refusal_of(b"GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n")
        assert refusal == Refusal(status=400, message="malformed header line")

    @settings(max_examples=300, database=None, deadline=None)
    @given(st.binary(max_size=600))
    def test_random_bytes_get_one_of_the_three_answers_and_nothing_else(self, data: bytes) -> None:
        assert isinstance(parse_head(data), Head | Refusal | NeedMore)


class TestLimits:
    def test_a_request_line_at_the_limit_is_accepted(self) -> None:
        line = b"GET /" + b"a" * (MAX_REQUEST_LINE_BYTES - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
        assert len(line) == MAX_REQUEST_LINE_BYTES
        assert isinstance(parse_head(line + b"\r\n\r\n"), Head)

    def test_a_request_line_over_the_limit_gets_414_before_its_end_arrives(self) -> None:
        assert refusal_of(b"GET /" + b"a" * MAX_REQUEST_LINE_BYTES).status == 414

    def test_a_head_over_the_limit_gets_431_before_its_end_arrives(self) -> None:
        refusal = refusal_of(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * MAX_HEAD_BYTES)
        assert (refusal.status, refusal.message) == (431, "request head too large")

    def test_as_many_headers_as_allowed_are_accepted_and_one_more_gets_431(self) -> None:
        def request(count: int) -> bytes:
            return b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(count)) + b"\r\n"

        assert len(head_of(request(MAX_HEADERS)).headers) == MAX_HEADERS
        assert refusal_of(request(MAX_HEADERS + 1)) == Refusal(status=431, message="too many headers")


class TestWebSocketUpgrade:
    KEY = "dGhlIHNhbXBsZSBub25jZQ=="
    HEADERS = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": KEY,
        "sec-websocket-version": "13",
    }

    def test_the_accept_key_is_the_one_in_rfc_6455(self) -> None:
        assert accept_key(self.KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    def test_a_valid_upgrade_names_the_app_key_query_and_origin(self) -> None:
        headers = {**self.HEADERS, "origin": "https://example.com"}
        upgrade = websocket_upgrade("GET", "/app/my%20key?protocol=7&client=js", headers)
        assert upgrade == WebSocketUpgrade(
            app_key="my key",
            query={"protocol": "7", "client": "js"},
            accept="s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            origin="https://example.com",
        )

    def test_header_names_are_matched_whatever_their_case(self) -> None:
        headers = CIMultiDict(
            {
                "Upgrade": "WebSocket",
                "Connection": "keep-alive, Upgrade",
                "Sec-WebSocket-Key": self.KEY,
                "Sec-WebSocket-Version": "13",
            }
        )
        assert isinstance(websocket_upgrade("GET", "/app/k", headers), WebSocketUpgrade)

    @pytest.mark.parametrize(
        ("method", "target", "headers"),
        [
            pytest.param("POST", "/app/k", HEADERS, id="not-get"),
            pytest.param("GET", "/apps/1/channels", HEADERS, id="other-path"),
            pytest.param("GET", "/app/k", {**HEADERS, "upgrade": "h2c"}, id="other-upgrade"),
            pytest.param("GET", "/app/k", {"host": "x"}, id="plain-get"),
        ],
    )
    def test_a_request_that_is_not_a_websocket_upgrade_to_app_is_left_to_the_routes(
        self, method: str, target: str, headers: dict[str, str]
    ) -> None:
        assert websocket_upgrade(method, target, headers) is None

    def test_a_version_other_than_13_gets_426_naming_13(self) -> None:
        refusal = websocket_upgrade("GET", "/app/k", {**self.HEADERS, "sec-websocket-version": "8"})
        assert refusal == Refusal(
            status=426, message="WebSocket version 13 required", headers=(("Sec-WebSocket-Version", "13"),)
        )

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param({"sec-websocket-key": "short"}, id="key-not-16-bytes"),
            pytest.param({"connection": "keep-alive"}, id="connection-without-upgrade"),
        ],
    )
    def test_a_broken_handshake_gets_400(self, change: dict[str, str]) -> None:
        refusal = websocket_upgrade("GET", "/app/k", {**self.HEADERS, **change})
        assert refusal == Refusal(status=400, message="invalid WebSocket upgrade request")


class TestQuery:
    @settings(max_examples=500, database=None, deadline=None)
    @given(st.text(alphabet="ab=&%+2 ;", max_size=30), st.booleans())
    def test_query_pairs_are_what_parse_qsl_gives(self, text: str, keep_blank_values: bool) -> None:
        assert query_pairs(text, keep_blank_values=keep_blank_values) == parse_qsl(
            text, keep_blank_values=keep_blank_values
        )
