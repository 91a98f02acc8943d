"""The signed HTTP API (``/apps/{app_id}/...``), plus ``/up`` and ``/metrics``.

Every ``/apps`` request is checked as Pusher signs it (``protocol.signing``): ``auth_key``, ``auth_timestamp``
within ±600 s, ``auth_version``, ``body_md5`` when present (pusher-http-python sends it on GETs too), and
``auth_signature`` compared in constant time. Refusals raise ``ApiError``; ``error_middleware`` is the one place
that turns them (and aiohttp's own HTTP errors) into ``{"error": ...}`` JSON.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from ..protocol import codec, signing
from ..protocol.apps import AppConfig
from ..protocol.channels import ChannelKind, channel_name_problem, classify, event_name_problem, is_valid_socket_id
from ..protocol.errors import ApiError
from ..protocol.events import ChannelEvent
from ..protocol.ratelimit import RateWindow
from .metrics import process_gauges
from .state import STATE, ServerState

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TRIGGER_INFO_ATTRIBUTES = frozenset({"user_count", "subscription_count"})
CHANNEL_INFO_ATTRIBUTES = frozenset({"user_count", "subscription_count", "cache"})
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Requested-With",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every refusal as JSON ``{"error": ...}`` with its status; never a traceback."""
    if request.method == "OPTIONS" and request.path.startswith(("/apps/", "/users/")):
        return web.Response(status=204, headers=CORS_HEADERS)
    try:
        response = await handler(request)
    except ApiError as error:
        response = web.json_response({"error": error.message}, status=error.status)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = web.json_response({"error": error.reason}, status=error.status)
    except Exception:
        logger.exception("bug in the HTTP API handling %s %s", request.method, request.path)
        response = web.json_response({"error": "internal server error"}, status=500)
    if request.path.startswith(("/apps/", "/users/")) and not response.prepared:
        response.headers.update(CORS_HEADERS)
    return response


# -- request checks --------------------------------------------------------------------------------------------


def _app_by_id(state: ServerState, request: web.Request) -> AppConfig:
    app = state.apps_by_id.get(request.match_info["app_id"])
    if app is None:
        raise ApiError(404, "unknown app id")
    return app


class RateLimited(ApiError):
    """429: the app is over ``max_api_requests_per_second``; ``retry_after`` whole seconds go in ``Retry-After``."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(429, f"rate limit exceeded: at most {limit} API requests per second")
        self.retry_after = retry_after


async def _read_body(state: ServerState, request: web.Request) -> bytes:
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


def _check_api_rate(state: ServerState, app: AppConfig) -> None:
    """Count one signed request against the app's ``max_api_requests_per_second``.

    Counted after the signature check, so strangers cannot use up an app's allowance.
    """
    if app.max_api_requests_per_second <= 0:
        return
    window = state.api_rates.get(app.id)
    if window is None or window.limit != app.max_api_requests_per_second:
        window = state.api_rates[app.id] = RateWindow(app.max_api_requests_per_second)
    now = time.monotonic()
    if not window.allow(now):
        raise RateLimited(window.limit, max(1, math.ceil(window.retry_after(now))))


def verify_signature(app: AppConfig, method: str, path: str, query: dict[str, str], body: bytes, now: float) -> None:
    """Check a request's Pusher signature.

    Raises:
        ApiError: 401 with the reason (missing parameter, wrong key, stale timestamp, body_md5, signature).
    """
    for name in ("auth_key", "auth_timestamp", "auth_version", "auth_signature"):
        if not query.get(name):
            raise ApiError(401, f"missing {name} in the query")
    if not signing.constant_time_equals(query["auth_key"], app.key):
        raise ApiError(401, "auth_key does not belong to this app")
    try:
        timestamp = int(query["auth_timestamp"])
    except ValueError:
        raise ApiError(401, "auth_timestamp is not a number") from None
    if abs(now - timestamp) > signing.TIMESTAMP_WINDOW_SECONDS:
        raise ApiError(401, f"auth_timestamp is more than {signing.TIMESTAMP_WINDOW_SECONDS} s from the server's time")
    if body or "body_md5" in query:
        if not signing.constant_time_equals(query.get("body_md5", ""), signing.body_md5(body)):
            raise ApiError(401, "body_md5 does not match the body")
    expected = signing.sign_request(app.secret, method, path, query)
    if not signing.constant_time_equals(query["auth_signature"], expected):
        raise ApiError(401, "invalid signature")


def signed_params(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The query as signed: repeated keys (``channels[]=``) are joined with commas, in order."""
    query: dict[str, str] = {}
    for key, value in pairs:
        query[key] = f"{query[key]},{value}" if key in query else value
    return query


def _query(request: web.Request) -> dict[str, str]:
    return signed_params(request.query.items())


async def _signed_request(request: web.Request, app: AppConfig | None = None) -> tuple[AppConfig, bytes]:
    state = request.app[STATE]
    if app is None:
        app = _app_by_id(state, request)
    body = await _read_body(state, request)
    verify_signature(app, request.method, request.path, _query(request), body, time.time())
    if not app.enabled:
        raise ApiError(403, "this app is disabled")
    _check_api_rate(state, app)
    state.metrics.count(app.id, "api_requests")
    return app, body


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = codec.loads(body)
    except (codec.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "body must be a JSON object")
    return value


def _attributes(raw: object, allowed: frozenset[str]) -> list[str]:
    if raw is None or raw == "":
        return []
    if not isinstance(raw, str):
        raise ApiError(400, "info must be a comma-separated string")
    attributes = [a.strip() for a in raw.split(",") if a.strip()]
    unknown = [a for a in attributes if a not in allowed]
    if unknown:
        raise ApiError(400, f"unknown info attribute {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    return attributes


# -- events ------------------------------------------------------------------------------------------------------


class _Trigger:
    """One validated event to publish on one or more channels."""

    __slots__ = ("name", "data", "channels", "socket_id", "info")

    def __init__(self, app: AppConfig, item: dict[str, Any], *, single_channel: bool) -> None:
        name = item.get("name")
        problem = event_name_problem(name)
        if problem is not None:
            raise ApiError(400, problem)
        assert isinstance(name, str)
        self.name = name
        if "data" not in item:
            raise ApiError(400, "missing data")
        self.data = codec.encode_data(item["data"])
        if len(self.data.encode()) > app.max_event_payload_bytes:
            raise ApiError(413, f"event data is larger than {app.max_event_payload_kb} KB")
        self.channels = self._channels(app, item, single_channel)
        socket_id = item.get("socket_id")
        if socket_id is not None and not is_valid_socket_id(socket_id):
            raise ApiError(400, "socket_id must look like 123.456")
        self.socket_id: str | None = socket_id
        self.info = _attributes(item.get("info"), TRIGGER_INFO_ATTRIBUTES)

    @staticmethod
    def _channels(app: AppConfig, item: dict[str, Any], single_channel: bool) -> list[str]:
        if "channels" in item and not single_channel:
            channels = item["channels"]
            if not isinstance(channels, list) or not channels:
                raise ApiError(400, "channels must be a non-empty list of channel names")
        elif "channel" in item:
            channels = [item["channel"]]
        else:
            raise ApiError(400, "missing channel" if single_channel else "missing channels")
        if len(channels) > app.max_channels_per_trigger:
            raise ApiError(400, f"at most {app.max_channels_per_trigger} channels per event")
        for channel in channels:
            problem = channel_name_problem(channel)
            if problem is not None:
                raise ApiError(400, f"{str(channel)[:210]!r}: {problem}")
        if len(channels) > 1 and any(classify(c).kind is ChannelKind.ENCRYPTED for c in channels):
            raise ApiError(400, "an event on an encrypted channel must be sent to that channel alone")
        return list(channels)

    async def publish(self, state: ServerState, app: AppConfig) -> dict[str, Any]:
        """Publish to every channel; return the ``info`` attributes per channel (empty when none asked)."""
        for channel in self.channels:
            text = codec.encode(ChannelEvent(event=self.name, channel=channel, data=self.data))
            await state.broker.publish(app, channel, text, self.socket_id)
        state.metrics.count(app.id, "api_messages", len(self.channels))
        if not self.info:
            return {}
        return {channel: await _trigger_info(state, app, channel, self.info) for channel in self.channels}


async def _trigger_info(state: ServerState, app: AppConfig, channel: str, attributes: list[str]) -> dict[str, int]:
    info = await state.broker.channel_info(app, channel)
    result: dict[str, int] = {}
    if "user_count" in attributes and info.user_count is not None:
        result["user_count"] = info.user_count
    if "subscription_count" in attributes:
        result["subscription_count"] = info.subscription_count
    return result


async def handle_events(
    state: ServerState, app_id: str, method: str, path: str, query: dict[str, str], body: bytes, *, batch: bool
) -> dict[str, Any]:
    """Check and publish ``POST /apps/{app_id}/events`` (or ``batch_events``), whatever transport carried it.

    Returns:
        the JSON reply.

    Raises:
        ApiError: the refusal, with its status.
    """
    app = state.apps_by_id.get(app_id)
    if app is None:
        raise ApiError(404, "unknown app id")
    verify_signature(app, method, path, query, body, time.time())
    if not app.enabled:
        raise ApiError(403, "this app is disabled")
    _check_api_rate(state, app)
    state.metrics.count(app.id, "api_requests")
    if batch:
        return await _publish_batch(state, app, body)
    trigger = _Trigger(app, _json_object(body), single_channel=False)
    info = await trigger.publish(state, app)
    return {"channels": info} if trigger.info else {}


async def _publish_batch(state: ServerState, app: AppConfig, body: bytes) -> dict[str, Any]:
    batch = _json_object(body).get("batch")
    if not isinstance(batch, list) or not batch:
        raise ApiError(400, "batch must be a non-empty list of events")
    if len(batch) > app.max_batch_size:
        raise ApiError(400, f"at most {app.max_batch_size} events per batch")
    if not all(isinstance(item, dict) for item in batch):
        raise ApiError(400, "every batch item must be an object")
    triggers = [_Trigger(app, item, single_channel=True) for item in batch]
    results = [await trigger.publish(state, app) for trigger in triggers]
    if not any(trigger.info for trigger in triggers):
        return {}
    return {"batch": [result.get(t.channels[0], {}) for t, result in zip(triggers, results, strict=True)]}


async def trigger_event(request: web.Request) -> web.Response:
    """POST /apps/{app_id}/events (when it reaches aiohttp; the listener serves most of them itself)"""
    return await _events(request, batch=False)


async def trigger_batch(request: web.Request) -> web.Response:
    """POST /apps/{app_id}/batch_events"""
    return await _events(request, batch=True)


async def _events(request: web.Request, *, batch: bool) -> web.Response:
    state = request.app[STATE]
    app_id = request.match_info["app_id"]
    if app_id not in state.apps_by_id:
        raise ApiError(404, "unknown app id")
    body = await _read_body(state, request)
    reply = await handle_events(state, app_id, request.method, request.path, _query(request), body, batch=batch)
    return web.json_response(reply)


# -- queries -----------------------------------------------------------------------------------------------------


async def list_channels(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/channels"""
    state = request.app[STATE]
    app, _ = await _signed_request(request)
    prefix = request.query.get("filter_by_prefix", "")
    attributes = _attributes(request.query.get("info"), TRIGGER_INFO_ATTRIBUTES)
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


def _channel_from_path(request: web.Request) -> str:
    channel = request.match_info["channel_name"]
    problem = channel_name_problem(channel)
    if problem is not None:
        raise ApiError(400, f"{channel[:210]!r}: {problem}")
    return channel


async def channel_info(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/channels/{channel_name}"""
    state = request.app[STATE]
    app, _ = await _signed_request(request)
    channel = _channel_from_path(request)
    attributes = _attributes(request.query.get("info"), CHANNEL_INFO_ATTRIBUTES)
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
    app, _ = await _signed_request(request)
    channel = _channel_from_path(request)
    if not classify(channel).is_presence:
        raise ApiError(400, "users are only available for presence channels")
    user_ids = await state.broker.presence_user_ids(app, channel)
    return web.json_response({"users": [{"id": user_id} for user_id in user_ids]})


async def connection_count(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/connections (as Reverb has it)"""
    state = request.app[STATE]
    app, _ = await _signed_request(request)
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
    app, _ = await _signed_request(request, app)
    user_id = request.match_info["user_id"]
    if channel_name_problem(user_id) is not None:
        raise ApiError(400, "invalid user id")
    await state.broker.terminate_user(app, user_id)
    return web.json_response({})


# -- health and metrics ------------------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    """GET /up: 200 ``{"health": "OK"}``, or 503 ``{"health": "DEGRADED"}`` while the broker is unreachable."""
    state = request.app[STATE]
    if state.shutting_down:
        return web.json_response({"health": "SHUTTING_DOWN"}, status=503)
    if not state.broker.healthy:
        return web.json_response({"health": "DEGRADED"}, status=503)
    return web.json_response({"health": "OK"})


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text."""
    state = request.app[STATE]
    empty = {"connections": 0, "channels": 0, "subscriptions": 0}
    gauges: dict[str, dict[str, Any]] = {app.id: dict(empty) for app in state.settings.apps}
    gauges.update(state.broker.stats())
    text = state.metrics.render(gauges, healthy=state.broker.healthy, process=process_gauges())
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def add_routes(application: web.Application) -> None:
    application.router.add_post("/apps/{app_id}/events", trigger_event)
    application.router.add_post("/apps/{app_id}/batch_events", trigger_batch)
    application.router.add_get("/apps/{app_id}/channels", list_channels)
    application.router.add_get("/apps/{app_id}/channels/{channel_name}", channel_info)
    application.router.add_get("/apps/{app_id}/channels/{channel_name}/users", channel_users)
    application.router.add_get("/apps/{app_id}/connections", connection_count)
    application.router.add_post("/apps/{app_id}/users/{user_id}/terminate_connections", terminate_user_connections)
    application.router.add_post("/users/{user_id}/terminate_connections", terminate_user_connections)
    application.router.add_get("/up", health)
    application.router.add_get("/metrics", metrics)
