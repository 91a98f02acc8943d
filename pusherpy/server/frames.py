"""Server-side WebSocket frames (RFC 6455 §5.2), built once so a broadcast writes the same bytes to every socket.

Nothing here performs I/O. Server frames are never masked, and pusherpy turns off permessage-deflate, so one
frame's bytes are valid on every connection.
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81


def text_frame(payload: bytes) -> bytes:
    """Return a single unmasked, final text frame carrying ``payload`` (already UTF-8)."""
    length = len(payload)
    if length < 126:
        return bytes((_FIN_TEXT, length)) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", _FIN_TEXT, 126, length) + payload
    return struct.pack("!BBQ", _FIN_TEXT, 127, length) + payload
