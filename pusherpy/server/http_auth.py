"""Which requests the signed HTTP API (``/apps/{app_id}/...``) accepts, whichever transport carried them.

``check_signed_request`` is the one gate, used by the aiohttp routes and by the listener's publish path alike:
the request must be signed as Pusher signs it (``protocol.signing``): ``auth_key``, ``auth_timestamp`` within
±600 s, ``auth_version``, ``body_md5`` when present (pusher-http-python sends it on GETs too), and
``auth_signature`` compared in constant time; then the app must be enabled, the signature used for the first time
(only with ``reject_replayed_signatures``: see ``replay``), and the app within its
``max_api_requests_per_second``. Refusals raise ``ApiError``.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import Final

from aiohttp import web

from ..protocol import signing
from ..protocol.apps import AppConfig
from ..protocol.errors import ApiError
from ..protocol.ratelimit import RateWindow
from .metrics import Metrics
from .path_prefix import signed_paths
from .replay import ReplayGuard
from .state import STATE, ServerState

_TIMESTAMP: Final = re.compile(r"[0-9]{1,15}")
"""Unix seconds in ASCII digits; 15 at most, so that any two can be compared as floats (a longer number is
refused, not an ``OverflowError`` in the log)."""


class RateLimited(ApiError):
    """429: the app is over ``max_api_requests_per_second``; ``retry_after`` whole seconds go in ``Retry-After``."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(429, f"rate limit exceeded: at most {limit} API requests per second", retry_after=retry_after)


class ApiRates:
    """Each app's window of signed API requests, for ``AppConfig.max_api_requests_per_second``."""

    __slots__ = ("_windows",)

    def __init__(self) -> None:
        self._windows: dict[str, RateWindow] = {}

    def count(self, app: AppConfig, now: float) -> None:
        """Count one request.

        Raises:
            RateLimited: the app is over its limit.
        """
        if app.max_api_requests_per_second <= 0:
            return
        window = self._windows.get(app.id)
        if window is None or window.limit != app.max_api_requests_per_second:
            window = self._windows[app.id] = RateWindow(app.max_api_requests_per_second)
        if not window.allow(now):
            raise RateLimited(window.limit, max(1, math.ceil(window.retry_after(now))))


API_RATES = web.AppKey("pusherpy_api_rates", ApiRates)


def verify_signature(
    app: AppConfig, method: str, path: str, query: Mapping[str, str], body: bytes, now: float, *, prefix: str = ""
) -> int:
    """Check a request's Pusher signature, of ``path`` with or without ``prefix`` (``path_prefix.signed_paths``);
    return its ``auth_timestamp``.

    Raises:
        ApiError: 401 with the reason (missing parameter, wrong key, stale timestamp, body_md5, signature).
    """
    for name in ("auth_key", "auth_timestamp", "auth_version", "auth_signature"):
        if not query.get(name):
            raise ApiError(401, f"missing {name} in the query")
    if not signing.constant_time_equals(query["auth_key"], app.key):
        raise ApiError(401, "auth_key does not belong to this app")
    timestamp_text = query["auth_timestamp"]
    if _TIMESTAMP.fullmatch(timestamp_text) is None:  # not int(): it takes "+1", " 1", "1_0", other scripts' digits
        raise ApiError(401, "auth_timestamp is not a number of seconds")
    timestamp = int(timestamp_text)
    if abs(now - timestamp) > signing.TIMESTAMP_WINDOW_SECONDS:
        raise ApiError(401, f"auth_timestamp is more than {signing.TIMESTAMP_WINDOW_SECONDS} s from the server's time")
    if body or "body_md5" in query:
        if not signing.constant_time_equals(query.get("body_md5", ""), signing.body_md5(body)):
            raise ApiError(401, "body_md5 does not match the body")
    signature = query["auth_signature"]
    matches = [
        signing.constant_time_equals(signature, signing.sign_request(app.secret, method, signed, query))
        for signed in signed_paths(path, prefix)
    ]
    if not any(matches):
        raise ApiError(401, "invalid signature")
    return timestamp


async def check_signed_request(
    app: AppConfig,
    method: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    *,
    rates: ApiRates,
    metrics: Metrics,
    replays: ReplayGuard | None = None,
    prefix: str = "",
) -> None:
    """Admit one signed API request to ``app``: signature, enabled, not a replay (with ``replays``), then the rate
    limit; count it.

    The rate is counted after the signature and replay checks, so neither strangers nor replays of a captured
    request can use up an app's allowance.

    Raises:
        ApiError: 401 (signature, or a replay), 403 (app disabled), ``RateLimited``, or ``ReplayMemoryFull`` (503).
    """
    now = time.time()
    timestamp = verify_signature(app, method, path, query, body, now, prefix=prefix)
    if not app.enabled:
        raise ApiError(403, "this app is disabled")
    if replays is not None and not await replays.first_use(app, query["auth_signature"], timestamp, now):
        metrics.count(app.id, "api_replays_refused")
        raise ApiError(401, "this auth_signature was already used: sign each request anew (replays are refused)")
    rates.count(app, time.monotonic())
    metrics.count(app.id, "api_requests")


def app_by_id(state: ServerState, app_id: str) -> AppConfig:
    app = state.apps_by_id.get(app_id)
    if app is None:
        raise ApiError(404, "unknown app id")
    return app


def signed_params(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The query as signed: repeated keys (``channels[]=``) are joined with commas, in order."""
    query: dict[str, str] = {}
    for key, value in pairs:
        query[key] = f"{query[key]},{value}" if key in query else value
    return query


# -- requests that reach aiohttp ---------------------------------------------------------------------------------


async def read_body(state: ServerState, request: web.Request) -> bytes:
    """Read the body under the size limit (from Content-Length, else while streaming) and a deadline."""
    settings = state.settings
    limit = settings.max_request_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body is larger than {limit} bytes")
    try:
        async with asyncio.timeout(settings.request_body_timeout):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"request body is larger than {limit} bytes") from None
    except TimeoutError:
        raise ApiError(408, f"request body not received within {settings.request_body_timeout:g} s") from None
    except web.RequestPayloadError as error:  # broken chunks, a Content-Encoding that does not decode
        raise ApiError(400, f"request body cannot be read: {str(error).rpartition('message:')[2].strip()}") from None
    except ConnectionResetError:
        raise ApiError(400, "the client left before its request body was read") from None


async def signed_request(request: web.Request, app: AppConfig | None = None) -> tuple[AppConfig, bytes]:
    """Find the app (by the path's ``app_id`` unless given), read the body and ``check_signed_request``."""
    state = request.app[STATE]
    if app is None:
        app = app_by_id(state, request.match_info["app_id"])
    body = await read_body(state, request)
    query = signed_params(request.query.items())
    await check_signed_request(
        app,
        request.method,
        request.path,
        query,
        body,
        rates=request.app[API_RATES],
        metrics=state.metrics,
        replays=state.replays,
        prefix=state.settings.path_prefix,
    )
    return app, body
