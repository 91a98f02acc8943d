"""The debug console's routes: the page, login and logout, JSON reads, the live log (Server-Sent Events) and the
event creator. Added only when ``console = true`` (otherwise ``/console`` is a 404 like any unknown path).

Why SSE for the log: the log only flows one way; ``EventSource`` reconnects by itself and sends the session cookie
same-origin; a console is no Pusher connection, so it never counts against an app's quota nor shows in its
metrics; and there is nothing to sign. Counters and channels are plain JSON polled by the page, and the event
creator publishes through the HTTP API's own path (``http_events.publish_admitted``): same checks, history,
idempotency and answers.

The page is static HTML, one JavaScript module and one stylesheet shipped inside the package (``static/``): no
build step, and it works from a wheel.
"""

from __future__ import annotations

import functools
import time
from importlib import resources
from typing import Final

from aiohttp import web

from ...protocol import codec
from ...protocol.errors import ApiError
from ..http_events import publish_admitted
from ..state import STATE
from .access import CONSOLE, ConsoleWeb, admitted_app, check_post, console_of, require_session, signed_in
from .auth import COOKIE_NAME, CSRF_HEADER, ConsoleAuth, same_origin
from .log_stream import log_stream
from .stats import MessageRates, app_stats, channel_list

MAX_FORM_BYTES: Final = 4096
_STATIC: Final = {"console.js": "text/javascript", "console.css": "text/css"}
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def add_console_routes(application: web.Application, path_prefix: str = "") -> None:
    """Serve the console at ``/console`` (and under ``path_prefix``); call only when ``console = true``."""
    state = application[STATE]
    application[CONSOLE] = ConsoleWeb(ConsoleAuth(state.settings.console_password), MessageRates(state.metrics))
    application.on_shutdown.append(_end_streams)
    router = application.router
    for base in dict.fromkeys(("", path_prefix)):
        root = f"{base}/console"
        router.add_get(root, page)
        router.add_post(f"{root}/login", login)
        router.add_post(f"{root}/logout", logout)
        router.add_get(f"{root}/static/{{name}}", static_file)
        router.add_get(f"{root}/api/apps", list_apps)
        router.add_get(f"{root}/api/apps/{{app_id}}/stats", stats)
        router.add_get(f"{root}/api/apps/{{app_id}}/channels", channels)
        router.add_get(f"{root}/api/apps/{{app_id}}/log", log_stream)
        router.add_post(f"{root}/api/apps/{{app_id}}/events", send_event)


async def _end_streams(application: web.Application) -> None:
    application[CONSOLE].closing.set()


@functools.cache
def _read_static(name: str) -> str:
    """A file of ``static/`` (package data; read once per process)."""
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=_PAGE_HEADERS)


async def page(request: web.Request) -> web.Response:
    """GET /console: the console, or the login form."""
    console = console_of(request)
    if not signed_in(request, console):
        return _login_page("", here="console/")
    token = console.auth.csrf_token(request.cookies.get(COOKIE_NAME))
    text = _read_static("index.html").replace("{{csrf}}", token)
    return _html(text.replace("{{login}}", "true" if console.auth.needs_login else "false"))


def _login_page(message: str, status: int = 200, *, here: str = "") -> web.Response:
    """The login form; ``here`` leads from the page's URL to the console's directory (relative, so a proxy's path
    prefix needs no configuration): ``console/`` from ``/console``, nothing from ``/console/login``."""
    notice = f'<p class="error" role="alert">{message}</p>' if message else ""
    text = _read_static("login.html").replace("{{message}}", notice).replace("{{here}}", here)
    return _html(text, status)


async def login(request: web.Request) -> web.Response:
    """POST /console/login (form field ``password``): a session cookie, then back to the console."""
    console = console_of(request)
    if not same_origin(request.headers, request.host):
        raise ApiError(403, "the login form must be posted from this console's page (Origin/Referer)")
    if not console.auth.needs_login:
        raise web.HTTPSeeOther("../console")
    if not console.auth.attempt_allowed(request.remote or "", time.monotonic()):
        return _login_page("Too many login attempts; wait a second and try again.", 429)
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise ApiError(413, "login form too large")
    form = await request.post()
    password = form.get("password")
    if not isinstance(password, str) or not console.auth.password_matches(password):
        return _login_page("Wrong password.", 401)
    response = web.HTTPSeeOther("../console")
    # No Path attribute (an empty one is left out): the browser scopes the cookie to the directory of
    # /…/console/login as it sees it, which is the console's own path whether or not a proxy strips a path prefix.
    response.set_cookie(
        COOKIE_NAME,
        console.auth.new_session(time.time()),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="",
    )
    raise response


async def logout(request: web.Request) -> web.Response:
    """POST /console/logout (form field ``csrf``): end the session in this browser."""
    console = console_of(request)
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise ApiError(413, "logout form too large")
    form = await request.post()
    token = form.get("csrf")
    check_post(request, console, token if isinstance(token, str) else None)
    response = web.HTTPSeeOther("../console")
    response.del_cookie(COOKIE_NAME, path="")
    raise response


async def static_file(request: web.Request) -> web.Response:
    """GET /console/static/{name}: the page's script and stylesheet (public: they hold no data)."""
    name = request.match_info["name"]
    content_type = _STATIC.get(name)
    if content_type is None:
        raise ApiError(404, "no such console file")
    return web.Response(
        text=_read_static(name), content_type=content_type, charset="utf-8", headers={"Cache-Control": "no-cache"}
    )


async def list_apps(request: web.Request) -> web.Response:
    """GET /console/api/apps"""
    require_session(request)
    apps = request.app[STATE].apps_by_id.values()
    return web.json_response(
        {"apps": [{"id": app.id, "name": app.name, "key": app.key, "enabled": app.enabled} for app in apps]}
    )


async def stats(request: web.Request) -> web.Response:
    """GET /console/api/apps/{app_id}/stats"""
    app = admitted_app(request)
    rates = request.app[CONSOLE].rates
    return web.json_response(await app_stats(request.app[STATE], rates, app, time.monotonic()))


async def channels(request: web.Request) -> web.Response:
    """GET /console/api/apps/{app_id}/channels?filter_by_prefix="""
    app = admitted_app(request)
    prefix = request.query.get("filter_by_prefix", "")[:200]
    return web.json_response(await channel_list(request.app[STATE], app, prefix))


async def send_event(request: web.Request) -> web.Response:
    """POST /console/api/apps/{app_id}/events: ``{"channel", "event", "data"}`` published as the HTTP API would."""
    console = console_of(request)
    check_post(request, console, request.headers.get(CSRF_HEADER))
    app = admitted_app(request)
    state = request.app[STATE]
    if (request.content_length or 0) > state.settings.max_request_body_bytes:
        raise ApiError(413, "request body too large")
    try:
        item = codec.loads(await request.read())
    except (codec.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(item, dict):
        raise ApiError(400, "body must be a JSON object")
    body = {"name": item.get("event"), "channel": item.get("channel"), "data": item.get("data")}
    if "data" not in item:
        del body["data"]
    reply = await publish_admitted(state, app, codec.dumps(body).encode(), batch=False)
    return web.json_response(reply)
