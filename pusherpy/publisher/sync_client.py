"""``Pusher``: the blocking publisher client, on the standard library's ``http.client``.

For scripts, WSGI apps, Celery workers and anything else without an event loop. Connections are kept alive and
pooled; one client may be shared by threads (see ``_sync_http``). Use ``AsyncPusher`` inside asyncio code: this
client blocks the calling thread for up to ``timeout`` seconds per call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from pusherpy.protocol.errors import PublishError

from ._base import ClientBase
from ._sync_http import ConnectionPool
from .api import (
    ApiRequest,
    ChannelInfo,
    ChannelsInfo,
    UsersInfo,
    as_channel_info,
    as_channels_info,
    as_object,
    as_users_info,
    read_response,
)
from .config import ClientConfig
from .errors import not_tls_hint
from .history import DEFAULT_HISTORY_LIMIT, ChannelHistory, as_channel_history


class Pusher(ClientBase):
    """Publish to a Pusher-compatible server (Pusher, pusherpy, Reverb, soketi) and sign auth responses.

    Args:
        app_id: the app id.
        key: the app key.
        secret: the app secret.
        host: the API host; ``api-{cluster}.pusher.com`` when None.
        port: the API port; 443 for https, 80 for http when None.
        path: the path a proxy serves the API under (``/ws``); sent before ``/apps/...`` but not signed, as
            pusher-http-php's ``path`` option does.
        scheme: ``http`` or ``https``; wins over ``ssl``.
        ssl: False for http (the official SDK's flag); https when neither is given.
        cluster: the Pusher cluster, used only when ``host`` is None.
        timeout: seconds allowed for connecting and for each read.
        max_data_size: the largest event ``data`` sent, in UTF-8 bytes (after encryption); None leaves the check
            to the server. Pusher's limit is 10 KB.
        encryption_master_key_base64: the base64 of the 32-byte key for ``private-encrypted-`` channels.

    Raises:
        ConfigError: an argument is invalid.

    Use it as a context manager, or call ``close()``, to close the pooled connections.
    """

    _pool: ConnectionPool

    def _setup(self, config: ClientConfig) -> None:
        super()._setup(config)
        self._pool = ConnectionPool(
            config.scheme, config.host, config.port, config.timeout, tls_hint=not_tls_hint(config)
        )

    def close(self) -> None:
        """Close the idle keep-alive connections. The client stays usable."""
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, request: ApiRequest) -> Any:
        retry = 0
        while True:
            try:
                return self._send(request)
            except PublishError as error:
                wait = self._retry_delay(request, error, retry)
                if wait is None:
                    raise
            time.sleep(wait)
            retry += 1

    def _send(self, request: ApiRequest) -> Any:
        # Signed per attempt: the timestamp is part of the signature.
        status, body, retry_after = self._pool.request(
            request.method, request.target(self.config, self._now()), request.body, request.headers
        )
        return read_response(status, body, retry_after)

    def trigger(
        self,
        channels: str | Sequence[str],
        event: str,
        data: Any,
        socket_id: str | None = None,
        info: str | Sequence[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Publish one event to one or more channels (``POST /apps/{id}/events``).

        A failed publish is retried (``retries``): after a timeout, a connection error, a 5xx or a 429. Every
        retried publish carries an ``idempotency_key``, so a server that got the first copy (pusherpy) drops the
        second; one is generated per call when not given.

        Args:
            channels: a channel name or up to 100 of them. A ``private-encrypted-`` channel must be alone: its
                data is encrypted with that channel's key.
            event: the event name (at most 200 characters).
            data: a str is sent as it is; anything else is JSON-encoded.
            socket_id: a connection to leave out (the sender's own, to avoid an echo).
            info: attributes to return per channel, e.g. ``["subscription_count", "user_count"]``.
            idempotency_key: 1-128 characters of ``A-Z a-z 0-9 _ . : -``; pusherpy delivers an event once per key
                within its idempotency window (give your own to make your own retries safe too).

        Returns:
            The server's answer: ``{}``, or ``{"channels": {...}}`` when ``info`` was given (pusherpy adds
            ``"serials"`` for channels that keep history).

        Raises:
            InvalidArgument: a bad argument (DataTooLarge when the data is over ``max_data_size``).
            PublishError: a subclass for the server's refusal or the transport failure, after the last retry.
        """
        request = self._requests.trigger(channels, event, data, socket_id, info, idempotency_key)
        return as_object(self._call(request))

    def trigger_batch(self, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Publish up to 10 events in one request (``POST /apps/{id}/batch_events``).

        Args:
            events: mappings with ``channel``, ``name``, ``data`` and optionally ``socket_id``, ``info`` and
                ``idempotency_key``; data is encoded (and encrypted) per event as in ``trigger``. An event without
                a key gets its own generated one when the client retries.

        Returns:
            ``{}``, or ``{"batch": [{...}, ...]}`` in request order when events asked for ``info``.

        Raises:
            InvalidArgument: a bad event; nothing is sent.
            PublishError: the server refused the batch or could not be reached.
        """
        return as_object(self._call(self._requests.trigger_batch(events)))

    def send_to_user(self, user_id: str, event: str, data: Any) -> dict[str, Any]:
        """Send an event to every connection signed in as ``user_id`` (``#server-to-user-{user_id}``).

        Raises:
            InvalidArgument: a bad user id, event name or data.
            PublishError: the server refused the event or could not be reached.
        """
        return as_object(self._call(self._requests.send_to_user(user_id, event, data)))

    def channels_info(self, prefix: str | None = None, attributes: str | Sequence[str] = ()) -> ChannelsInfo:
        """List occupied channels (``GET /apps/{id}/channels``), optionally by prefix and with attributes.

        ``user_count`` needs a ``presence-`` prefix filter.

        Raises:
            PublishError: the server refused the query or could not be reached.
        """
        return as_channels_info(self._call(self._requests.channels_info(prefix, attributes)))

    def channel_info(self, channel: str, attributes: str | Sequence[str] = ()) -> ChannelInfo:
        """Describe one channel (``GET /apps/{id}/channels/{channel}``): ``occupied`` plus the attributes asked.

        Raises:
            InvalidArgument: a bad channel name.
            PublishError: the server refused the query (e.g. an attribute that does not apply) or failed.
        """
        return as_channel_info(self._call(self._requests.channel_info(channel, attributes)))

    def users_info(self, channel: str) -> UsersInfo:
        """List the users of a presence channel (``GET /apps/{id}/channels/{channel}/users``).

        Raises:
            InvalidArgument: not a presence channel.
            PublishError: the server refused the query or could not be reached.
        """
        return as_users_info(self._call(self._requests.users_info(channel)))

    def channel_history(
        self, channel: str, after: int | None = None, limit: int = DEFAULT_HISTORY_LIMIT
    ) -> ChannelHistory:
        """Read a history channel's kept events (``GET /apps/{id}/channels/{channel}/events``; pusherpy only).

        Args:
            channel: a channel matching one of the server's ``[[apps.history]]`` rules.
            after: return the events with a serial above this one; None for the last ``limit`` events.
            limit: at most this many events (1-1000).

        Returns:
            ``{"events": [{"serial", "event", "data", "published_at"}, ...], "position": int, "oldest": int|None}``,
            events oldest first.

        Raises:
            InvalidArgument: a bad channel, ``after`` or ``limit``.
            HistoryGone: events after ``after`` are no longer kept (410); reload from your own store.
            NotFound: the channel keeps no history (404).
            PublishError: another refusal or a transport failure, after the last retry.
        """
        return as_channel_history(self._call(self._requests.channel_history(channel, after, limit)))

    def terminate_user_connections(self, user_id: str) -> dict[str, Any]:
        """Close every connection signed in as ``user_id`` (``POST /apps/{id}/users/{id}/terminate_connections``).

        Raises:
            InvalidArgument: a bad user id.
            PublishError: the server refused the request or could not be reached.
        """
        return as_object(self._call(self._requests.terminate_user_connections(user_id)))
