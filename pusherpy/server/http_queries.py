"""Reading and steering state through the HTTP API: channels, users, connections, and terminating a user."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ..protocol import codec
from ..protocol.apps import AppConfig
from ..protocol.channels import channel_name_problem, classify
from ..protocol.errors import ApiError
from .http_auth import signed_request
from .http_events import TRIGGER_INFO_ATTRIBUTES, info_attributes
from .state import STATE

CHANNEL_INFO_ATTRIBUTES: Final = frozenset({"user_count", "subscription_count", "cache"})


async def list_channels(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/channels"""
    state = request.app[STATE]
    app, _ = await signed_request(request)
    prefix = request.query.get("filter_by_prefix", "")
    attributes = info_attributes(request.query.get("info"), TRIGGER_INFO_ATTRIBUTES)
    if "user_count" in attributes and not prefix.startswith("presence-"):
        raise ApiError(400, "info=user_count needs filter_by_prefix=presence-")
    channels = await state.broker.channels(app, prefix)
    result: dict[str, dict[str, int]] = {}
    for name, info in channels.items():
        entry: dict[str, int] = {}
        if "user_count" in attributes and info.user_count is not None:
            entry["user_count"] = info.user_count
        if "subscription_count" in attributes:
            entry["subscription_count"] = info.subscription_count
        result[name] = entry
    return web.json_response({"channels": result})


def channel_from_path(request: web.Request) -> str:
    channel = request.match_info["channel_name"]
    problem = channel_name_problem(channel)
    if problem is not None:
        raise ApiError(400, f"{channel[:210]!r}: {problem}")
    return channel


async def channel_info(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/channels/{channel_name}"""
    state = request.app[STATE]
    app, _ = await signed_request(request)
    channel = channel_from_path(request)
    attributes = info_attributes(request.query.get("info"), CHANNEL_INFO_ATTRIBUTES)
    channel_type = classify(channel)
    if "user_count" in attributes and not channel_type.is_presence:
        raise ApiError(400, "user_count is only available for presence channels")
    if "cache" in attributes and not channel_type.cached:
        raise ApiError(400, "cache is only available for cache channels")
    info = await state.broker.channel_info(app, channel)
    result: dict[str, Any] = {"occupied": info.occupied}
    if "user_count" in attributes:
        result["user_count"] = info.user_count or 0
    if "subscription_count" in attributes:
        result["subscription_count"] = info.subscription_count
    if "cache" in attributes:
        entry = await state.broker.cache_entry(app, channel)
        if entry is not None:
            cached = codec.loads(entry.text)
            result["cache"] = {"event": cached.get("event"), "data": cached.get("data"), "ttl": int(entry.ttl)}
    return web.json_response(result)


async def channel_users(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/channels/{channel_name}/users"""
    state = request.app[STATE]
    app, _ = await signed_request(request)
    channel = channel_from_path(request)
    if not classify(channel).is_presence:
        raise ApiError(400, "users are only available for presence channels")
    user_ids = await state.broker.presence_user_ids(app, channel)
    return web.json_response({"users": [{"id": user_id} for user_id in user_ids]})


async def connection_count(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/connections (as Reverb has it)"""
    state = request.app[STATE]
    app, _ = await signed_request(request)
    return web.json_response({"connections": await state.broker.connection_count(app)})


async def terminate_user_connections(request: web.Request) -> web.Response:
    """POST /apps/{app_id}/users/{user_id}/terminate_connections, and the unprefixed path
    ``/users/{user_id}/terminate_connections`` that pusher-http-python calls (app found by ``auth_key``)."""
    state = request.app[STATE]
    app: AppConfig | None = None
    if "app_id" not in request.match_info:
        app = state.apps_by_key.get(request.query.get("auth_key", ""))
        if app is None:
            raise ApiError(401, "auth_key does not belong to any app")
    app, _ = await signed_request(request, app)
    user_id = request.match_info["user_id"]
    if channel_name_problem(user_id) is not None:
        raise ApiError(400, "invalid user id")
    await state.broker.terminate_user(app, user_id)
    return web.json_response({})
