"""Request heads, sans I/O: ``parse_head(buffer)`` says whether the bytes so far are a complete head, a refusal,
or need more bytes; ``websocket_upgrade(...)`` says whether a head asks for a Pusher socket (RFC 6455 §4.2.1).

Nothing here performs I/O or keeps state, so the listener can call it again on each packet and a test can feed it
bytes directly. The limits hold however the bytes arrive: a head sent in one packet is measured like a trickled
one. Bytes that cannot become an HTTP request line (a TLS ClientHello on the plain port, binary garbage) are
refused as soon as they are seen, not when a line end or a deadline comes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_REQUEST_LINE_BYTES: Final = 8190
"""The longest request line, CRLF excluded (aiohttp's and nginx's default)."""
MAX_HEAD_BYTES: Final = 8192
"""The longest head, its final blank line excluded."""
MAX_HEADERS: Final = 64

_TCHAR: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
"""A token character (RFC 9110 §5.6.2), what a method is made of."""
_TARGET_CHAR: Final = r"[^\x00-\x20\x7f]"
_METHOD: Final = re.compile(rf"{_TCHAR}+".encode())
_VERSION: Final = re.compile(rb"HTTP/[0-9]\.[0-9]")
_REQUEST_LINE_START: Final = re.compile(
    rf"(?:{_TCHAR}+(?: {_TARGET_CHAR}*(?: (?:H(?:T(?:T(?:P(?:/(?:[0-9](?:\.(?:[0-9]\r?)?)?)?)?)?)?)?)?)?)?)?".encode()
)
"""Every prefix of a request line: bytes that do not match can never become one."""
_TLS_HANDSHAKE: Final = 0x16
_WEBSOCKET_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """A complete request head, within limits.

    Attributes:
        headers: names lower-cased; a repeated name keeps its last value.
        length: bytes from the start of the buffer to the first byte of the body (leading blank lines included).
    """

    method: str
    target: str
    version: str
    headers: Mapping[str, str]
    length: int

    @property
    def keeps_alive(self) -> bool:
        """Whether the connection stays open after the answer (RFC 9112 §9.3)."""
        connection = self.headers.get("connection", "").lower()
        if "close" in connection:
            return False
        return self.version != "HTTP/1.0" or "keep-alive" in connection


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
    if not _is_request_line(buffer[start:line_end]):
        return _not_http(buffer, start)
    end = buffer.find(b"\r\n\r\n", line_end, MAX_HEAD_BYTES + 4)
    if end < 0:
        if len(buffer) >= MAX_HEAD_BYTES + 4:
            return Refusal(status=431, message="request head too large")
        return NEED_MORE
    lines = bytes(buffer[start:end]).decode("latin-1").split("\r\n")
    if len(lines) - 1 > MAX_HEADERS:
        return Refusal(status=431, message="too many headers")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return Refusal(status=400, message="malformed header line")
        headers[name.strip().lower()] = value.strip()
    method, target, version = lines[0].split(" ")
    return Head(method=method, target=target, version=version, headers=headers, length=end + 4)


def _is_request_line(line: bytes | bytearray) -> bool:
    """``METHOD SP target SP HTTP/x.y`` (RFC 9112 §3). Spaces and control bytes in the target are looked for
    while the line is incomplete (``_REQUEST_LINE_START``); once it is complete, a split and two short matches
    are cheaper than a scan of the target, and what the target holds is for the routes to judge."""
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[1]:
        return False
    return _METHOD.fullmatch(parts[0]) is not None and _VERSION.fullmatch(parts[2]) is not None


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
        ``Refusal`` when it is one but broken, else the ``WebSocketUpgrade``.
    """
    if method != "GET" or not target.startswith("/app/") or headers.get("upgrade", "").lower() != "websocket":
        return None
    if headers.get("sec-websocket-version") != "13":
        return Refusal(status=426, message="WebSocket version 13 required", headers=(("Sec-WebSocket-Version", "13"),))
    key = headers.get("sec-websocket-key", "")
    if len(key) != 24 or "upgrade" not in headers.get("connection", "").lower():
        return Refusal(status=400, message="invalid WebSocket upgrade request")
    url = urlsplit(target)
    return WebSocketUpgrade(
        app_key=unquote(url.path[len("/app/") :]).strip("/"),
        query=dict(query_pairs(url.query)),
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
