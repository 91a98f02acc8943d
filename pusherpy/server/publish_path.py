"""The HTTP publish path served without aiohttp: ``POST /apps/{app_id}/events`` and ``/batch_events``.

When many channels have few subscribers, the cost of a publish is the cost of its HTTP request, and aiohttp's
request machinery was most of it (profiled: ~70 % of the server's CPU per publish). The listener, which already
reads every connection's request head, serves these two routes itself on keep-alive connections, with the same
checks and handler as aiohttp's route (``http_events.handle_events``) and the same error answers
(``http_reply.refusal_for``); anything unusual (chunked bodies, ``Expect``, other routes) still goes to aiohttp.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from .http_auth import ApiRates, signed_params
from .http_events import handle_events
from .http_head import query_pairs, split_target
from .http_reply import refusal_bytes, refusal_for, response_bytes
from .path_prefix import unprefixed
from .state import ServerState

logger = logging.getLogger(__name__)

_ROUTE: Final = re.compile(r"\A/apps/([^/]+)/(events|batch_events)\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRoute:
    """A publish this path serves: the app id and path from the target, and the query as signed."""

    app_id: str
    path: str
    """As it arrived (decoded), prefix included if the proxy kept it: the signature is checked against both forms."""
    query: Mapping[str, str]
    batch: bool


def publish_route(method: str, target: str, prefix: str) -> PublishRoute | None:
    """The route when the request is a publish this path serves, at its path with or without ``prefix``, else
    None (a target that is not a path, such as a proxy's absolute URL, is left to aiohttp)."""
    if method != "POST" or not target.startswith("/"):
        return None
    raw_path, raw_query = split_target(target)
    path = unquote(raw_path)
    match = _ROUTE.match(unprefixed(path, prefix))
    if match is None:
        return None
    query = signed_params(query_pairs(raw_query, keep_blank_values=True))
    return PublishRoute(app_id=match.group(1), path=path, query=query, batch=match.group(2) == "batch_events")


async def serve_publish(
    state: ServerState, rates: ApiRates, route: PublishRoute, body: bytes, client_ip: str | None, *, close: bool
) -> bytes:
    """Run one publish request and return the whole HTTP response; never raises.

    Args:
        client_ip: the client's address as ``forwarded`` believes it, for the access log.
    """
    try:
        reply = await handle_events(
            state, rates, route.app_id, "POST", route.path, route.query, body, batch=route.batch
        )
    except Exception as error:
        refusal = refusal_for(error, "POST", route.path)
        _log(client_ip, route.path, refusal.status, refusal.message)
        return refusal_bytes(refusal, close=close or refusal.status >= 500)
    _log(client_ip, route.path, 200, "")
    return response_bytes(200, reply, close=close)


def _log(client_ip: str | None, path: str, status: int, message: str) -> None:
    """The access log of this path (aiohttp's does not see it); never the query, which carries the signature."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug('%s "POST %s" %d %s', client_ip or "-", path, status, message)
