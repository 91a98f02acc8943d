"""pusherpy: a Pusher Channels protocol 7 broadcast server, and a publisher library for Python backends.

The server: ``pusherpy serve`` (``pusherpy.server``). The library: ``pusherpy.publisher``, whose main names are
re-exported here: ``Pusher`` (blocking) and ``AsyncPusher`` (asyncio) to publish, ``ChannelRules`` /
``broadcasting_routes`` to answer Laravel Echo's auth requests, ``verify_webhook`` for the server's webhooks.
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
from .publisher import (
    AsyncPusher,
    AuthenticationError,
    BadRequest,
    BroadcastAuth,
    ChannelRules,
    ConnectionFailed,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Pusher,
    ReplyStream,
    Timeout,
    TooManyRequests,
    WebhookBatch,
    WebhookError,
    WebhookEvent,
    broadcasting_routes,
    verify_webhook,
)

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "AsyncPusher",
    "AuthenticationError",
    "BadRequest",
    "BroadcastAuth",
    "ChannelRules",
    "ConfigError",
    "ConnectionFailed",
    "ErrorCode",
    "Forbidden",
    "InvalidState",
    "NotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "PublishError",
    "Pusher",
    "PusherpyError",
    "ReplyStream",
    "Timeout",
    "TooManyRequests",
    "WebhookBatch",
    "WebhookError",
    "WebhookEvent",
    "__version__",
    "broadcasting_routes",
    "verify_webhook",
]
