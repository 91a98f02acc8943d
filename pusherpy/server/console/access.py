"""Who may use the console, request by request (the aiohttp side of ``auth.py``), and what its handlers share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from ...protocol.apps import AppConfig
from ...protocol.errors import ApiError
from ..http_auth import app_by_id
from ..state import STATE
from .auth import COOKIE_NAME, ConsoleAuth, loopback_host, same_origin
from .hub import Watcher
from .stats import MessageRates


@dataclass(slots=True)
class ConsoleWeb:
    """What the console's handlers share on one server: its keys, message rates and open log streams."""

    auth: ConsoleAuth
    rates: MessageRates
    streams: set[Watcher] = field(default_factory=set)
    closing: asyncio.Event = field(default_factory=asyncio.Event)


CONSOLE = web.AppKey("pusherpy_console", ConsoleWeb)


def console_of(request: web.Request) -> ConsoleWeb:
    """The console, for a request it may answer at all (see ``auth`` on a console without a password)."""
    console = request.app[CONSOLE]
    if not console.auth.needs_login and not loopback_host(request.host):
        # A console without a password answers to loopback names only: a rebinding DNS name is someone else's page.
        raise ApiError(403, "this console has no password, so it only answers at a loopback address (localhost)")
    return console


def signed_in(request: web.Request, console: ConsoleWeb) -> bool:
    """Whether the request carries a valid session (always, on a console without a password)."""
    return console.auth.session_valid(request.cookies.get(COOKIE_NAME), time.time())


def check_post(request: web.Request, console: ConsoleWeb, presented: str | None) -> None:
    """A POST from a page of this console: same origin, signed in, and the session's CSRF token."""
    if not same_origin(request.headers, request.host):
        raise ApiError(403, "the request does not come from this console's page (Origin/Referer)")
    if not signed_in(request, console):
        raise ApiError(401, "log in to the console first")
    if not console.auth.csrf_valid(request.cookies.get(COOKIE_NAME), presented):
        raise ApiError(403, "missing or wrong CSRF token: reload the console page")


def require_session(request: web.Request) -> ConsoleWeb:
    """The console, for a request of a signed-in browser (401 otherwise)."""
    console = console_of(request)
    if not signed_in(request, console):
        raise ApiError(401, "log in to the console first")
    return console


def admitted_app(request: web.Request) -> AppConfig:
    """The app of an ``/console/api/apps/{app_id}/...`` request from a signed-in console."""
    require_session(request)
    return app_by_id(request.app[STATE], request.match_info["app_id"])
