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
    split_target,
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
        data = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" + GET_UP
        head = head_of(data)
        assert data[head.length : head.length + 2] == b"{}"

    def test_a_head_without_headers_is_complete(self) -> None:
        head = head_of(b"GET / HTTP/1.0\r\n\r\n")
        assert head.headers == {} and head.version == "HTTP/1.0"

    def test_header_values_are_stripped_of_spaces_and_tabs_and_a_repeated_name_joins_its_values(self) -> None:
        head = head_of(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \t one \r\nx-a:two\t\r\n\r\n")
        assert head.headers == {"host": "x", "x-a": "one, two"}

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
        extra = "Host: x\r\n" + (f"Connection: {connection}\r\n" if connection else "")
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

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param(b"GET /a\x01b HTTP/1.1", id="control-byte-in-target"),
            pytest.param(b"GET /a\x7fb HTTP/1.1", id="delete-in-target"),
            pytest.param(b"GET /caf\xc3\xa9 HTTP/1.1", id="non-ascii-target"),
            pytest.param(b"GET / HTTP/1.2", id="unknown-version"),
            pytest.param(b"GET / HTTP/3.0", id="version-3"),
            pytest.param(b"GET\t/ HTTP/1.1", id="tab-for-space"),
            pytest.param(b"GET /  HTTP/1.1", id="two-spaces-before-version"),
            pytest.param(b"G@T / HTTP/1.1", id="method-not-a-token"),
        ],
    )
    def test_a_complete_line_with_a_bad_part_is_refused(self, line: bytes) -> None:
        assert refusal_of(line + b"\r\nHost: x\r\n\r\n").status == 400

    @settings(max_examples=300, database=None, deadline=None)
    @given(st.binary(max_size=600))
    def test_random_bytes_get_one_of_the_three_answers_and_nothing_else(self, data: bytes) -> None:
        assert isinstance(parse_head(data), Head | Refusal | NeedMore)


class TestRequestTarget:
    """A target is a path, ``*`` for OPTIONS, or an absolute URL naming a host (RFC 9112 §3.2), as aiohttp takes."""

    @pytest.mark.parametrize(
        ("method", "target"),
        [
            pytest.param("GET", "/app/k?protocol=7", id="path"),
            pytest.param("GET", "//[", id="path-starting-with-two-slashes"),
            pytest.param("OPTIONS", "*", id="asterisk-for-options"),
            pytest.param("GET", "http://example.com/up?x=1", id="absolute-url"),
        ],
    )
    def test_the_forms_aiohttp_takes_are_taken(self, method: str, target: str) -> None:
        assert head_of(f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()).target == target

    @pytest.mark.parametrize(
        "target",
        [
            pytest.param("*", id="asterisk-for-get"),
            pytest.param("x", id="no-slash"),
            pytest.param("http:/x", id="absolute-url-without-host"),
            pytest.param("http://[", id="absolute-url-with-a-broken-host"),
            pytest.param("http://x#f", id="fragment-right-after-the-host"),
        ],
    )
    def test_other_targets_are_refused(self, target: str) -> None:
        refusal = refusal_of(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert refusal == Refusal(status=400, message="invalid request target")

    def test_connect_is_refused_as_not_implemented(self) -> None:
        refusal = refusal_of(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert refusal.status == 501 and "not a proxy" in refusal.message

    def test_split_target_keeps_a_double_slash_path_a_path_and_drops_the_fragment(self) -> None:
        assert split_target("//x/apps/1/events?a=b#f") == ("//x/apps/1/events", "a=b")
        assert split_target("/a#f?not-a-query") == ("/a", "")


class TestHost:
    def test_an_http_1_1_request_without_host_is_refused(self) -> None:
        assert refusal_of(b"GET /app/k HTTP/1.1\r\n\r\n") == Refusal(
            status=400, message="an HTTP/1.1 request needs a Host header"
        )

    def test_an_http_1_0_request_may_leave_host_out(self) -> None:
        assert head_of(b"GET / HTTP/1.0\r\n\r\n").headers == {}

    def test_two_host_headers_are_refused(self) -> None:
        refusal = refusal_of(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n")
        assert refusal == Refusal(status=400, message="repeated host header")


def post_with(*lines: bytes) -> bytes:
    return b"POST /apps/4242/events HTTP/1.1\r\nHost: x\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


class TestContentLength:
    """The body is read with the one length a proxy in front would read (RFC 9112 §6.3), or not at all."""

    @pytest.mark.parametrize(("text", "length"), [(b"0", 0), (b"42", 42), (b"007", 7), (b" 5 \t", 5)])
    def test_one_length_of_ascii_digits_is_the_body_length(self, text: bytes, length: int) -> None:
        head = head_of(post_with(b"Content-Length:" + text))
        assert (head.content_length, head.chunked) == (length, False)

    def test_no_content_length_means_no_declared_length(self) -> None:
        assert head_of(post_with()).content_length is None

    def test_eighteen_digits_are_taken(self) -> None:
        assert head_of(post_with(b"Content-Length: " + b"9" * 18)).content_length == 10**18 - 1

    @pytest.mark.parametrize(
        "lines",
        [
            pytest.param((b"Content-Length: 5", b"Content-Length: 5"), id="repeated-same-value"),
            pytest.param((b"Content-Length: 5", b"Content-Length: 6"), id="conflicting"),
            pytest.param((b"Content-Length: 5", b"content-length: 6"), id="conflicting-other-case"),
        ],
    )
    def test_a_second_content_length_is_refused(self, lines: tuple[bytes, ...]) -> None:
        assert refusal_of(post_with(*lines)) == Refusal(status=400, message="repeated content-length header")

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("٥".encode(), id="arabic-indic-digit"),
            pytest.param("５".encode(), id="fullwidth-digit"),
            pytest.param("²".encode(), id="superscript-two"),
            pytest.param(b"+5", id="plus-sign"),
            pytest.param(b"-5", id="minus-sign"),
            pytest.param(b"5 5", id="space-inside"),
            pytest.param(b"5\t5", id="tab-inside"),
            pytest.param(b"5,5", id="list"),
            pytest.param(b"", id="empty"),
            pytest.param(b"0x5", id="hex"),
            pytest.param(b"1_0", id="underscore"),
            pytest.param(b"9" * 19, id="nineteen-digits"),
            pytest.param(b"9" * 5000, id="absurdly-long"),
        ],
    )
    def test_a_length_that_is_not_1_to_18_ascii_digits_is_refused(self, text: bytes) -> None:
        refusal = refusal_of(post_with(b"Content-Length: " + text))
        assert refusal == Refusal(status=400, message="Content-Length must be 1 to 18 ASCII digits")

    @pytest.mark.parametrize(
        "lines",
        [
            pytest.param((b"Content-Length: 5", b"Transfer-Encoding: chunked"), id="length-first"),
            pytest.param((b"Transfer-Encoding: chunked", b"Content-Length: 5"), id="coding-first"),
        ],
    )
    def test_content_length_with_transfer_encoding_is_refused(self, lines: tuple[bytes, ...]) -> None:
        refusal = refusal_of(post_with(*lines))
        assert refusal == Refusal(status=400, message="Content-Length and Transfer-Encoding together")


class TestTransferEncoding:
    @pytest.mark.parametrize("coding", [b"chunked", b"Chunked", b"gzip, chunked", b"gzip,chunked  "])
    def test_a_coding_list_ending_in_chunked_is_a_chunked_body(self, coding: bytes) -> None:
        head = head_of(post_with(b"Transfer-Encoding: " + coding))
        assert (head.chunked, head.content_length) == (True, None)

    @pytest.mark.parametrize(
        "coding",
        [
            pytest.param(b"gzip", id="not-chunked"),
            pytest.param(b"chunked, gzip", id="chunked-not-last"),
            pytest.param(b"chunked, chunked", id="chunked-twice"),
            pytest.param(b"", id="empty"),
            pytest.param(b"chunked;q=1", id="with-a-parameter"),
            pytest.param(b"chunked\t", id="tab-after-chunked"),
        ],
    )
    def test_anything_else_is_refused(self, coding: bytes) -> None:
        refusal = refusal_of(post_with(b"Transfer-Encoding: " + coding))
        assert refusal.status == 400 and refusal.message.startswith("Transfer-Encoding must end with chunked")

    def test_a_second_transfer_encoding_header_is_refused(self) -> None:
        refusal = refusal_of(post_with(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"))
        assert refusal == Refusal(status=400, message="repeated transfer-encoding header")


class TestHeaderLines:
    @pytest.mark.parametrize(
        ("line", "message"),
        [
            pytest.param(b"Content-Length : 5", "whitespace between a header name and its colon", id="space-colon"),
            pytest.param(b"Host\t: x", "whitespace between a header name and its colon", id="tab-colon"),
            pytest.param(b"X-A b: 1", "invalid character in a header name", id="space-in-name"),
            pytest.param(b"X{}: 1", "invalid character in a header name", id="brace-in-name"),
            pytest.param(b"N\xe4me: 1", "invalid character in a header name", id="non-ascii-name"),
            pytest.param(b": 1", "a header line without a name", id="empty-name"),
            pytest.param(b"no colon", "a header line without a colon", id="no-colon"),
            pytest.param(b" X-A: 1", "a header line starts with whitespace (obsolete line folding)", id="fold-sp"),
            pytest.param(b"\tX-A: 1", "a header line starts with whitespace (obsolete line folding)", id="fold-tab"),
        ],
    )
    def test_a_malformed_header_line_is_refused_saying_why(self, line: bytes, message: str) -> None:
        assert refusal_of(post_with(b"X-First: 1", line)) == Refusal(status=400, message=message)

    def test_a_folded_continuation_of_a_value_is_refused(self) -> None:
        refusal = refusal_of(b"GET /app/k HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n")
        assert refusal.message == "a header line starts with whitespace (obsolete line folding)"

    @pytest.mark.parametrize("byte", [0x00, 0x01, 0x08, 0x0B, 0x0C, 0x1F, 0x7F])
    def test_a_control_character_in_a_value_is_refused(self, byte: int) -> None:
        refusal = refusal_of(post_with(b"X-A: a" + bytes((byte,)) + b"b"))
        assert refusal == Refusal(status=400, message="control character in a header value")

    def test_tabs_and_bytes_above_ascii_are_allowed_in_a_value(self) -> None:
        assert head_of(post_with(b"X-A: a\tb \xe9\xff")).headers["x-a"] == "a\tb \xe9\xff"

    def test_a_name_sent_twice_has_its_values_joined_in_order(self) -> None:
        head = head_of(post_with(b"Connection: keep-alive", b"connection: Upgrade"))
        assert head.headers["connection"] == "keep-alive, Upgrade"

    @pytest.mark.parametrize("name", [b"Content-Type", b"User-Agent", b"ETag", b"Max-Forwards"])
    def test_a_second_line_of_a_field_that_may_appear_once_is_refused(self, name: bytes) -> None:
        refusal = refusal_of(post_with(name + b": a", name + b": b"))
        assert refusal == Refusal(status=400, message=f"repeated {name.decode().lower()} header")

    def test_the_handshake_before_rfc_6455_is_refused(self) -> None:
        assert refusal_of(post_with(b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5")).status == 400


class TestLineEnds:
    """Every line of a head ends in CRLF (RFC 9112 §2.2); a bare CR or LF is refused as soon as it is seen."""

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(b"GET / HTTP/1.1\r\nHost: x\n", id="lf-after-a-header"),
            pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\n", id="lf-for-the-blank-line"),
            pytest.param(b"GET / HTTP/1.1\r\nHost: x\ry: z\r\n", id="cr-inside-a-value"),
            pytest.param(b"GET / HTTP/1.1\r\nHost: x\nX-Smuggled: y\r\n", id="lf-inside-a-value"),
            pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\r\n", id="cr-cr-lf"),
        ],
    )
    def test_a_bare_cr_or_lf_is_refused_before_the_head_ends(self, data: bytes) -> None:
        refusal = refusal_of(data)
        assert refusal == Refusal(status=400, message="a bare CR or LF in the request head: every line ends with CRLF")

    def test_a_head_with_lf_line_ends_only_is_refused(self) -> None:
        assert refusal_of(b"GET /app/k HTTP/1.1\nHost: x\n\n").status == 400

    def test_a_cr_that_is_the_last_byte_so_far_waits_for_its_lf(self) -> None:
        assert parse_head(b"GET / HTTP/1.1\r\nHost: x\r") is NEED_MORE
        assert parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r") is NEED_MORE


class TestLimits:
    def test_a_request_line_at_the_limit_is_accepted(self) -> None:
        line = b"GET /" + b"a" * (MAX_REQUEST_LINE_BYTES - len(b"GET / HTTP/1.0")) + b" HTTP/1.0"
        assert len(line) == MAX_REQUEST_LINE_BYTES
        assert isinstance(parse_head(line + b"\r\n\r\n"), Head)  # HTTP/1.0: no Host, which would not fit

    def test_a_request_line_over_the_limit_gets_414_before_its_end_arrives(self) -> None:
        assert refusal_of(b"GET /" + b"a" * MAX_REQUEST_LINE_BYTES).status == 414

    def test_a_head_over_the_limit_gets_431_before_its_end_arrives(self) -> None:
        refusal = refusal_of(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MAX_HEAD_BYTES)
        assert (refusal.status, refusal.message) == (431, "request head too large")

    def test_as_many_headers_as_allowed_are_accepted_and_one_more_gets_431(self) -> None:
        def request(count: int) -> bytes:
            return b"GET / HTTP/1.0\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(count)) + b"\r\n"

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
            pytest.param({"sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ!!"}, id="key-not-base64"),
            pytest.param({"sec-websocket-key": "dGhlIHNhbXBsZSBub25j\udcff\udcff=="}, id="key-not-ascii"),
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


class TestUpgradeWithABody:
    """The bytes after an upgrade's head are WebSocket frames: a head that declares a body is refused, or a proxy
    that forwards the body and pusherpy that reads frames would disagree about what the client sent."""

    HEADERS = TestWebSocketUpgrade.HEADERS

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param({"content-length": "5"}, id="content-length"),
            pytest.param({"transfer-encoding": "chunked"}, id="chunked"),
        ],
    )
    def test_an_upgrade_that_declares_a_body_gets_400(self, change: dict[str, str]) -> None:
        refusal = websocket_upgrade("GET", "/app/k", {**self.HEADERS, **change})
        assert refusal == Refusal(status=400, message="a WebSocket upgrade request has no body")

    def test_a_zero_content_length_is_no_body(self) -> None:
        upgrade = websocket_upgrade("GET", "/app/k", {**self.HEADERS, "content-length": "00"})
        assert isinstance(upgrade, WebSocketUpgrade)

    def test_two_origin_lines_are_one_origin_no_app_allows(self) -> None:
        head = head_of(
            b"GET /app/k HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Origin: https://evil.example\r\nOrigin: https://good.example\r\n\r\n"
        )
        upgrade = websocket_upgrade(head.method, head.target, head.headers)
        assert isinstance(upgrade, WebSocketUpgrade)
        assert upgrade.origin == "https://evil.example, https://good.example"
