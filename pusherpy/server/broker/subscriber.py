"""What a broker needs from a connected socket, and nothing more.

The broker never imports the server's socket class: it works with any object that has these members, so the
arrows go one way (the socket layer uses the broker; the broker only sees this protocol). ``server.client.Client``
is the real one; tests may pass anything that fits.
"""

from __future__ import annotations

from typing import Protocol

from ...protocol.apps import AppConfig
from ...protocol.connection import Connection


class Subscriber(Protocol):
    """One connected socket of one app, as the broker sees it. Hashable by identity."""

    app: AppConfig
    connection: Connection
    """The protocol core's state for the socket: its channels and signed-in user."""

    def __hash__(self) -> int: ...

    @property
    def socket_id(self) -> str: ...

    def write_frame(self, data: bytes) -> bool:
        """Queue a ready-made WebSocket frame without awaiting; False when the socket is gone or was dropped."""
        ...

    def send_text(self, text: str) -> bool:
        """Send one message to this socket only."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Close the socket with a Pusher close code; never raises, never awaits."""
        ...
