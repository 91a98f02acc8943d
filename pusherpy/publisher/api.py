"""HTTP API requests as values: build, sign and read them, for both clients (Pusher docs: "HTTP API reference").

Nothing here performs I/O or reads a clock. A client asks ``ApiRequests`` for an ``ApiRequest``, signs it with
the current time (``target``), sends it its own way (http.client or aiohttp) and hands the answer to
``read_response``. Every argument is validated while the request is built, so an invalid call fails with
``InvalidArgument`` before anything reaches the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NotRequired, TypedDict, cast
from urllib.parse import quote, urlencode

from pusherpy.protocol import codec, signing
from pusherpy.protocol.channels import ChannelKind, classify, server_to_user_channel
from pusherpy.protocol.errors import ConfigError

from . import crypto
from .authorization import check_channel, check_event, check_socket_id, check_user_id
from .config import ClientConfig
from .errors import DataTooLarge, InvalidArgument, UnexpectedStatus, error_for_status
from .history import history_params
from .retry import check_idempotency_key, new_idempotency_key

MAX_CHANNELS_PER_TRIGGER: Final = 100
MAX_EVENTS_PER_BATCH: Final = 10
USER_AGENT: Final = "pusherpy-publisher/0.1"
_PATH_SAFE: Final = "-_.=@,;"


class ChannelsInfo(TypedDict):
    """``GET /channels``: occupied channels, each with the attributes asked for."""

    channels: dict[str, dict[str, Any]]


class ChannelInfo(TypedDict):
    """``GET /channels/{channel}``."""

    occupied: bool
    user_count: NotRequired[int]
    subscription_count: NotRequired[int]
    cache: NotRequired[dict[str, Any]]


class UsersInfo(TypedDict):
    """``GET /channels/{presence-channel}/users``: ``{"users": [{"id": "1"}, ...]}``."""

    users: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One unsigned HTTP API call. ``path`` is what is signed; ``url_path`` is what goes on the wire.

    ``retry_safe``: sending it twice cannot do anything twice (a GET, or events that all carry an idempotency key),
    so a client may retry it.
    """

    method: str
    path: str
    url_path: str
    params: Mapping[str, str]
    body: bytes = b""
    retry_safe: bool = False

    def target(self, config: ClientConfig, timestamp: int) -> str:
        """Return the request target (``config.path``, the path, and the signed query) for ``timestamp`` (Unix
        seconds); ``config.path`` is sent, not signed."""
        query = signing.signed_query(
            config.key, config.secret, self.method, self.path, timestamp=timestamp, body=self.body, params=self.params
        )
        return f"{config.path}{self.url_path}?{urlencode(query)}"

    @property
    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "X-Pusher-Library": USER_AGENT}
        if self.method == "POST":
            headers["Content-Type"] = "application/json"
        return headers


def read_response(status: int, body: bytes, retry_after: str | None = None) -> Any:
    """Return the parsed JSON of a 2xx answer (``{}`` when empty); raise the matching ``PublishError`` otherwise
    (``retry_after``: the answer's ``Retry-After`` header)."""
    text = body.decode(errors="replace")
    if not 200 <= status <= 299:
        raise error_for_status(status, text, retry_after)
    if not body.strip():
        return {}
    try:
        parsed = codec.loads(body)
    except (ValueError, TypeError):
        raise UnexpectedStatus(status, f"success without a JSON body: {text}") from None
    refused = _refusal_in_success(parsed)
    if refused is not None:
        raise error_for_status(refused, text, retry_after)
    return parsed


def _refusal_in_success(parsed: Any) -> int | None:
    """Return the status of a refusal sent as a success: soketi 1.6 answers a bad signature (and its other
    refusals) with 200 and ``{"error": "...", "code": 401}``; read as a success, a rejected publish would look sent.
    """
    if not isinstance(parsed, dict) or not isinstance(parsed.get("error"), str):
        return None
    code = parsed.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return None


def _names(value: str | Iterable[str], what: str) -> list[str]:
    """Accept one string or an iterable of strings (a bare str is one item, not characters)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidArgument(f"{what} must be a string or a list of strings, not {type(value).__name__}")
    names = list(value)
    if not all(isinstance(name, str) for name in names):
        raise InvalidArgument(f"{what} must be strings")
    return names


def _info(attributes: str | Iterable[str] | None) -> str | None:
    if attributes is None:
        return None
    names = _names(attributes, "info attributes")
    return ",".join(names) or None


class ApiRequests:
    """Builds every HTTP API request of one app; shared by ``Pusher`` and ``AsyncPusher``."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._apps = f"/apps/{config.app_id}"

    def encode_data(self, channel_name: str, data: Any) -> str:
        """Return the ``data`` string sent for ``channel_name``: JSON-encoded unless a str, encrypted if needed.

        Raises:
            InvalidArgument: data is not JSON-serializable.
            DataTooLarge: the result is over ``max_data_size``.
            ConfigError: an encrypted channel without a master key.
        """
        try:
            text = codec.encode_data(data)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"data is not JSON-serializable: {exc}") from None
        if classify(channel_name).kind is ChannelKind.ENCRYPTED:
            text = crypto.encrypt(channel_name, text, self._master_key(channel_name))
        self.check_size(len(text.encode()))
        return text

    def data_size(self, channel_name: str, text: str) -> int:
        """Return the size ``text`` will have on the wire for ``channel_name`` (after encryption, if any)."""
        size = len(text.encode())
        if classify(channel_name).kind is ChannelKind.ENCRYPTED:
            return crypto.encrypted_size(size)
        return size

    def check_size(self, size: int) -> None:
        limit = self.config.max_data_size
        if limit is not None and size > limit:
            raise DataTooLarge(f"event data is {size} bytes; the limit is {limit} (max_data_size)")

    def _master_key(self, channel_name: str) -> bytes:
        if self.config.encryption_master_key is None:
            raise ConfigError(f"{channel_name!r} is encrypted: pass encryption_master_key_base64 to the client")
        return self.config.encryption_master_key

    def trigger(
        self,
        channels: str | Sequence[str],
        event: str,
        data: Any,
        socket_id: str | None = None,
        info: str | Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> ApiRequest:
        """``POST /apps/{id}/events``. See ``Pusher.trigger``."""
        key = self._idempotency_key(idempotency_key)
        names = _names(channels, "channels")
        if not names:
            raise InvalidArgument("trigger needs at least one channel")
        if len(names) > MAX_CHANNELS_PER_TRIGGER:
            raise InvalidArgument(f"{len(names)} channels; one trigger takes at most {MAX_CHANNELS_PER_TRIGGER}")
        for name in names:
            check_channel(name)
        if len(names) > 1 and any(classify(name).kind is ChannelKind.ENCRYPTED for name in names):
            raise InvalidArgument("an encrypted channel must be the only channel of a trigger")
        check_event(event)
        body: dict[str, Any] = {"name": event, "channels": names, "data": self.encode_data(names[0], data)}
        if socket_id is not None:
            body["socket_id"] = check_socket_id(socket_id)
        if (joined := _info(info)) is not None:
            body["info"] = joined
        if key is not None:
            body["idempotency_key"] = key
        return self._post("/events", body, retry_safe=key is not None)

    def trigger_batch(self, events: Sequence[Mapping[str, Any]]) -> ApiRequest:
        """``POST /apps/{id}/batch_events``. See ``Pusher.trigger_batch``."""
        if isinstance(events, Mapping) or not isinstance(events, Sequence) or not events:
            raise InvalidArgument("trigger_batch needs a non-empty list of events")
        if len(events) > MAX_EVENTS_PER_BATCH:
            raise InvalidArgument(f"{len(events)} events; one batch takes at most {MAX_EVENTS_PER_BATCH}")
        batch = [self._batch_item(index, event) for index, event in enumerate(events)]
        keyed = all("idempotency_key" in item for item in batch)
        return self._post("/batch_events", {"batch": batch}, retry_safe=keyed)

    def _idempotency_key(self, given: object) -> str | None:
        """Return the caller's key (validated), else a new one when the client retries (a retried publish must
        carry one), else None."""
        if given is not None:
            return check_idempotency_key(given)
        return new_idempotency_key() if self.config.retries > 0 else None

    def _batch_item(self, index: int, event: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(event, Mapping):
            raise InvalidArgument(f"batch[{index}] must be a mapping with channel, name and data")
        unknown = set(event) - {"channel", "name", "data", "socket_id", "info", "idempotency_key"}
        if unknown or not {"channel", "name", "data"} <= event.keys():
            raise InvalidArgument(
                f"batch[{index}] needs channel, name, data (optional socket_id, info, idempotency_key)"
            )
        key = self._idempotency_key(event.get("idempotency_key"))
        channel = check_channel(event["channel"])
        check_event(event["name"])
        item: dict[str, Any] = {"channel": channel, "name": event["name"]}
        item["data"] = self.encode_data(channel, event["data"])
        if event.get("socket_id") is not None:
            item["socket_id"] = check_socket_id(event["socket_id"])
        if (joined := _info(event.get("info"))) is not None:
            item["info"] = joined
        if key is not None:
            item["idempotency_key"] = key
        return item

    def send_to_user(self, user_id: str, event: str, data: Any) -> ApiRequest:
        """Trigger on ``#server-to-user-{user_id}``, which pusher-js joins after sign-in."""
        return self.trigger(server_to_user_channel(check_user_id(user_id)), event, data)

    def channels_info(self, prefix: str | None = None, attributes: str | Sequence[str] = ()) -> ApiRequest:
        """``GET /apps/{id}/channels``."""
        params: dict[str, str] = {}
        if prefix:
            if not isinstance(prefix, str):
                raise InvalidArgument("prefix must be a string")
            params["filter_by_prefix"] = prefix
        if (joined := _info(attributes)) is not None:
            params["info"] = joined
        return self._get("/channels", params)

    def channel_info(self, channel: str, attributes: str | Sequence[str] = ()) -> ApiRequest:
        """``GET /apps/{id}/channels/{channel}``."""
        check_channel(channel)
        params = {"info": joined} if (joined := _info(attributes)) is not None else {}
        return self._get(f"/channels/{channel}", params)

    def users_info(self, channel: str) -> ApiRequest:
        """``GET /apps/{id}/channels/{channel}/users``; presence channels only."""
        check_channel(channel)
        if classify(channel).kind is not ChannelKind.PRESENCE:
            raise InvalidArgument(f"users_info needs a presence- channel, not {channel!r}")
        return self._get(f"/channels/{channel}/users", {})

    def channel_history(self, channel: str, after: int | None = None, limit: int = 100) -> ApiRequest:
        """``GET /apps/{id}/channels/{channel}/events``. See ``Pusher.channel_history``."""
        check_channel(channel)
        return self._get(f"/channels/{channel}/events", history_params(after, limit))

    def terminate_user_connections(self, user_id: str) -> ApiRequest:
        """``POST /apps/{id}/users/{user_id}/terminate_connections``, the path the Node SDK and the docs use.

        The body is ``{}``, as both official SDKs send it.
        """
        return self._post(f"/users/{check_user_id(user_id)}/terminate_connections", {})

    def _post(self, suffix: str, body: Mapping[str, Any], *, retry_safe: bool = False) -> ApiRequest:
        path = self._apps + suffix
        url_path = quote(path, safe="/" + _PATH_SAFE)
        return ApiRequest("POST", path, url_path, {}, codec.dumps(body).encode(), retry_safe=retry_safe)

    def _get(self, suffix: str, params: Mapping[str, str]) -> ApiRequest:
        path = self._apps + suffix
        return ApiRequest("GET", path, quote(path, safe="/" + _PATH_SAFE), params, retry_safe=True)


def as_channels_info(value: Any) -> ChannelsInfo:
    return cast(ChannelsInfo, _object(value))


def as_channel_info(value: Any) -> ChannelInfo:
    return cast(ChannelInfo, _object(value))


def as_users_info(value: Any) -> UsersInfo:
    return cast(UsersInfo, _object(value))


def as_object(value: Any) -> dict[str, Any]:
    return _object(value)


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnexpectedStatus(200, f"expected a JSON object, got {codec.dumps(value)[:200]}")
    return value
