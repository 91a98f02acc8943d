"""``parse_head`` against aiohttp's own request parsers: the same bytes go to both, and whatever aiohttp refuses,
``parse_head`` refuses too. The listener serves upgrades and publishes without aiohttp on the port where aiohttp
serves everything else, so a request that aiohttp would refuse must never be served by the listener (the issue:
request smuggling, a body read with another length than a proxy in front would use).

The heads are generated: well-formed ones and mutations (repeated or odd ``Content-Length``, ``Transfer-Encoding``
with it, whitespace before a colon, obsolete line folding, control bytes, odd request lines, bare LF line ends).
Where the two parsers part ways on purpose, the exception is written down here, with its reason, and asserted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import http_parser
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pusherpy.server.http_fields import MAX_CONTENT_LENGTH_DIGITS
from pusherpy.server.http_head import Head, Refusal, parse_head

PARSERS: dict[str, Any] = {"python": http_parser.HttpRequestParserPy}
if hasattr(http_parser, "HttpRequestParserC"):  # aiohttp's C parser (llhttp), the one it serves with when built
    PARSERS["c"] = http_parser.HttpRequestParserC
SERVED_BY_THE_LISTENER = frozenset({"GET", "POST"})
FUZZ = settings(
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class _Protocol:
    """What aiohttp's parsers call on their protocol while reading a head: nothing that matters here."""

    transport = None

    def pause_reading(self) -> None: ...

    def resume_reading(self, **_: object) -> None: ...


@dataclass(frozen=True)
class Verdict:
    """What one aiohttp parser made of the bytes: a message, a refusal, or neither (it waits for more)."""

    message: Any = None
    refusal: BaseException | None = None

    @property
    def accepted(self) -> bool:
        return self.message is not None


_LOOP = asyncio.new_event_loop()
"""Never run: aiohttp's parsers hand it to a body's reader, which would wait on it (nothing waits here)."""


@pytest.fixture(scope="module", autouse=True)
def _close_the_loop() -> Iterator[None]:
    yield
    _LOOP.close()


def aiohttp_verdict(parser_class: Any, data: bytes) -> Verdict:
    """Feed ``data`` to a fresh aiohttp request parser, made with the limits aiohttp's server uses."""
    parser = parser_class(_Protocol(), _LOOP, 2**16, max_line_size=8190, max_field_size=8190, max_headers=128)
    try:
        messages, _, _ = parser.feed_data(data)
    except HttpProcessingError as error:
        return Verdict(refusal=error)
    except ValueError as error:  # aiohttp's server would not serve it either (nor catch it: a loop error)
        return Verdict(refusal=error)
    return Verdict(message=messages[0][0] if messages else None)


# -- what parse_head refuses that aiohttp accepts, on purpose ---------------------------------------------------


def _content_length_over_18_digits(head_bytes: bytes) -> bool:
    """aiohttp takes any number of digits (its C parser up to 2**64 - 2); pusherpy takes 18, so that the length
    is a cheap int and no body that large is ever waited for (a longer one is refused, not read)."""
    for line in head_bytes.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length" and len(value.strip(b" \t")) > MAX_CONTENT_LENGTH_DIGITS:
            return True
    return False


def _connect(head_bytes: bytes) -> bool:
    """aiohttp takes CONNECT (and then tunnels the connection); pusherpy is not a proxy and refuses it."""
    return head_bytes.lstrip(b"\r\n").upper().startswith(b"CONNECT ")


def _tab_after_chunked(head_bytes: bytes) -> bool:
    """aiohttp's C parser refuses a tab after the final ``chunked`` except on a request that asks for an upgrade
    (its Python parser takes it always); pusherpy refuses it always."""
    for line in head_bytes.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"transfer-encoding" and value.rstrip(b" ").endswith(b"\t"):
            return True
    return False


STRICTER_THAN_AIOHTTP = {
    "Content-Length over 18 digits": _content_length_over_18_digits,
    "CONNECT": _connect,
    "a tab after the final chunked": _tab_after_chunked,
}


def check_against_aiohttp(data: bytes) -> None:
    """Refused by any aiohttp parser: refused by ``parse_head`` (but for an unknown method). Accepted by every
    one: a ``Head`` with the same parts (but for ``STRICTER_THAN_AIOHTTP``). Otherwise: anything but a ``Head``."""
    ours = parse_head(data)
    verdicts = {name: aiohttp_verdict(parser, data) for name, parser in PARSERS.items()}
    if any(verdict.refusal is not None for verdict in verdicts.values()):
        if isinstance(ours, Head):
            _assert_only_an_unknown_method(ours, verdicts, data)
        return
    if not all(v.accepted for v in verdicts.values()):
        assert not isinstance(ours, Head), (ours, verdicts)
        return
    if not isinstance(ours, Head):
        assert isinstance(ours, Refusal), (ours, verdicts)
        reasons = [reason for reason, applies in STRICTER_THAN_AIOHTTP.items() if applies(data)]
        assert reasons, f"aiohttp accepts what parse_head refuses with {ours}"
        return
    _assert_same_head(ours, verdicts["python"].message, data)


def _assert_only_an_unknown_method(ours: Head, verdicts: dict[str, Verdict], data: bytes) -> None:
    """The one refusal of aiohttp's that ``parse_head`` does not share: a method aiohttp's C parser (llhttp)
    does not know. A method is any token (RFC 9110 §9.1), aiohttp's Python parser takes any, and the listener
    serves only GET and POST itself: every other method goes to aiohttp unread, which then refuses it. With a
    method it knows, the C parser must accept the same head: the method is all it minds."""
    assert verdicts["python"].accepted, (ours, verdicts)
    assert isinstance(verdicts["c"].refusal, BadHttpMethod), (ours, verdicts)
    assert ours.method not in SERVED_BY_THE_LISTENER, (ours, verdicts)
    at = data.index(ours.method.encode())
    known = data[:at] + b"PUT" + data[at + len(ours.method) :]
    assert aiohttp_verdict(PARSERS["c"], known).accepted, (known, verdicts)


def _assert_same_head(ours: Head, theirs: Any, data: bytes) -> None:
    assert ours.length == data.index(b"\r\n\r\n", data.index(b" ")) + 4  # the body starts after the blank line
    assert (ours.method.upper(), ours.target) == (theirs.method, theirs.path)
    assert ours.version == f"HTTP/{theirs.version.major}.{theirs.version.minor}"
    their_headers = {
        name.lower(): b", ".join(value.encode("utf-8", "surrogateescape") for value in theirs.headers.getall(name))
        for name in theirs.headers
    }
    assert {name: value.encode("latin-1") for name, value in ours.headers.items()} == their_headers
    length = theirs.headers.get("Content-Length")
    assert ours.content_length == (None if length is None else int(length))
    assert ours.chunked == bool(theirs.chunked)
    assert ours.keeps_alive is not theirs.should_close


# -- generated heads --------------------------------------------------------------------------------------------


@dataclass
class Line:
    """One header line, in pieces, so that a defect can change one piece."""

    name: bytes
    value: bytes
    before_colon: bytes = b""
    after_colon: bytes = b" "
    end: bytes = b"\r\n"
    raw: bytes | None = None
    """The whole line instead of the pieces (obsolete folding, no colon)."""

    def render(self) -> bytes:
        if self.raw is not None:
            return self.raw + self.end
        return self.name + self.before_colon + b":" + self.after_colon + self.value + self.end


@dataclass
class RequestHead:
    """A request head in pieces: well-formed until a defect changes a piece."""

    method: bytes
    target: bytes
    version: bytes
    lines: list[Line]
    leading: bytes = b""
    spaces: tuple[bytes, bytes] = (b" ", b" ")
    line_end: bytes = b"\r\n"

    def render(self) -> bytes:
        request_line = self.method + self.spaces[0] + self.target + self.spaces[1] + self.version + self.line_end
        return self.leading + request_line + b"".join(line.render() for line in self.lines) + b"\r\n"


GOOD_METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS"]
GOOD_TARGETS = [
    b"/",
    b"/app/test-key?protocol=7&client=js",
    b"/apps/4242/events?auth_key=k&auth_signature=s",
    b"/a%zz?q=%ff#frag",
    b"//x/apps/4242/events",
    b"http://example.com/up",
    b"http://u@x:80/apps/4242/events?x",
    b"http://[::1]/",
]
GOOD_FIELDS = {
    b"Content-Length": [b"0", b"5", b"05", b"000000000000000000"],
    b"Transfer-Encoding": [b"chunked", b"Chunked", b"gzip, chunked", b"gzip,chunked ", b", chunked", b"\xfc, chunked"],
    b"Connection": [b"close", b"keep-alive", b"Upgrade", b"keep-alive, Upgrade", b"closed", b"Close ,x"],
    b"Upgrade": [b"websocket", b"WebSocket", b"h2c"],
    b"Sec-WebSocket-Key": [b"dGhlIHNhbXBsZSBub25jZQ=="],
    b"Content-Type": [b"application/json", b""],
    b"X-Thing": [b"a", b"", b"a\tb", b"\x80\xa0\xff", b'!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'],
}
ODD_METHODS = [b"get", b"Post", b"BREW", b"G@T", b"G\x00T", b"", b"CONNECT", b"connect"]
ODD_TARGETS = [b"//[", b"*", b"http:/x", b"http://[", b"http://", b"h1tp://x/", b"http://x#f", b"http://x{/"]
ODD_TARGETS += [b"mailto://x", b"x:80", b"x", b"?", b"/\xff", b"/a\x01", b"/a\x7f", b""]
ODD_VERSIONS = [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2", b"HTTP/3.0", b"http/1.1", b"HTTP/1.10", b"HTTP/1", b""]
ODD_SPACES = [b"", b"  ", b"\t", b" \t"]
ODD_LINE_ENDS = [b"\n", b"\r", b"\r\r\n", b"\n\r", b" \r\n"]
ODD_CONTENT_LENGTHS = [b"+5", b"-5", b" 5 5", b"5,5", b"", b"\xd9\xa5", "５".encode(), b"0x5", b"1e3", b"5.0"]
ODD_CONTENT_LENGTHS += [b"1" * 19, b"18446744073709551615", b"1" * 30, b"\x005"]
ODD_TRANSFER_ENCODINGS = [b"gzip", b"chunked, gzip", b"", b"identity", b"chunked,chunked", b"Chunked, chunked"]
ODD_TRANSFER_ENCODINGS += [b"ch\xfcnked", b"chunked;q=1", b"chunked\x00"]
ODD_NAMES = [b"", b"Bad Name", b"Bad\x00", b"N\xe4me", b"X{}", b"X\x7f", b"Host\t", b" Host"]
ODD_VALUE_BYTES = [bytes((byte,)) for byte in b"\x00\x01\x08\x0b\x0c\x0d\x0a\x1f\x7f"]
ODD_LINES = [b" folded", b"\tfolded", b"no colon", b": no name", b":"]


def _defects(draw: st.DrawFn) -> dict[str, Any]:
    """Ways to spoil a head, each a function of (draw, head); most are what the issue names."""

    def some_line(head: RequestHead) -> Line:
        if not head.lines:
            head.lines.append(Line(b"X-Thing", b"a"))
        return draw(st.sampled_from(head.lines))

    def request_line(head: RequestHead) -> None:
        match draw(st.sampled_from(["method", "target", "version", "spaces", "line_end", "leading"])):
            case "method":
                head.method = draw(st.sampled_from(ODD_METHODS))
            case "target":
                head.target = draw(st.sampled_from(ODD_TARGETS))
            case "version":
                head.version = draw(st.sampled_from(ODD_VERSIONS))
            case "spaces":
                head.spaces = (draw(st.sampled_from([b" ", *ODD_SPACES])), draw(st.sampled_from([b" ", *ODD_SPACES])))
            case "line_end":
                head.line_end = draw(st.sampled_from(ODD_LINE_ENDS))
            case _:
                head.leading = draw(st.sampled_from([b"\r\n", b"\r\n\r\n", b"\n", b"\r", b" "]))

    def content_length(head: RequestHead) -> None:
        head.lines.append(Line(b"Content-Length", draw(st.sampled_from(ODD_CONTENT_LENGTHS))))

    def repeated(head: RequestHead) -> None:
        name = draw(st.sampled_from([b"Content-Length", b"content-length", b"Host", b"Transfer-Encoding", b"X-Thing"]))
        head.lines.append(Line(name, draw(st.sampled_from([b"5", b"6", b"chunked"]))))
        head.lines.append(Line(name.upper(), draw(st.sampled_from([b"5", b"6", b"chunked"]))))

    def transfer_encoding(head: RequestHead) -> None:
        head.lines.append(Line(b"Transfer-Encoding", draw(st.sampled_from(ODD_TRANSFER_ENCODINGS))))

    def length_and_chunked(head: RequestHead) -> None:
        head.lines += [Line(b"Content-Length", b"5"), Line(b"Transfer-Encoding", b"chunked")]
        if draw(st.booleans()):
            head.lines.reverse()

    def name(head: RequestHead) -> None:
        line = some_line(head)
        line.raw = None
        if draw(st.booleans()):
            line.before_colon = draw(st.sampled_from([b" ", b"\t", b"  "]))
        else:
            line.name = draw(st.sampled_from(ODD_NAMES))

    def value(head: RequestHead) -> None:
        line = some_line(head)
        at = draw(st.integers(0, len(line.value)))
        line.value = line.value[:at] + draw(st.sampled_from(ODD_VALUE_BYTES)) + line.value[at:]

    def odd_line(head: RequestHead) -> None:
        head.lines.insert(draw(st.integers(0, len(head.lines))), Line(b"", b"", raw=draw(st.sampled_from(ODD_LINES))))

    def line_end(head: RequestHead) -> None:
        some_line(head).end = draw(st.sampled_from(ODD_LINE_ENDS))

    def host(head: RequestHead) -> None:
        head.lines = [line for line in head.lines if line.name.lower() != b"host"]

    def hixie(head: RequestHead) -> None:
        head.lines.append(Line(b"Sec-WebSocket-Key1", b"4 @1  46546xW%0l 1 5"))

    return {
        "request line": request_line,
        "Content-Length": content_length,
        "repeated field": repeated,
        "Transfer-Encoding": transfer_encoding,
        "Content-Length and Transfer-Encoding": length_and_chunked,
        "header name": name,
        "header value": value,
        "obs-fold and other odd lines": odd_line,
        "header line end": line_end,
        "no Host": host,
        "Sec-WebSocket-Key1": hixie,
    }


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    """A well-formed head (method, target, version and fields drawn from valid ones), spoiled by up to three
    defects."""
    names = draw(st.lists(st.sampled_from(sorted(GOOD_FIELDS)), max_size=4, unique=True))
    lines = [Line(b"Host", b"example.com")] + [Line(n, draw(st.sampled_from(GOOD_FIELDS[n]))) for n in names]
    for line in lines:
        line.after_colon = draw(st.sampled_from([b" ", b"", b"\t", b"  "]))
        line.value += draw(st.sampled_from([b"", b"", b" ", b"\t"]))
    head = RequestHead(
        method=draw(st.sampled_from(GOOD_METHODS)),
        target=draw(st.sampled_from(GOOD_TARGETS)),
        version=draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"])),
        lines=draw(st.permutations(lines)),
    )
    defects = _defects(draw)
    for defect in draw(st.lists(st.sampled_from(sorted(defects)), max_size=3)):
        defects[defect](head)
    return head.render()


WELL_FORMED = (
    b"GET /app/test-key?protocol=7 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
ONE_BYTE = st.sampled_from([bytes((b,)) for b in b" \t\r\n:,\x00\x01\x7f\x80\xff/?#a0"])


@st.composite
def mutated_heads(draw: st.DrawFn) -> bytes:
    """A well-formed head with a few bytes inserted, replaced or deleted anywhere; cut after its first blank line
    (what follows it would be the next request's)."""
    data = bytearray(WELL_FORMED)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(["insert", "replace", "delete"])):
            case "insert":
                data[at:at] = draw(ONE_BYTE)
            case "replace":
                data[at : at + 1] = draw(ONE_BYTE)
            case _:
                del data[at]
    end = data.find(b"\r\n\r\n", data.find(b" "))
    return bytes(data if end < 0 else data[: end + 4])


class TestWhatAiohttpRefusesParseHeadRefuses:
    @FUZZ
    @given(heads())
    @example(b"POST /apps/4242/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
    @example(b"POST /apps/4242/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
    @example("POST /apps/4242/events HTTP/1.1\r\nHost: x\r\nContent-Length: ٥\r\n\r\n".encode())
    @example(b"GET /app/k HTTP/1.1\r\nHost : x\r\n\r\n")
    @example(b"GET /app/k HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n")
    @example(b"GET /app/k HTTP/1.1\nHost: x\n\n")
    def test_generated_heads(self, data: bytes) -> None:
        check_against_aiohttp(data)

    @FUZZ
    @given(mutated_heads())
    def test_mutations_of_a_well_formed_upgrade(self, data: bytes) -> None:
        check_against_aiohttp(data)


class TestTheHarness:
    """The comparison is only as good as its oracle: aiohttp must refuse the classic attack and take a plain
    upgrade, and its C parser must be in the comparison wherever aiohttp has it."""

    @pytest.mark.parametrize("parser", PARSERS)
    def test_aiohttp_refuses_two_content_lengths(self, parser: str) -> None:
        data = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        assert aiohttp_verdict(PARSERS[parser], data).refusal is not None

    @pytest.mark.parametrize("parser", PARSERS)
    def test_aiohttp_accepts_a_well_formed_upgrade(self, parser: str) -> None:
        assert aiohttp_verdict(PARSERS[parser], WELL_FORMED).accepted

    def test_the_c_parser_is_compared_when_aiohttp_has_it(self) -> None:
        if http_parser.NO_EXTENSIONS:
            pytest.skip("aiohttp runs without its C extensions here")
        assert "c" in PARSERS
