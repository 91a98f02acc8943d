"""aiohttp routes for Laravel Echo's default auth endpoints, on top of the framework-neutral ``auth`` core.

``POST /broadcasting/auth`` authorizes channels and ``POST /broadcasting/user-auth`` signs users in; both accept
form-encoded bodies (what pusher-js sends) and JSON bodies (what custom Echo authorizers with axios send). This
layer only reads the body and writes JSON: every decision is ``BroadcastAuth``'s.

Example::

    pusher = AsyncPusher.from_env()
    channels = ChannelRules()

    @channels.rule("conversation.{conversation_id}")
    def conversation(user, conversation_id):
        return conversation_id in user["conversations"]

    async def current_user(request: web.Request):
        token = bearer_token(request.headers.get("Authorization"))
        return None if token is None else decode_my_jwt(token)

    app.add_routes(broadcasting_routes(pusher, channels, current_user))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from pusherpy.protocol import codec

from .auth import (
    AuthResponse,
    BroadcastAuth,
    ChannelRules,
    Signer,
    UserDataGetter,
    UserIdGetter,
    UserResolver,
    default_user_id,
)

AUTH_PATH: Final = "/broadcasting/auth"
USER_AUTH_PATH: Final = "/broadcasting/user-auth"

Handler = Callable[[web.Request], Awaitable[web.Response]]


class _BadBody(Exception):
    pass


async def read_auth_body(request: web.Request) -> Mapping[str, Any]:
    """Return the request's fields from a JSON object body or a form body.

    Raises:
        _BadBody: the body is not a JSON object or a form.
    """
    if request.content_type == "application/json":
        try:
            data = codec.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise _BadBody("body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _BadBody("JSON body must be an object")
        return data
    try:
        return await request.post()
    except ValueError:
        raise _BadBody("body is not a form") from None


def _json(response: AuthResponse) -> web.Response:
    return web.Response(
        status=response.status,
        text=codec.dumps(response.body),
        content_type="application/json",
    )


def auth_handlers(auth: BroadcastAuth[web.Request]) -> tuple[Handler, Handler]:
    """Return the ``(channel_auth, user_auth)`` handlers for ``auth``, to mount at paths of your choice."""

    async def channel_auth(request: web.Request) -> web.Response:
        try:
            data = await read_auth_body(request)
        except _BadBody as exc:
            return _json(AuthResponse.error(400, str(exc)))
        return _json(await auth.authorize_channel(request, data))

    async def user_auth(request: web.Request) -> web.Response:
        try:
            data = await read_auth_body(request)
        except _BadBody as exc:
            return _json(AuthResponse.error(400, str(exc)))
        return _json(await auth.authenticate_user(request, data))

    return channel_auth, user_auth


def broadcasting_routes(
    signer: Signer,
    rules: ChannelRules,
    resolve_user: UserResolver[web.Request],
    *,
    user_id: UserIdGetter = default_user_id,
    user_data: UserDataGetter | None = None,
    auth_path: str = AUTH_PATH,
    user_auth_path: str = USER_AUTH_PATH,
) -> list[web.RouteDef]:
    """Return the two POST routes Laravel Echo calls by default; mount them with ``app.add_routes``.

    Args:
        signer: a ``Pusher`` or ``AsyncPusher`` (only its offline signing is used).
        rules: the channel rules.
        resolve_user: ``request -> user | None``, sync or async (a session lookup, a JWT check...).
        user_id: ``user -> id``; ``user["id"]`` or ``user.id`` by default.
        user_data: ``user -> {"id": ..., "user_info": ...}`` for sign-in; ``{"id": user_id(user)}`` by default.
        auth_path: where channel authorization is mounted.
        user_auth_path: where user authentication is mounted.
    """
    auth = BroadcastAuth(signer, rules, resolve_user, user_id=user_id, user_data=user_data)
    channel_auth, user_auth = auth_handlers(auth)
    return [web.post(auth_path, channel_auth), web.post(user_auth_path, user_auth)]
