"""``AsyncPusher``: the asyncio publisher client, on one aiohttp ``ClientSession`` that it owns.

Same methods as ``Pusher``, awaited. The session (and its keep-alive connection pool) is created on first use
inside the running loop and closed by ``close()`` or ``async with``; a client must be used from one event loop.

aiohttp opens a connection (TCP, then TLS for https) in one step and reports a timeout there as a plain
``TimeoutError``; a trace of the connection's creation tells such a timeout apart from a slow answer, so an https
request to a server that never completes TLS (a plain http server waiting for a request head) says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace, TracebackType
from typing import Any, Self

import aiohttp
from yarl import URL

from pusherpy.protocol.errors import InvalidState, PublishError

from ._base import ClientBase
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
from .errors import ConnectionFailed, Timeout, not_tls_hint, tls_reason
from .history import DEFAULT_HISTORY_LIMIT, ChannelHistory, as_channel_history
from .stream import DEFAULT_INTERVAL, ReplyStream


@dataclass(slots=True)
class _Progress:
    """How far one request got: ``connecting`` is True while its connection is being opened (TCP and TLS)."""

    connecting: bool = False


async def _connection_started(
    _session: aiohttp.ClientSession, context: SimpleNamespace, _params: aiohttp.TraceConnectionCreateStartParams
) -> None:
    if isinstance(context.trace_request_ctx, _Progress):
        context.trace_request_ctx.connecting = True


async def _connection_opened(
    _session: aiohttp.ClientSession, context: SimpleNamespace, _params: aiohttp.TraceConnectionCreateEndParams
) -> None:
    if isinstance(context.trace_request_ctx, _Progress):
        context.trace_request_ctx.connecting = False


def _connection_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_start.append(_connection_started)
    trace.on_connection_create_end.append(_connection_opened)
    return trace


class AsyncPusher(ClientBase):
    """Publish from asyncio code; the arguments are ``Pusher``'s.

    Use ``async with AsyncPusher(...) as pusher:`` (or ``await pusher.close()``) so the session is closed.
    ``stream()`` publishes a token-by-token reply (see ``ReplyStream``).
    """

    _session: aiohttp.ClientSession | None
    _closed: bool

    def _setup(self, config: ClientConfig) -> None:
        super()._setup(config)
        self._session = None
        self._closed = False

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise InvalidState("this AsyncPusher is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
                raise_for_status=False,
                trace_configs=[_connection_trace()],
            )
        return self._session

    async def close(self) -> None:
        """Close the session and its connections; the client cannot be used afterwards."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> Self:
        self._get_session()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _call(self, request: ApiRequest) -> Any:
        retry = 0
        while True:
            try:
                return await self._send(request)
            except PublishError as error:
                wait = self._retry_delay(request, error, retry)
                if wait is None:
                    raise
            await asyncio.sleep(wait)
            retry += 1

    async def _send(self, request: ApiRequest) -> Any:
        # Signed per attempt: the timestamp is part of the signature.
        url = URL(self.config.base_url + request.target(self.config, self._now()), encoded=True)
        session = self._get_session()
        progress = _Progress()
        where, timeout = f"{request.method} {self.config.base_url}", self.config.timeout
        try:
            async with session.request(
                request.method, url, data=request.body or None, headers=request.headers, trace_request_ctx=progress
            ) as response:
                status, body = response.status, await response.read()
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:  # also aiohttp's ServerTimeoutError, which subclasses it
            if progress.connecting and self.config.scheme == "https":
                message = f"{where} did not open a TLS connection within {timeout:g} s: {not_tls_hint(self.config)}"
                raise Timeout(message, retryable=False) from None
            raise Timeout(f"{where}: no answer within {timeout:g} s") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise ConnectionFailed(f"{where}: {type(exc).__name__}: {exc}", retryable=False) from exc
        except aiohttp.ClientConnectorSSLError as exc:
            reason = tls_reason(exc.os_error)
            message = f"{where} did not complete TLS ({reason}): {not_tls_hint(self.config)}"
            raise ConnectionFailed(message, retryable=False) from exc
        except aiohttp.ClientError as exc:
            raise ConnectionFailed(f"{where}: {type(exc).__name__}: {exc}") from exc
        return read_response(status, body, retry_after)

    async def trigger(
        self,
        channels: str | Sequence[str],
        event: str,
        data: Any,
        socket_id: str | None = None,
        info: str | Sequence[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Publish one event to one or more channels; see ``Pusher.trigger``."""
        request = self._requests.trigger(channels, event, data, socket_id, info, idempotency_key)
        return as_object(await self._call(request))

    async def trigger_batch(self, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Publish up to 10 events in one request; see ``Pusher.trigger_batch``."""
        return as_object(await self._call(self._requests.trigger_batch(events)))

    async def send_to_user(self, user_id: str, event: str, data: Any) -> dict[str, Any]:
        """Send an event to every connection signed in as ``user_id``; see ``Pusher.send_to_user``."""
        return as_object(await self._call(self._requests.send_to_user(user_id, event, data)))

    async def channels_info(self, prefix: str | None = None, attributes: str | Sequence[str] = ()) -> ChannelsInfo:
        """List occupied channels; see ``Pusher.channels_info``."""
        return as_channels_info(await self._call(self._requests.channels_info(prefix, attributes)))

    async def channel_info(self, channel: str, attributes: str | Sequence[str] = ()) -> ChannelInfo:
        """Describe one channel; see ``Pusher.channel_info``."""
        return as_channel_info(await self._call(self._requests.channel_info(channel, attributes)))

    async def users_info(self, channel: str) -> UsersInfo:
        """List the users of a presence channel; see ``Pusher.users_info``."""
        return as_users_info(await self._call(self._requests.users_info(channel)))

    async def channel_history(
        self, channel: str, after: int | None = None, limit: int = DEFAULT_HISTORY_LIMIT
    ) -> ChannelHistory:
        """Read a history channel's kept events; see ``Pusher.channel_history``."""
        return as_channel_history(await self._call(self._requests.channel_history(channel, after, limit)))

    async def terminate_user_connections(self, user_id: str) -> dict[str, Any]:
        """Close every connection signed in as ``user_id``; see ``Pusher.terminate_user_connections``."""
        return as_object(await self._call(self._requests.terminate_user_connections(user_id)))

    def stream(
        self,
        channel: str,
        event: str,
        *,
        message_id: str | None = None,
        interval: float = DEFAULT_INTERVAL,
        extra: Mapping[str, Any] | None = None,
        done_event: str | None = None,
    ) -> ReplyStream:
        """Open a stream that publishes a reply chunk by chunk: ``async with pusher.stream(...) as s``.

        See ``ReplyStream`` for the events it sends and how a receiver rebuilds the text.

        Raises:
            InvalidArgument: a bad channel, event name, interval or ``extra`` key.
        """
        return ReplyStream(
            self, channel, event, message_id=message_id, interval=interval, extra=extra, done_event=done_event
        )
