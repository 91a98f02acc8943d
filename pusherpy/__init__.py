"""pusherpy: a Pusher Channels protocol 7 broadcast server, and a publisher library for Python backends.

The server: ``pusherpy serve`` (``pusherpy.server``). The library: ``pusherpy.publisher``, whose main names are
re-exported here: ``Pusher`` (blocking) and ``AsyncPusher`` (asyncio) to publish, ``ChannelRules`` /
``broadcasting_routes`` to answer Laravel Echo's auth requests, ``verify_webhook`` for the server's webhooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .protocol.errors import (
    ApiError,
    ConfigError,
    ErrorCode,
    InvalidState,
    ProtocolError,
    PublishError,
    PusherpyError,
)

if TYPE_CHECKING:
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

_PUBLISHER_NAMES = frozenset(__all__) - set(globals())
"""The names in ``__all__`` not defined yet: the publisher library's, imported on first use."""


def __getattr__(name: str) -> Any:
    """Import the publisher library on first use, so ``import pusherpy.protocol`` stays free of aiohttp."""
    if name in _PUBLISHER_NAMES:
        from . import publisher

        return getattr(publisher, name)
    raise AttributeError(f"module 'pusherpy' has no attribute {name!r}")
