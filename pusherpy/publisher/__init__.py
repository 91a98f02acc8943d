"""The publisher library: publish to a Pusher-compatible server and answer pusher-js's auth requests.

- ``Pusher`` (blocking, standard library HTTP) and ``AsyncPusher`` (asyncio, aiohttp) share every method name:
  ``trigger``, ``trigger_batch``, ``send_to_user``, ``channels_info``, ``channel_info``, ``users_info``,
  ``terminate_user_connections``, ``channel_history``, plus the offline ``authorize_channel``,
  ``authenticate_user``, ``verify_webhook``.
- Failed calls are retried when that is safe (``retries``, ``retry_backoff``): publishes carry an
  ``idempotency_key`` so a server that got the first copy drops the second.
- ``AsyncPusher.stream`` publishes a token-by-token reply as few, ordered events (``ReplyStream``).
- ``ChannelRules`` / ``BroadcastAuth`` decide auth requests; ``broadcasting_routes`` mounts them in aiohttp.

This package never imports ``pusherpy.server``; it shares only ``pusherpy.protocol`` with it.
"""

from __future__ import annotations

from . import errors
from .api import ChannelInfo, ChannelsInfo, UsersInfo
from .async_client import AsyncPusher
from .auth import AuthResponse, BroadcastAuth, ChannelRules, ResolvedRule, bearer_token, strip_auth_prefix
from .auth_aiohttp import auth_handlers, broadcasting_routes
from .authorization import ChannelAuth, UserAuth
from .config import ClientConfig
from .crypto import decrypt, shared_secret
from .errors import (
    AuthenticationError,
    BadRequest,
    ConnectionFailed,
    DataTooLarge,
    Forbidden,
    HistoryGone,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PublishError,
    ServerError,
    Timeout,
    TooManyRequests,
    UnexpectedStatus,
    WebhookBodyInvalid,
    WebhookError,
    WebhookKeyMismatch,
    WebhookSignatureMismatch,
    WebhookTooOld,
)
from .history import ChannelHistory, HistoryEvent
from .stream import ReplyStream
from .sync_client import Pusher
from .webhooks import WebhookBatch, WebhookEvent, verify_webhook

__all__ = [
    "AsyncPusher",
    "AuthResponse",
    "AuthenticationError",
    "BadRequest",
    "BroadcastAuth",
    "ChannelAuth",
    "ChannelHistory",
    "ChannelInfo",
    "ChannelRules",
    "ChannelsInfo",
    "ClientConfig",
    "ConnectionFailed",
    "DataTooLarge",
    "Forbidden",
    "HistoryEvent",
    "HistoryGone",
    "InvalidArgument",
    "NotFound",
    "PayloadTooLarge",
    "PublishError",
    "Pusher",
    "ReplyStream",
    "ResolvedRule",
    "ServerError",
    "Timeout",
    "TooManyRequests",
    "UnexpectedStatus",
    "UserAuth",
    "UsersInfo",
    "WebhookBatch",
    "WebhookBodyInvalid",
    "WebhookError",
    "WebhookEvent",
    "WebhookKeyMismatch",
    "WebhookSignatureMismatch",
    "WebhookTooOld",
    "auth_handlers",
    "bearer_token",
    "broadcasting_routes",
    "decrypt",
    "errors",
    "shared_secret",
    "strip_auth_prefix",
    "verify_webhook",
]
