"""Pusher error codes and the pusherpy exception tree.

Nothing here performs I/O. The tree::

    PusherpyError
    ├── ProtocolError(message)            a socket broke the Pusher protocol or a rule; 4200 unless a subclass
    │   │                                 says otherwise (each subclass fixes its code)
    │   ├── MalformedMessage              code null: the frame is not a valid Pusher message
    │   ├── UnknownApp                    4001
    │   ├── AppDisabled                   4003
    │   ├── OverQuota                     4004
    │   ├── InvalidVersionString          4006
    │   ├── UnsupportedProtocol           4007
    │   ├── Unauthorized                  4009
    │   ├── OverCapacity                  4100
    │   ├── ClientEventRejected           4301
    │   ├── WatchlistTooLong              4302
    │   └── MemberLimitReached            a presence channel is full: only a pusher:subscription_error
    ├── ApiError(status, message)         the HTTP API refuses a request
    ├── ConfigError                       a setting is invalid; names the key and the value
    ├── PublishError(status, body)        the publisher library got an error from a server
    ├── WebhookError (also ValueError)    a webhook must be rejected (the rest of its tree: publisher/errors.py)
    │   └── WebhookBodyInvalid            the body is not the JSON Pusher sends
    └── InvalidState                      misuse of pusherpy's own API
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ErrorCode(IntEnum):
    """Pusher protocol error codes; one code means one thing (Pusher protocol: error codes)."""

    SSL_ONLY = 4000
    """The app only accepts TLS connections."""
    APP_NOT_FOUND = 4001
    """No app has the key in the connection URL."""
    APP_DISABLED = 4003
    """The app exists but is disabled."""
    OVER_CONNECTION_QUOTA = 4004
    """The app has reached its connection limit."""
    PATH_NOT_FOUND = 4005
    """The connection path is not /app/{key}."""
    INVALID_VERSION_STRING = 4006
    """The protocol parameter is not a number."""
    UNSUPPORTED_PROTOCOL = 4007
    """The protocol version is not supported."""
    NO_PROTOCOL_VERSION = 4008
    """No protocol version was given."""
    UNAUTHORIZED = 4009
    """A signature, origin or permission check failed."""
    OVER_CAPACITY = 4100
    """The server is over capacity (also: a slow consumer was dropped); reconnect after a backoff."""
    GENERIC_RECONNECT = 4200
    """Reconnect immediately (server restart, malformed input, internal error)."""
    PONG_NOT_RECEIVED = 4201
    """The client did not answer a ping in time."""
    CLOSED_AFTER_INACTIVITY = 4202
    """The client was inactive for too long."""
    CLIENT_EVENT_REJECTED = 4301
    """A client event was rejected (rate limit, not allowed, too large)."""
    WATCHLIST_LIMIT_EXCEEDED = 4302
    """The watchlist holds more ids than allowed; the first ones are kept."""


class PusherpyError(Exception):
    """Root of every exception pusherpy raises on purpose."""


class ProtocolError(PusherpyError):
    """A socket broke the protocol; the shell turns this into a ``pusher:error``.

    The Pusher code sent to the client is the class's ``code`` (one class per code, so a code is never spelled at
    a raise site).

    Args:
        message: a human message for the client; never a traceback or a secret.
        close: whether the connection must be closed after the error frame.
        channel: the channel the error is about, when there is one.
    """

    code: ClassVar[ErrorCode | None] = ErrorCode.GENERIC_RECONNECT
    error_frame: ClassVar[bool] = True
    """Whether the client gets a ``pusher:error`` (a refused subscription may get only its subscription_error)."""
    subscription_error_type: ClassVar[str] = "InvalidSubscription"
    subscription_error_status: ClassVar[int] = 400
    """The ``type`` and HTTP-like ``status`` of the ``pusher:subscription_error`` of a refused subscription."""

    def __init__(self, message: str, *, close: bool = False, channel: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.close = close
        self.channel = channel
        self.refused_subscription = False
        """Set when the error refuses a ``pusher:subscribe``: the client also gets a ``pusher:subscription_error``
        on the channel, which is what Laravel Echo's ``.error()`` callback listens to."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}, close={self.close})"


class MalformedMessage(ProtocolError):
    """The frame is not valid JSON, not an object, or has fields of the wrong type.

    Sent with ``code: null``, as Pusher does for errors that do not end the connection.
    """

    code = None


class UnknownApp(ProtocolError):
    code = ErrorCode.APP_NOT_FOUND


class AppDisabled(ProtocolError):
    code = ErrorCode.APP_DISABLED


class OverQuota(ProtocolError):
    """The app has reached its connection quota."""

    code = ErrorCode.OVER_CONNECTION_QUOTA


class InvalidVersionString(ProtocolError):
    code = ErrorCode.INVALID_VERSION_STRING


class UnsupportedProtocol(ProtocolError):
    code = ErrorCode.UNSUPPORTED_PROTOCOL


class Unauthorized(ProtocolError):
    code = ErrorCode.UNAUTHORIZED
    subscription_error_type = "AuthError"
    subscription_error_status = 401


class OverCapacity(ProtocolError):
    """Sustained abuse or an overloaded socket: reconnect after a backoff."""

    code = ErrorCode.OVER_CAPACITY


class ClientEventRejected(ProtocolError):
    code = ErrorCode.CLIENT_EVENT_REJECTED


class WatchlistTooLong(ProtocolError):
    """Sent as a warning: the sign-in goes on with the first ids of the watchlist."""

    code = ErrorCode.WATCHLIST_LIMIT_EXCEEDED


class MemberChanged(ProtocolError):
    """A socket already in a presence channel subscribed to it again as another member.

    Refused (the socket stays the member it joined as), so the member list and the ``user_id`` stamped on its
    client events never disagree. Sent with ``code: null`` and a ``pusher:subscription_error``: the connection
    stays up.
    """

    code = None


class ChannelLimitReached(ProtocolError):
    """A socket is already subscribed to the app's ``max_channels_per_connection`` channels.

    Refused like a full presence channel (``pusher:subscription_error``, ``LimitReached``), with a ``pusher:error``
    that says which limit; the socket and its other subscriptions stay.
    """

    code = None
    subscription_error_type = "LimitReached"
    subscription_error_status = int(ErrorCode.OVER_CONNECTION_QUOTA)


class MemberLimitReached(ProtocolError):
    """A presence channel already has the app's maximum number of members.

    The subscription is refused with a ``pusher:subscription_error`` (``LimitReached``, status 4004, as soketi
    sends it); no ``pusher:error``, since the connection itself did nothing wrong.
    """

    code = ErrorCode.OVER_CONNECTION_QUOTA
    error_frame = False
    subscription_error_type = "LimitReached"
    subscription_error_status = int(ErrorCode.OVER_CONNECTION_QUOTA)

    @classmethod
    def for_channel(cls, channel: str, limit: int) -> MemberLimitReached:
        error = cls(f"{channel} has reached its limit of {limit} members", channel=channel)
        error.refused_subscription = True
        return error


class ApiError(PusherpyError):
    """The HTTP API refuses a request; the shell answers ``status`` with ``{"error": message}`` (and
    ``Retry-After: retry_after`` when it says when to try again)."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ApiError(status={self.status}, message={self.message!r})"


class ConfigError(PusherpyError):
    """A setting is invalid. The message names the key and the bad value."""


class PublishError(PusherpyError):
    """A server answered the publisher library with an error status (or could not be reached)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}" if status else body)
        self.status = status
        self.body = body


class WebhookError(PusherpyError, ValueError):
    """A webhook request must be rejected (answer it with 401/400); the message says why.

    Defined here because ``protocol.webhooks.parse_batch`` raises ``WebhookBodyInvalid``; the publisher library
    adds the key, signature and age failures and re-exports both classes.
    """


class WebhookBodyInvalid(WebhookError):
    """The signed body is not ``{"time_ms": int, "events": [...]}`` with well-formed events."""


class InvalidState(PusherpyError):
    """pusherpy's own API was used out of order (e.g. sending on a closed stream)."""
