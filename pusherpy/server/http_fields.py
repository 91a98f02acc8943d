"""Header fields of a request head, sans I/O: ``read_fields(lines)`` turns the header lines into the fields the
listener acts on, or a ``Refusal``.

The listener serves WebSocket upgrades and publishes without aiohttp, so these rules must be at least as strict as
aiohttp's own parser (``aiohttp.http_parser``), which serves every other request on the same port: whatever
aiohttp refuses is refused here too, with 400 and a message that says why. Above all, a body's length is read
exactly as a proxy in front would read it, or the request is refused (request smuggling, RFC 9112 §6.3 and
§11.2): one ``Content-Length`` of ASCII digits, never two, never together with ``Transfer-Encoding``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

TCHAR: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
"""A token character (RFC 9110 §5.6.2): what a method and a header name are made of."""
_VALUE_CHAR: Final = r"[\t\x20-\x7e\x80-\xff]"
"""HTAB, SP, visible ASCII and obs-text: every byte but the control characters (RFC 9110 §5.5)."""
_FIELD_LINES: Final = re.compile(rf"(?:{TCHAR}+:{_VALUE_CHAR}*\r\n)*")
"""Well-formed field lines, each ending in CRLF: one match checks a whole head on the usual path."""
_TOKEN: Final = re.compile(rf"{TCHAR}+")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
MAX_CONTENT_LENGTH_DIGITS: Final = 18
"""Longer lengths are refused: no body that large is ever read, and the digits stay cheap to convert."""
_CONTENT_LENGTH: Final = re.compile(rf"[0-9]{{1,{MAX_CONTENT_LENGTH_DIGITS}}}")
_CHUNKED_LAST: Final = "Transfer-Encoding must end with chunked (applied once, nothing but spaces after it)"
SINGLETON_FIELDS: Final = frozenset(
    {
        "content-length",
        "content-location",
        "content-range",
        "content-type",
        "etag",
        "host",
        "max-forwards",
        "server",
        "transfer-encoding",
        "user-agent",
    }
)
"""Fields a request may carry once (aiohttp refuses a repeat of any of them): two ``Content-Length``\\ s or two
``Host``\\ s are the classic ways to make two parsers disagree about a request."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fields:
    """The header fields of a valid head.

    Attributes:
        headers: names lower-cased, values without surrounding SP/HTAB; a name sent on several lines has its
            values joined with ", " in order (RFC 9110 §5.3).
        content_length: the body's length from ``Content-Length``; None without one.
        chunked: the body is chunked (``Transfer-Encoding`` ending in ``chunked``).
    """

    headers: Mapping[str, str]
    content_length: int | None
    chunked: bool


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why the header lines are refused (answered 400 and closed)."""

    message: str


def read_fields(lines: str) -> Fields | FieldError:
    """Read the header lines of a head (latin-1 text, each line ending in CRLF, the final blank line excluded).

    Returns:
        the ``Fields``, or a ``FieldError`` when aiohttp would refuse them or their body length is ambiguous.
    """
    if _FIELD_LINES.fullmatch(lines) is None:
        return FieldError(_line_problem(lines))
    headers: dict[str, str] = {}
    coding_ends_in_tab = False
    for line in lines.split("\r\n")[:-1]:
        name, _, raw_value = line.partition(":")
        name = name.lower()
        value = raw_value.strip(" \t")
        if name in headers:
            if name in SINGLETON_FIELDS:
                return FieldError(f"repeated {name} header")
            value = f"{headers[name]}, {value}"
        elif name == "transfer-encoding":
            coding_ends_in_tab = raw_value.rstrip(" ").endswith("\t")  # aiohttp's C parser refuses it
        headers[name] = value
    if coding_ends_in_tab:
        return FieldError(_CHUNKED_LAST)
    return _framing(headers)


def _framing(headers: dict[str, str]) -> Fields | FieldError:
    """How long the body is, by RFC 9112 §6.3 as aiohttp reads it."""
    if "sec-websocket-key1" in headers:
        return FieldError("Sec-WebSocket-Key1 (the handshake before RFC 6455) is not supported")
    length_text = headers.get("content-length")
    if length_text is not None and _CONTENT_LENGTH.fullmatch(length_text) is None:
        return FieldError(f"Content-Length must be 1 to {MAX_CONTENT_LENGTH_DIGITS} ASCII digits")
    content_length = None if length_text is None else int(length_text)
    coding = headers.get("transfer-encoding")
    if coding is None:
        return Fields(headers=headers, content_length=content_length, chunked=False)
    if content_length is not None:
        return FieldError("Content-Length and Transfer-Encoding together")
    codings = [name.strip(" \t").lower() for name in coding.split(",")]  # latin-1: no other letter lowers to ASCII
    if codings[-1] != "chunked" or "chunked" in codings[:-1]:
        return FieldError(_CHUNKED_LAST)
    return Fields(headers=headers, content_length=None, chunked=True)


def _line_problem(lines: str) -> str:
    """What is wrong with the first bad header line (called only when the whole block does not match)."""
    for line in lines.split("\r\n")[:-1]:
        if line[:1] in (" ", "\t"):
            return "a header line starts with whitespace (obsolete line folding)"
        name, colon, value = line.partition(":")
        if not colon:
            return "a header line without a colon"
        if not name:
            return "a header line without a name"
        if name[-1] in (" ", "\t"):
            return "whitespace between a header name and its colon"
        if _TOKEN.fullmatch(name) is None:
            return "invalid character in a header name"
        if _CONTROL.search(value) is not None:
            return "control character in a header value"
    return "malformed header line"  # pragma: no cover - the lines above name every way the block can fail
