"""Exceptions of the publisher library.

Every failure of an HTTP API call is a ``PublishError`` (so one ``except PublishError`` catches them all) and
carries the HTTP status (0 when no response arrived) and the server's own message. Bad arguments are caught
before anything is sent and raise ``ValueError`` subclasses. The tree::

    PusherpyError
    ├── PublishError(status, body)            pusherpy.protocol.errors
    │   ├── BadRequest                        400 (and 422, Reverb's validation status)
    │   ├── AuthenticationError               401: wrong key or secret, or a clock off by more than 600 s
    │   ├── Forbidden                         403: app disabled or over quota
    │   ├── NotFound                          404: unknown app or path (or a channel without history)
    │   ├── HistoryGone                       410: the history asked for is no longer kept (.position, .oldest)
    │   ├── PayloadTooLarge                   413
    │   ├── TooManyRequests                   429
    │   ├── ServerError                       5xx
    │   ├── UnexpectedStatus                  any other non-2xx status, or a 2xx body that is not JSON
    │   ├── ConnectionFailed                  status 0: the server could not be reached
    │   └── Timeout                           status 0: no answer within the client's timeout
    ├── InvalidArgument (also ValueError)     an argument is invalid; nothing was sent
    │   └── DataTooLarge                      event data over the client's size limit
    └── WebhookError (also ValueError)        pusherpy.protocol.errors: a webhook must be rejected
        ├── WebhookKeyMismatch                X-Pusher-Key is missing or another app's key
        ├── WebhookSignatureMismatch          X-Pusher-Signature is missing or wrong
        ├── WebhookTooOld                     time_ms more than the allowed age away from now
        └── WebhookBodyInvalid                pusherpy.protocol.errors: the body is not the JSON Pusher sends
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Final

from pusherpy.protocol import codec
from pusherpy.protocol.errors import PublishError, PusherpyError, WebhookBodyInvalid, WebhookError

if TYPE_CHECKING:
    from .config import ClientConfig

__all__ = [
    "AuthenticationError",
    "BadRequest",
    "ConnectionFailed",
    "DataTooLarge",
    "Forbidden",
    "HistoryGone",
    "InvalidArgument",
    "NotFound",
    "PayloadTooLarge",
    "PublishError",
    "ServerError",
    "Timeout",
    "TooManyRequests",
    "UnexpectedStatus",
    "WebhookBodyInvalid",
    "WebhookError",
    "WebhookKeyMismatch",
    "WebhookSignatureMismatch",
    "WebhookTooOld",
    "error_for_status",
]

_MAX_MESSAGE_CHARS: Final = 500


class _StatusError(PublishError):
    """A ``PublishError`` with the server's message pulled out of its body.

    Attributes:
        status: the HTTP status, 0 when no response arrived.
        body: the response body as text.
        message: the server's ``{"error": ...}`` text when it sent one, else the (truncated) body.
        retry_after: the seconds the server's ``Retry-After`` header asked to wait (429, 503), when it sent them.
        retryable: the request may succeed if sent again (the clients retry only such failures, and only requests
            that are safe to send twice).
    """

    retryable: bool = False

    def __init__(self, status: int, body: str, *, retry_after: float | None = None) -> None:
        super().__init__(status, body)
        self.message = server_message(body)
        self.retry_after = retry_after
        self.args = (f"HTTP {status}: {self.message}" if status else self.message,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class BadRequest(_StatusError):
    """The server rejected the request as invalid (400, or Reverb's 422)."""


class AuthenticationError(_StatusError):
    """401: the signature did not verify (wrong key or secret, or the clock is off by more than 600 s)."""


class Forbidden(_StatusError):
    """403: the app is disabled or over its quota."""


class NotFound(_StatusError):
    """404: the app id or the path is unknown to the server."""


class PayloadTooLarge(_StatusError):
    """413: the server found the request or event data too large."""


class HistoryGone(_StatusError):
    """410: the events after ``after`` are no longer kept (trimmed, expired, or the record was lost).

    Reload from your own store; ``position`` is the channel's current serial and ``oldest`` the oldest serial
    still kept (None when the server did not say).
    """

    def __init__(self, status: int, body: str, *, retry_after: float | None = None) -> None:
        super().__init__(status, body, retry_after=retry_after)
        try:
            parsed = codec.loads(body)
        except (ValueError, TypeError):
            parsed = None
        fields = parsed if isinstance(parsed, dict) else {}
        self.position = _serial(fields.get("position"))
        self.oldest = _serial(fields.get("oldest"))


def _serial(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TooManyRequests(_StatusError):
    """429: the server rate-limited the app; retried after ``Retry-After`` (``retry_after``) when it allows."""

    retryable = True


class ServerError(_StatusError):
    """5xx: the server failed; the request may be retried (the clients do, when it is safe)."""

    retryable = True


class UnexpectedStatus(_StatusError):
    """Any other status, or a success whose body is not JSON."""


class ConnectionFailed(_StatusError):
    """The server could not be reached, or dropped the connection before answering (status 0).

    ``retryable`` is False when TLS itself failed (a certificate or a plain http server): sending again would not
    help.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(0, message)
        self.retryable = retryable


class Timeout(_StatusError):
    """No answer arrived within the client's ``timeout`` (status 0). The event may or may not have been sent.

    ``retryable`` is False when the TLS handshake is what timed out (most likely a plain http server).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(0, message)
        self.retryable = retryable


_BY_STATUS: Final[dict[int, type[_StatusError]]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: Forbidden,
    404: NotFound,
    410: HistoryGone,
    413: PayloadTooLarge,
    422: BadRequest,
    429: TooManyRequests,
}


def error_for_status(status: int, body: str, retry_after: str | None = None) -> PublishError:
    """Return the exception matching an error response (``retry_after``: its ``Retry-After`` header); the caller
    raises it."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if 500 <= status <= 599 else UnexpectedStatus
    return cls(status, body, retry_after=retry_after_seconds(retry_after))


def retry_after_seconds(header: str | None) -> float | None:
    """Read a ``Retry-After`` header given in seconds (RFC 9110 §10.2.3); an HTTP-date or junk reads as None."""
    if header is None:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def server_message(body: str) -> str:
    """Pull the human message out of an error body.

    Pusher and pusherpy answer ``{"error": "..."}``; soketi adds ``code``; Reverb sends ``{"message": ...}``.
    Anything else is returned as text, cut to 500 characters so a proxy's HTML page does not flood logs.
    """
    try:
        parsed = codec.loads(body)
    except (ValueError, TypeError):
        parsed = None
    if isinstance(parsed, dict):
        for field in ("error", "message"):
            value = parsed.get(field)
            if isinstance(value, str) and value:
                return value
    text = body.strip()
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "…"


def not_tls_hint(config: ClientConfig) -> str:
    """Say what most often stops an https request at its TLS handshake: the server speaks plain http.

    When https was only the default (neither ``scheme`` nor ``ssl`` given, as in Pusher's SDKs), say so and how to
    pick http. The URL form shows ``key:secret`` as words, never the secret.
    """
    if not config.scheme_defaulted:
        return "is it a plain http server? then use http, not https"
    host = f"[{config.host}]" if ":" in config.host else config.host
    return (
        "is it a plain http server? https is the default when no scheme is given: pass scheme='http' "
        f"(or ssl=False, or use http://key:secret@{host}:{config.port}/apps/{config.app_id})"
    )


def tls_reason(error: BaseException) -> str:
    """Name a failed TLS handshake by OpenSSL's reason (``WRONG_VERSION_NUMBER``), else by the error itself."""
    if isinstance(error, ssl.SSLError) and error.reason:
        return f"SSL {error.reason}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class InvalidArgument(PusherpyError, ValueError):
    """An argument is invalid; nothing was sent. The message says which one and why."""


class DataTooLarge(InvalidArgument):
    """The event data, as it would be sent, is over the client's ``max_data_size``."""


class WebhookKeyMismatch(WebhookError):
    """``X-Pusher-Key`` is missing or is not this app's key."""


class WebhookSignatureMismatch(WebhookError):
    """``X-Pusher-Signature`` is missing or is not the HMAC of the body under this app's secret."""


class WebhookTooOld(WebhookError):
    """``time_ms`` is further from now than allowed (300 s, as pusher-http-python): a replay or a stale retry."""
