"""Request heads, sans I/O: ``parse_head(buffer)`` says whether the bytes so far are a complete head, a refusal,
or need more bytes; ``websocket_upgrade(...)`` says whether a head asks for a Pusher socket (RFC 6455 §4.2.1).

Nothing here performs I/O or keeps state, so the listener can call it again on each packet and a test can feed it
bytes directly. The limits hold however the bytes arrive: a head sent in one packet is measured like a trickled
one. Bytes that cannot become an HTTP request line (a TLS ClientHello on the plain port, binary garbage) are
refused as soon as they are seen, not when a line end or a deadline comes.

The listener serves what ``parse_head`` accepts without aiohttp, on the port where aiohttp serves everything else,
so every head aiohttp's parsers refuse is refused here too (tests/server/test_http_head_vs_aiohttp.py checks it
against both); the header-field rules, a body's length among them, are in ``http_fields``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, unquote

from yarl import URL

from .http_fields import TCHAR, FieldError, read_fields

MAX_REQUEST_LINE_BYTES: Final = 8190
"""The longest request line, CRLF excluded (aiohttp's and nginx's default)."""
MAX_HEAD_BYTES: Final = 8192
"""The longest head, its final blank line excluded."""
MAX_HEADERS: Final = 64

_TARGET_CHAR: Final = r"[\x21-\x7e]"
"""Visible ASCII: what a request target is made of (RFC 9112 §3.2; aiohttp's C parser refuses the rest)."""
_REQUEST_LINE: Final = re.compile(rf"({TCHAR}+) ({_TARGET_CHAR}+) (HTTP/(?:1\.[01]|2\.0|0\.9))".encode())
"""The versions are the ones aiohttp's C parser (llhttp) knows."""
_ABSOLUTE_FORM: Final = re.compile(r"[A-Za-z]+://[^/?\"#<>\\^`{|}]+(?:[/?].*)?")
"""A scheme, ``//`` and an authority, then a path or a query: an absolute-form target names a host (RFC 9110 §4.2),
and its scheme and authority hold no character that aiohttp's C parser refuses there."""
_REQUEST_LINE_START: Final = re.compile(
    rf"(?:{TCHAR}+(?: {_TARGET_CHAR}*(?: (?:H(?:T(?:T(?:P(?:/(?:[0-9](?:\.(?:[0-9]\r?)?)?)?)?)?)?)?)?)?)?)?".encode()
)
"""Every prefix of a request line: bytes that do not match can never become one."""
_BARE_CR_OR_LF: Final = re.compile(rb"\r(?!\n|\Z)|(?<!\r)\n")
"""A CR not followed by LF (unless it is the last byte so far), or an LF without its CR: every line of a head ends
in CRLF (RFC 9112 §2.2). Refused at once, as aiohttp does, rather than read as a line end that a proxy in front
may not agree with."""
_TLS_HANDSHAKE: Final = 0x16
_WEBSOCKET_KEY: Final = re.compile(r"[A-Za-z0-9+/]{22}==")
"""Sixteen bytes in base64 (RFC 6455 §4.2.1), nothing else: the key is hashed into the answer."""
_WEBSOCKET_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """A complete request head, within limits.

    Attributes:
        headers: names lower-cased; a name sent on several lines has its values joined with ", ".
        length: bytes from the start of the buffer to the first byte of the body (leading blank lines included).
        content_length: the body's declared length; None without ``Content-Length``.
        chunked: the body is sent chunked (then ``content_length`` is None).
    """

    method: str
    target: str
    version: str
    headers: Mapping[str, str]
    length: int
    content_length: int | None
    chunked: bool

    @property
    def keeps_alive(self) -> bool:
        """Whether the connection stays open after the answer (RFC 9112 §9.3): the ``Connection`` options
        decide, else HTTP/1.1 and later stay open."""
        options = {option.strip(" \t").lower() for option in self.headers.get("connection", "").split(",")}
        if "close" in options:
            return False
        return "keep-alive" in options or self.version > "HTTP/1.0"  # HTTP/x.y: one digit each, so text order works


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """The answer to a request that is refused before any handler runs: ``status`` with ``{"error": message}``."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class NeedMore:
    """The head is not complete yet and nothing is wrong so far: read more bytes, then parse again."""


NEED_MORE: Final = NeedMore()


def parse_head(buffer: bytes | bytearray) -> Head | Refusal | NeedMore:
    """Parse the request head at the start of ``buffer`` (which may hold the body and later requests too).

    Whatever aiohttp's request parser refuses is refused here too (it serves every other request on the same
    port, so a client must not find the listener looser); the head limits above are tighter than aiohttp's.

    Returns:
        the ``Head`` once it is complete (the body starts at ``head.length``), a ``Refusal`` as soon as the bytes
        cannot be a valid head within the limits (answer it and close), else ``NEED_MORE``.
    """
    start = 0
    while buffer.startswith(b"\r\n", start):  # blank lines before a request are ignored (RFC 9112 §2.2)
        start += 2
    line_end = buffer.find(b"\r\n", start, MAX_REQUEST_LINE_BYTES + 2)
    if line_end < 0:
        if buffer[start:] == b"\r":  # the first half of a blank line's CRLF
            return NEED_MORE
        if not _REQUEST_LINE_START.fullmatch(buffer, start, MAX_REQUEST_LINE_BYTES + 2):
            return _not_http(buffer, start)
        if len(buffer) >= MAX_REQUEST_LINE_BYTES + 2:
            return Refusal(status=414, message="request line too long")
        return NEED_MORE
    request_line = _REQUEST_LINE.fullmatch(buffer, start, line_end)
    if request_line is None:
        return _not_http(buffer, start)
    end = buffer.find(b"\r\n\r\n", line_end, MAX_HEAD_BYTES + 4)
    if _BARE_CR_OR_LF.search(buffer, line_end, len(buffer) if end < 0 else end + 4) is not None:
        return Refusal(status=400, message="a bare CR or LF in the request head: every line ends with CRLF")
    if end < 0:
        if len(buffer) >= MAX_HEAD_BYTES + 4:
            return Refusal(status=431, message="request head too large")
        return NEED_MORE
    method, target, version = (part.decode("latin-1") for part in request_line.groups())
    if method.upper() == "CONNECT":  # aiohttp would tunnel the connection
        return Refusal(status=501, message="CONNECT is not supported: pusherpy is not a proxy")
    if not is_valid_target(method, target):
        return Refusal(status=400, message="invalid request target")
    if buffer.count(b"\r\n", line_end, end + 2) - 1 > MAX_HEADERS:
        return Refusal(status=431, message="too many headers")
    fields = read_fields(bytes(buffer[line_end + 2 : end + 2]).decode("latin-1"))
    if isinstance(fields, FieldError):
        return Refusal(status=400, message=fields.message)
    if version == "HTTP/1.1" and "host" not in fields.headers:
        return Refusal(status=400, message="an HTTP/1.1 request needs a Host header")
    return Head(
        method=method,
        target=target,
        version=version,
        headers=fields.headers,
        length=end + 4,
        content_length=fields.content_length,
        chunked=fields.chunked,
    )


def is_valid_target(method: str, target: str) -> bool:
    """Whether ``target`` is a path (origin-form), ``*`` for OPTIONS, or an absolute URL naming a host
    (RFC 9112 §3.2), judged as aiohttp judges it: nearly every target is a path; the rare absolute URL is parsed
    with yarl, as aiohttp parses it. (CONNECT's authority-form is refused before: pusherpy is not a proxy.)
    """
    if target[0] == "/":
        return True
    if target == "*":
        return method.upper() == "OPTIONS"
    if _ABSOLUTE_FORM.fullmatch(target) is None:
        return False
    try:
        return URL(target, encoded=True).raw_host is not None
    except ValueError:
        return False


def split_target(target: str) -> tuple[str, str]:
    """The path and the query of an origin-form target, as aiohttp splits them (a fragment is dropped).

    Unlike ``urllib.parse.urlsplit``, a path that starts with ``//`` stays a path: it names no host and cannot
    make the split fail.
    """
    path, _, query = target.partition("#")[0].partition("?")
    return path, query


def _not_http(buffer: bytes | bytearray, start: int) -> Refusal:
    if buffer[start : start + 1] == bytes((_TLS_HANDSHAKE,)):
        return Refusal(status=400, message="a TLS handshake on a plain HTTP port: use http:// and ws://, not https://")
    return Refusal(status=400, message="not an HTTP request line (METHOD SP target SP HTTP/x.y)")


# -- WebSocket upgrades ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSocketUpgrade:
    """A valid opening handshake for ``/app/{key}``: answer 101 with ``accept``, then speak Pusher.

    Attributes:
        accept: the ``Sec-WebSocket-Accept`` value for the client's key (RFC 6455 §4.2.2).
    """

    app_key: str
    query: Mapping[str, str]
    accept: str
    origin: str | None


def websocket_upgrade(method: str, target: str, headers: Mapping[str, str]) -> WebSocketUpgrade | Refusal | None:
    """Check a request that may open a Pusher socket (RFC 6455 §4.2.1).

    Args:
        headers: looked up by lower-case name (a plain dict from ``parse_head``, or aiohttp's case-insensitive one).

    Returns:
        None when the request is not a WebSocket upgrade to ``/app/{key}`` (the HTTP routes answer it), a
        ``Refusal`` when it is one but broken, else the ``WebSocketUpgrade``. An upgrade that declares a body is
        broken: the bytes after its head are WebSocket frames, and a proxy in front that read them as a body
        would disagree with pusherpy about what the client sent.
    """
    if method != "GET" or not target.startswith("/app/") or headers.get("upgrade", "").lower() != "websocket":
        return None
    if "transfer-encoding" in headers or headers.get("content-length", "0").strip(" \t0"):
        return Refusal(status=400, message="a WebSocket upgrade request has no body")
    if headers.get("sec-websocket-version") != "13":
        return Refusal(status=426, message="WebSocket version 13 required", headers=(("Sec-WebSocket-Version", "13"),))
    key = headers.get("sec-websocket-key", "")
    if _WEBSOCKET_KEY.fullmatch(key) is None or "upgrade" not in headers.get("connection", "").lower():
        return Refusal(status=400, message="invalid WebSocket upgrade request")
    path, query = split_target(target)
    return WebSocketUpgrade(
        app_key=unquote(path[len("/app/") :]).strip("/"),
        query=dict(query_pairs(query)),
        accept=accept_key(key),
        origin=headers.get("origin"),
    )


def query_pairs(text: str, *, keep_blank_values: bool = False) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values)``, without its cost for the usual query, which has
    nothing to unquote (a socket's ``protocol=7&client=js``, a publish's hex signature)."""
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=keep_blank_values)
    pairs: list[tuple[str, str]] = []
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        if value or (keep_blank_values and pair):  # as parse_qsl leaves out empty values unless kept
            pairs.append((name, value))
    return pairs


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _WEBSOCKET_GUID).digest()).decode()  # noqa: S324
