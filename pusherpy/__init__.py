"""pusherpy: a Pusher Channels protocol 7 broadcast server, and a publisher library for Python backends.

The server: ``pusherpy serve`` (see ``pusherpy.server``). The library: ``pusherpy.publisher`` (``Pusher``,
``AsyncPusher``), whose public names are re-exported here.
"""

from __future__ import annotations

from .protocol.errors import (
    ApiError,
    ConfigError,
    ErrorCode,
    InvalidState,
    ProtocolError,
    PublishError,
    PusherpyError,
)

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "ConfigError",
    "ErrorCode",
    "InvalidState",
    "ProtocolError",
    "PublishError",
    "PusherpyError",
    "__version__",
]
