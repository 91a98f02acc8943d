"""Publishing through the HTTP API: ``POST /apps/{app_id}/events`` and ``/batch_events``.

``handle_events`` is the one implementation, whatever carried the request: the aiohttp routes below, or the
listener's publish path (``publish_path``), which serves most publishes without aiohttp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from ..protocol import codec
from ..protocol.apps import AppConfig
from ..protocol.channels import ChannelKind, channel_name_problem, classify, event_name_problem, is_valid_socket_id
from ..protocol.console import LogEntry, LogKind, preview_of
from ..protocol.errors import ApiError
from ..protocol.events import ChannelEvent
from .broker.base import HistoryUnavailable, now_ms
from .http_auth import API_RATES, ApiRates, app_by_id, check_signed_request, read_body, signed_params
from .idempotency import idempotency_key, publish_once
from .state import STATE, ServerState

TRIGGER_INFO_ATTRIBUTES: Final = frozenset({"user_count", "subscription_count"})


def info_attributes(raw: object, allowed: frozenset[str]) -> list[str]:
    """The attributes an ``info`` parameter asks for (comma-separated), each one known."""
    if raw is None or raw == "":
        return []
    if not isinstance(raw, str):
        raise ApiError(400, "info must be a comma-separated string")
    attributes = [a.strip() for a in raw.split(",") if a.strip()]
    unknown = [a for a in attributes if a not in allowed]
    if unknown:
        raise ApiError(400, f"unknown info attribute {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    return attributes


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = codec.loads(body)
    except (codec.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "body must be a JSON object")
    return value


class _Trigger:
    """One validated event to publish on one or more channels."""

    __slots__ = ("name", "data", "channels", "socket_id", "info", "idempotency_key")

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
        self.info = info_attributes(item.get("info"), TRIGGER_INFO_ATTRIBUTES)
        self.idempotency_key = idempotency_key(item)

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

    async def publish(self, state: ServerState, app: AppConfig) -> Published:
        """Publish to every channel, once per idempotency key; return the serials of kept channels (a repeat: the
        first publish's) and the ``info`` asked for, per channel."""
        delivered = await publish_once(state, app, self.idempotency_key, lambda: self._deliver(state, app))
        serials = delivered.get("serials")
        serials = serials if isinstance(serials, dict) else {}
        if not self.info:
            return Published(serials, {})
        info = {channel: await _trigger_info(state, app, channel, self.info) for channel in self.channels}
        return Published(serials, info)

    async def _deliver(self, state: ServerState, app: AppConfig) -> dict[str, Any]:
        """Deliver to every channel; return what this event adds to the reply (a repeat is answered the same)."""
        serials: dict[str, int] = {}
        # Kept channels first: should one be refused (its store unreachable), nothing was delivered yet.
        for channel in sorted(self.channels, key=lambda name: app.history_rule(name) is None):
            text = codec.encode(ChannelEvent(event=self.name, channel=channel, data=self.data))
            serial = await state.broker.publish(app, channel, text, self.socket_id)
            if serial is not None:
                serials[channel] = serial
            if state.console.watching(app.id):
                state.console.record(self._log_entry(app, channel))
        state.metrics.count(app.id, "api_messages", len(self.channels))
        return {"serials": serials} if serials else {}

    def _log_entry(self, app: AppConfig, channel: str) -> LogEntry:
        """The console's ``api_event`` entry: an event the HTTP API (or the console's event creator) published."""
        size = len(self.data.encode("utf-8", "surrogatepass"))
        preview = preview_of(self.data)
        return LogEntry(
            kind=LogKind.API_EVENT,
            app_id=app.id,
            at_ms=now_ms(),
            channel=channel,
            event=self.name,
            socket_id=self.socket_id or "",
            size=size,
            preview=preview,
        )


@dataclass(frozen=True, slots=True)
class Published:
    """What one published event answers: the serial per kept channel, and the ``info`` attributes per channel."""

    serials: dict[str, int]
    info: dict[str, dict[str, int]]


async def _trigger_info(state: ServerState, app: AppConfig, channel: str, attributes: list[str]) -> dict[str, int]:
    info = await state.broker.channel_info(app, channel)
    result: dict[str, int] = {}
    if "user_count" in attributes and info.user_count is not None:
        result["user_count"] = info.user_count
    if "subscription_count" in attributes:
        result["subscription_count"] = info.subscription_count
    return result


async def handle_events(
    state: ServerState,
    rates: ApiRates,
    app_id: str,
    method: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    *,
    batch: bool,
) -> dict[str, Any]:
    """Check and publish ``POST /apps/{app_id}/events`` (or ``batch_events``), whatever transport carried it.

    Returns:
        the JSON reply.

    Raises:
        ApiError: the refusal, with its status.
    """
    app = app_by_id(state, app_id)
    await check_signed_request(
        app,
        method,
        path,
        query,
        body,
        rates=rates,
        metrics=state.metrics,
        replays=state.replays,
        prefix=state.settings.path_prefix,
    )
    return await publish_admitted(state, app, body, batch=batch)


async def publish_admitted(state: ServerState, app: AppConfig, body: bytes, *, batch: bool) -> dict[str, Any]:
    """Check and publish the body of an ``events`` (or ``batch_events``) request already admitted: signed for the
    HTTP API, or sent by a logged-in debug console (``console/web.py``), so both publish the same way (history,
    idempotency, limits, answers).

    Returns:
        the JSON reply.

    Raises:
        ApiError: the refusal, with its status.
    """
    if batch:
        return await _publish_batch(state, app, body)
    trigger = _Trigger(app, _json_object(body), single_channel=False)
    _refuse_unkeepable(state, app, trigger.channels)
    published = await trigger.publish(state, app)
    reply: dict[str, Any] = {}
    if trigger.info:
        reply["channels"] = published.info
    if published.serials:
        reply["serials"] = published.serials
    return reply


def _refuse_unkeepable(state: ServerState, app: AppConfig, channels: list[str]) -> None:
    """Refuse a publish that includes a kept channel while the broker cannot keep its events, before anything is
    delivered: an error answer means the event reached nobody (docs/scale-out.md, "What a publish answer means").

    Raises:
        HistoryUnavailable: 503.
    """
    if not state.broker.healthy and any(app.history_rule(channel) is not None for channel in channels):
        raise HistoryUnavailable


async def _publish_batch(state: ServerState, app: AppConfig, body: bytes) -> dict[str, Any]:
    batch = _json_object(body).get("batch")
    if not isinstance(batch, list) or not batch:
        raise ApiError(400, "batch must be a non-empty list of events")
    if len(batch) > app.max_batch_size:
        raise ApiError(400, f"at most {app.max_batch_size} events per batch")
    if not all(isinstance(item, dict) for item in batch):
        raise ApiError(400, "every batch item must be an object")
    triggers = [_Trigger(app, item, single_channel=True) for item in batch]
    _refuse_unkeepable(state, app, [channel for trigger in triggers for channel in trigger.channels])
    results = [await trigger.publish(state, app) for trigger in triggers]
    reply: dict[str, Any] = {}
    if any(trigger.info for trigger in triggers):
        reply["batch"] = [r.info.get(t.channels[0], {}) for t, r in zip(triggers, results, strict=True)]
    if any(result.serials for result in results):
        reply["serials"] = [r.serials.get(t.channels[0]) for t, r in zip(triggers, results, strict=True)]
    return reply


async def trigger_event(request: web.Request) -> web.Response:
    """POST /apps/{app_id}/events (when it reaches aiohttp; the listener serves most of them itself)"""
    return await _events(request, batch=False)


async def trigger_batch(request: web.Request) -> web.Response:
    """POST /apps/{app_id}/batch_events"""
    return await _events(request, batch=True)


async def _events(request: web.Request, *, batch: bool) -> web.Response:
    state = request.app[STATE]
    app = app_by_id(state, request.match_info["app_id"])
    body = await read_body(state, request)
    query = signed_params(request.query.items())
    reply = await handle_events(
        state, request.app[API_RATES], app.id, request.method, request.path, query, body, batch=batch
    )
    return web.json_response(reply)
