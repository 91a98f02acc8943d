"""How the HTTP front answers: one mapping from an error to the refusal a client gets, written out either as raw
bytes (by the listener and the publish path, which answer without aiohttp) or as an aiohttp response.

Every refusal is JSON ``{"error": message}`` with its status, and ``Retry-After`` when it says when to try again;
an unexpected exception is logged as a bug and answered 500, never with a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web

from ..protocol import codec
from ..protocol.errors import ApiError
from .http_head import Refusal
from .path_prefix import unprefixed
from .state import STATE

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Requested-With",
}
_CORS_LINES: Final = "".join(f"{name}: {value}\r\n" for name, value in CORS_HEADERS.items())
_CORS_PATHS: Final = ("/apps/", "/users/")
INTERNAL_ERROR: Final = Refusal(status=500, message="internal server error")


def refusal_for(error: Exception, method: str, path: str) -> Refusal:
    """The refusal for an exception raised while answering ``method path``; logs it when it is a bug.

    Never the query in the log: it carries the signature.
    """
    if isinstance(error, ApiError):
        later = () if error.retry_after is None else (("Retry-After", str(error.retry_after)),)
        return Refusal(status=error.status, message=error.message, headers=later)
    if isinstance(error, web.HTTPException) and error.status >= 400:
        return Refusal(status=error.status, message=error.reason)
    logger.error("bug in the HTTP API handling %s %s", method, path, exc_info=error)
    return INTERNAL_ERROR


# -- written without aiohttp -------------------------------------------------------------------------------------


def response_bytes(
    status: int, body: Mapping[str, Any], *, close: bool, headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    """A whole HTTP/1.1 response with a JSON body and the CORS headers."""
    payload = codec.dumps(body).encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(payload)}\r\n{_CORS_LINES}{extra}"
        f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
    )
    return head.encode() + payload


def refusal_bytes(refusal: Refusal, *, close: bool) -> bytes:
    return response_bytes(refusal.status, {"error": refusal.message}, close=close, headers=refusal.headers)


# -- written by aiohttp ------------------------------------------------------------------------------------------


def refusal_response(refusal: Refusal) -> web.Response:
    return web.json_response({"error": refusal.message}, status=refusal.status, headers=dict(refusal.headers))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every refusal as JSON ``{"error": ...}`` with its status; never a traceback."""
    api_path = unprefixed(request.path, request.app[STATE].settings.path_prefix).startswith(_CORS_PATHS)
    if request.method == "OPTIONS" and api_path:
        return web.Response(status=204, headers=CORS_HEADERS)
    try:
        response = await handler(request)
    except Exception as error:
        if isinstance(error, web.HTTPException) and error.status < 400:
            raise
        response = refusal_response(refusal_for(error, request.method, request.path))
    if api_path and not response.prepared:
        response.headers.update(CORS_HEADERS)
    return response
