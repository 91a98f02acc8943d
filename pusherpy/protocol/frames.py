"""WebSocket framing (RFC 6455 §5), sans I/O: build server frames once, parse client frames incrementally.

Server frames are never masked and pusherpy never negotiates permessage-deflate, so one frame's bytes are valid on
every connection: a broadcast is framed once and the same bytes go to every subscriber. ``FrameParser`` enforces
the size limit from the frame header, before the payload is buffered, and checks everything the RFC says a server
must check (masking, reserved bits, control frame rules, UTF-8 of text).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

_FIN: Final = 0x80


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    """RFC 6455 §7.4.1 close codes used by the server."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    ABNORMAL = 1006
    """Never sent: the code a log shows for a connection that ended without a close frame (§7.1.5)."""


def frame(opcode: int, payload: bytes) -> bytes:
    """Return one unmasked, final frame."""
    length = len(payload)
    first = _FIN | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length) + payload
    return struct.pack("!BBQ", first, 127, length) + payload


def text_frame(payload: bytes) -> bytes:
    """Return a single unmasked, final text frame carrying ``payload`` (already UTF-8)."""
    return frame(Opcode.TEXT, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame; the reason is cut to fit the 125-byte control frame limit."""
    return frame(Opcode.CLOSE, struct.pack("!H", code) + reason.encode()[:123])


def unmask(payload: bytes | bytearray, mask: bytes) -> bytes:
    """XOR the payload with the 4-byte mask, as one big integer operation (fast in CPython)."""
    length = len(payload)
    if length == 0:
        return b""
    repeated = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(length, "little")


MAX_FRAGMENTS: Final = 128
"""The most frames one data message may arrive in. Client libraries send a message whole or in a few large
fragments; thousands of tiny ones only cost the server per-frame work for nothing."""


@dataclass(frozen=True, slots=True)
class Message:
    """A complete data message (text decoded, or binary) or a control frame."""

    opcode: Opcode
    data: bytes
    text: str | None = None


class FrameError(Exception):
    """The peer broke RFC 6455; close with ``code``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class FrameParser:
    """Turns bytes from a client into messages; raises ``FrameError`` on a violation.

    A fragmented message is bounded three ways: its size (checked from each header), its number of fragments
    (``MAX_FRAGMENTS``) and, since a fragment may not be empty unless it is the last, the bytes each fragment must
    carry. Fragments are joined into one buffer as they come, so a message costs its bytes, not a list of frames.

    Args:
        max_message_bytes: the largest data message accepted, fragments included; checked from each header.
    """

    __slots__ = ("_buffer", "_max", "_fragments", "_fragment_opcode", "_fragment_count")

    def __init__(self, max_message_bytes: int) -> None:
        self._buffer = bytearray()
        self._max = max_message_bytes
        self._fragments: bytearray | None = None
        self._fragment_opcode = Opcode.TEXT
        self._fragment_count = 0

    @property
    def mid_message(self) -> bool:
        """Whether bytes of an unfinished frame or message are held: the peer owes the rest."""
        return bool(self._buffer) or self._fragments is not None

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes; return the messages they complete, in order."""
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        offset = 0
        end = len(buffer)
        while end - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            if first & 0x70:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "reserved bits set without an extension")
            if not second & 0x80:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
            length = second & 0x7F
            header = 2
            if length == 126:
                if end - offset < 4:
                    break
                length = (buffer[offset + 2] << 8) | buffer[offset + 3]
                header = 4
            elif length == 127:
                if end - offset < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, offset + 2)
                header = 10
            opcode = first & 0x0F
            self._check_size(opcode, first & _FIN, length)
            start = offset + header + 4
            if end - start < length:
                break
            mask = bytes(buffer[start - 4 : start])
            payload = unmask(buffer[start : start + length], mask)
            offset = start + length
            message = self._frame(opcode, bool(first & _FIN), payload)
            if message is not None:
                messages.append(message)
        if offset:
            del buffer[:offset]
        return messages

    def _check_size(self, opcode: int, fin: int, length: int) -> None:
        if opcode >= 0x8:
            if length > 125:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "control frame larger than 125 bytes")
            if not fin:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "fragmented control frame")
            return
        if not fin and length == 0:
            raise FrameError(CloseCode.POLICY_VIOLATION, "empty fragment before the end of a message")
        held = self._fragments
        if opcode == Opcode.CONTINUATION and held is not None:
            if length + len(held) > self._max:
                raise FrameError(CloseCode.MESSAGE_TOO_BIG, f"message larger than {self._max} bytes")
            if self._fragment_count >= MAX_FRAGMENTS:
                raise FrameError(CloseCode.POLICY_VIOLATION, f"message in more than {MAX_FRAGMENTS} fragments")
        elif length > self._max:
            raise FrameError(CloseCode.MESSAGE_TOO_BIG, f"message larger than {self._max} bytes")

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> Message | None:
        if opcode >= 0x8:
            if opcode not in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
                raise FrameError(CloseCode.PROTOCOL_ERROR, f"unknown control opcode {opcode}")
            return Message(Opcode(opcode), payload)
        if opcode == Opcode.CONTINUATION:
            fragments = self._fragments
            if fragments is None:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "continuation frame without a first fragment")
            fragments += payload
            self._fragment_count += 1
            if not fin:
                return None
            payload = bytes(fragments)
            opcode = self._fragment_opcode
            self._fragments, self._fragment_count = None, 0
        elif opcode in (Opcode.TEXT, Opcode.BINARY):
            if self._fragments is not None:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "new message before the last fragment")
            if not fin:
                self._fragments, self._fragment_opcode, self._fragment_count = bytearray(payload), Opcode(opcode), 1
                return None
        else:
            raise FrameError(CloseCode.PROTOCOL_ERROR, f"unknown data opcode {opcode}")
        if opcode == Opcode.TEXT:
            try:
                return Message(Opcode.TEXT, payload, payload.decode())
            except UnicodeDecodeError:
                raise FrameError(CloseCode.INVALID_DATA, "text frame is not valid UTF-8") from None
        return Message(Opcode.BINARY, payload)
