"""The chat's HTTP API, under ``/api``; errors are JSON ``{"error": message}`` with the status that fits.

- ``POST /api/login`` ``{username, password}``: ``{token, user}``, or 401.
- ``GET /api/demo-users``: the demo users with their passwords (for the login picker).
- ``GET /api/config``: where pusher-js connects, ``{pusher: {key, wsHost, wsPort, forceTLS}}``.
- ``GET /api/me`` (bearer): the user.
- ``GET /api/conversations`` (bearer): the user's conversations with their members.
- ``GET /api/conversations/{id}/messages`` (members): ``{conversation, messages}``; a streaming message carries
  its stored text and ``last_sequence``, the sequence of its last stored chunk.
- ``POST /api/conversations/{id}/messages`` ``{content}`` (members): 202 ``{message, reply}``; the reply streams
  in the background.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from pusherpy.publisher import bearer_token

from .assistant import Assistant
from .config import ChatConfig
from .events import message_json
from .store import Conversation, ConversationStore
from .users import DEMO_USERS, Tokens, User, avatar_svg, check_password

MAX_MESSAGE_CHARS: Final = 4000

CONFIG: Final = web.AppKey("chat_config", ChatConfig)
STORE: Final = web.AppKey("chat_store", ConversationStore)
TOKENS: Final = web.AppKey("chat_tokens", Tokens)
ASSISTANT: Final = web.AppKey("chat_assistant", Assistant)


class ApiError(Exception):
    """Answered as ``{"error": message}`` with ``status`` by ``error_middleware``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return web.json_response({"error": error.message}, status=error.status)


def current_user(request: web.Request) -> User | None:
    """The user of the request's bearer token, or None; also the resolver of ``/broadcasting/auth``."""
    token = bearer_token(request.headers.get("Authorization"))
    return None if token is None else request.app[TOKENS].user_for(token)


def _require_user(request: web.Request) -> User:
    user = current_user(request)
    if user is None:
        raise ApiError(401, "log in first: send Authorization: Bearer <token from POST /api/login>")
    return user


async def _require_membership(request: web.Request) -> tuple[User, Conversation]:
    user = _require_user(request)
    text = request.match_info["conversation_id"]
    conversation = await request.app[STORE].conversation(int(text)) if text.isdecimal() and len(text) < 19 else None
    if conversation is None:
        raise ApiError(404, "no such conversation")
    if user.id not in conversation.member_ids:
        raise ApiError(403, "you are not a member of this conversation")
    return user, conversation


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _conversation_json(conversation: Conversation) -> dict[str, Any]:
    members = [DEMO_USERS[member].public() for member in conversation.member_ids if member in DEMO_USERS]
    return {"id": conversation.id, "title": conversation.title, "members": members}


async def login(request: web.Request) -> web.Response:
    body = await _json_object(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "username and password are required")
    user = check_password(username, password)
    if user is None:
        raise ApiError(401, "wrong username or password")
    return web.json_response({"token": request.app[TOKENS].issue(user), "user": user.public()})


async def demo_users(request: web.Request) -> web.Response:
    return web.json_response([{**user.public(), "password": user.password} for user in DEMO_USERS.values()])


async def browser_config(request: web.Request) -> web.Response:
    browser = request.app[CONFIG].browser
    pusher = {"key": browser.key, "wsHost": browser.ws_host, "wsPort": browser.ws_port, "forceTLS": browser.force_tls}
    return web.json_response({"pusher": pusher})


async def me(request: web.Request) -> web.Response:
    return web.json_response(_require_user(request).public())


async def conversations(request: web.Request) -> web.Response:
    user = _require_user(request)
    found = await request.app[STORE].conversations_of(user.id)
    return web.json_response([_conversation_json(conversation) for conversation in found])


async def list_messages(request: web.Request) -> web.Response:
    _, conversation = await _require_membership(request)
    messages = await request.app[STORE].messages(conversation.id)
    return web.json_response(
        {"conversation": _conversation_json(conversation), "messages": [message_json(m) for m in messages]}
    )


async def send_message(request: web.Request) -> web.Response:
    user, conversation = await _require_membership(request)
    content = (await _json_object(request)).get("content")
    if not isinstance(content, str) or not content.strip():
        raise ApiError(422, "content must be a non-empty string")
    if len(content) > MAX_MESSAGE_CHARS:
        raise ApiError(422, f"content is longer than {MAX_MESSAGE_CHARS} characters")
    store = request.app[STORE]
    question = await store.add_user_message(conversation.id, user.id, content.strip())
    answer = await store.start_assistant_message(conversation.id)
    request.app[ASSISTANT].reply(question, answer)
    return web.json_response({"message": message_json(question), "reply": message_json(answer)}, status=202)


async def avatar(request: web.Request) -> web.Response:
    user = DEMO_USERS.get(request.match_info["user_id"])
    if user is None:
        raise ApiError(404, "no such user")
    return web.Response(text=avatar_svg(user), content_type="image/svg+xml")


def api_routes() -> list[web.RouteDef]:
    return [
        web.post("/api/login", login),
        web.get("/api/demo-users", demo_users),
        web.get("/api/config", browser_config),
        web.get("/api/me", me),
        web.get("/api/conversations", conversations),
        web.get("/api/conversations/{conversation_id}/messages", list_messages),
        web.post("/api/conversations/{conversation_id}/messages", send_message),
        web.get("/avatars/{user_id}.svg", avatar),
    ]
