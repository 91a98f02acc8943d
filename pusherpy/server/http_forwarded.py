"""The client address on requests aiohttp serves: ``forwarded_middleware`` gives handlers the client that
``forwarded.TrustedProxies`` believes (``request.remote``, ``request.scheme``), and ``ClientAccessLogger`` writes
it into the access log (aiohttp's own logger would show the proxy's address, and the signed query).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .forwarded import ClientAddress
from .state import STATE

CLIENT_ADDRESS = web.RequestKey("pusherpy_client_address", ClientAddress)
"""The client of the request as it arrived, stored on it for the access log."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_address(request: web.Request) -> ClientAddress:
    """The client of ``request``: its peer, or who a trusted proxy says it is (see ``forwarded``)."""
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return request.app[STATE].proxies.client_address(peer[0] if isinstance(peer, tuple) else None, request.headers)


@web.middleware
async def forwarded_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hand the handler a request whose ``remote`` (and ``scheme``, when a trusted proxy said) is the client's."""
    proxies = request.app[STATE].proxies
    if not proxies:
        return await handler(request)
    client = request[CLIENT_ADDRESS] = client_address(request)
    remote = client.ip or "-"
    if client.scheme is None:
        return await handler(request.clone(remote=remote))
    return await handler(request.clone(remote=remote, scheme=client.scheme.replace("ws", "http")))


class ClientAccessLogger(AbstractAccessLogger):
    """``client "METHOD path" status bytes seconds``: the path without its query (which carries the signature)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        client = request.get(CLIENT_ADDRESS)
        ip = client.ip if isinstance(client, ClientAddress) else request.remote
        self.logger.info(
            '%s "%s %s" %d %d %.6f',
            ip or "-",
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
