"""The HTTP publish path served without aiohttp: ``POST /apps/{app_id}/events`` and ``/batch_events``.

When many channels have few subscribers, the cost of a publish is the cost of its HTTP request, and aiohttp's
request machinery was most of it (profiled: ~70 % of the server's CPU per publish). The listener, which already
reads every connection's request head, serves these two routes itself on keep-alive connections, with the same
checks and handler as aiohttp's route (``http_api.handle_events``); anything unusual (chunked bodies,
``Expect``, other routes) still goes to aiohttp.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from ..protocol import codec
from ..protocol.errors import ApiError
from .http_api import CORS_HEADERS, RateLimited, handle_events, signed_params
from .state import ServerState

logger = logging.getLogger(__name__)

_ROUTE: Final = re.compile(r"\A/apps/([^/]+)/(events|batch_events)\Z")
_CORS: Final = "".join(f"{name}: {value}\r\n" for name, value in CORS_HEADERS.items())


def publish_route(method: str, target: str) -> tuple[str, str, dict[str, str], bool] | None:
    """``(app_id, path, query, batch)`` when the request is a publish this path serves, else None."""
    if method != "POST":
        return None
    url = urlsplit(target)
    path = unquote(url.path)
    match = _ROUTE.match(path)
    if match is None:
        return None
    query = signed_params(parse_qsl(url.query, keep_blank_values=True))
    return match.group(1), path, query, match.group(2) == "batch_events"


def response(status: int, body: dict[str, Any], *, close: bool, extra: str = "") -> bytes:
    payload = codec.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(payload)}\r\n{_CORS}{extra}"
        f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
    )
    return head.encode() + payload


async def serve_publish(
    state: ServerState, route: tuple[str, str, dict[str, str], bool], body: bytes, *, close: bool
) -> bytes:
    """Run one publish request and return the whole HTTP response; never raises."""
    app_id, path, query, batch = route
    try:
        reply = await handle_events(state, app_id, "POST", path, query, body, batch=batch)
    except RateLimited as error:
        _log(path, error.status, error.message)
        return response(
            error.status, {"error": error.message}, close=close, extra=f"Retry-After: {error.retry_after}\r\n"
        )
    except ApiError as error:
        _log(path, error.status, error.message)
        return response(error.status, {"error": error.message}, close=close)
    except Exception:
        logger.exception("bug in the HTTP API handling POST %s", path)
        return response(500, {"error": "internal server error"}, close=True)
    _log(path, 200, "")
    return response(200, reply, close=close)


def _log(path: str, status: int, message: str) -> None:
    """The access log of this path (aiohttp's does not see it); never the query, which carries the signature."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("POST %s -> %d %s", path, status, message)
