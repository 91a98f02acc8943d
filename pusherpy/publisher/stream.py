"""``ReplyStream``: publish a reply that is produced piece by piece (LLM tokens) without one event per token.

Why: a model emits tens of tokens per second; one Pusher event per token hits message quotas and rate limits,
and one event at the end loses the live typing effect. The stream coalesces whatever arrived since the last event
into one event, at most one per ``interval`` while a request is not already in flight.

The events, all on one channel, are published one at a time and in order. Each has the data::

    {"messageId": str, "chunk": str, "sequence": int, "final": bool, ...extra}

``sequence`` counts events from 0. The last event has ``"final": true``; it may carry a last ``chunk`` and, when
the stream failed, an ``"error"`` string. It is sent under ``done_event`` when one was given, else under the same
event name. A receiver rebuilds the exact text by concatenating ``chunk`` in ``sequence`` order up to the final
event (a gap in ``sequence`` means an event was lost). A chunk too large for one event (``max_data_size``, after
JSON escaping and encryption) is split across consecutive events.

Every event carries an ``idempotency_key`` (a random per-stream prefix and the event's ``sequence``): the client
retries a publish that timed out or met a 5xx, and the server drops a copy it already delivered, so a retried
chunk never appears twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from pusherpy.protocol import codec
from pusherpy.protocol.errors import InvalidState, PublishError

from .authorization import check_channel, check_event
from .errors import DataTooLarge, InvalidArgument
from .retry import new_idempotency_key

if TYPE_CHECKING:
    from .async_client import AsyncPusher

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL: Final = 0.05
RESERVED_KEYS: Final = frozenset({"messageId", "chunk", "sequence", "final", "error"})
_MAX_ERROR_CHARS: Final = 200


class ReplyStream:
    """An async context manager that publishes chunks of one reply; get it from ``AsyncPusher.stream``.

    ``await send(chunk)`` only buffers: a background task publishes. On leaving the ``async with`` block the rest
    is flushed and the final event sent; if the block raised, the final event carries ``"error"`` (the exception's
    class name; call ``close(error=...)`` yourself for another message) and the exception propagates.

    Args:
        pusher: the client that publishes.
        channel: the channel to publish on.
        event: the event name of the chunks.
        message_id: identifies the reply to receivers; a random UUID hex when None.
        interval: the least time between two chunk events, in seconds.
        extra: more fields copied into every event's data; must not use the reserved keys.
        done_event: the event name of the final event; ``event`` when None.

    Raises:
        InvalidArgument: a bad channel, event, interval or ``extra``.
    """

    def __init__(
        self,
        pusher: AsyncPusher,
        channel: str,
        event: str,
        *,
        message_id: str | None = None,
        interval: float = DEFAULT_INTERVAL,
        extra: Mapping[str, Any] | None = None,
        done_event: str | None = None,
    ) -> None:
        check_channel(channel)
        check_event(event)
        if done_event is not None:
            check_event(done_event)
        if not interval >= 0:
            raise InvalidArgument(f"interval={interval!r} must be >= 0 seconds")
        extra = dict(extra or {})
        if clash := RESERVED_KEYS & extra.keys():
            raise InvalidArgument(f"extra may not set {sorted(clash)}: they are the stream's own fields")
        self._pusher = pusher
        self._channel = channel
        self._event = event
        self._done_event = done_event or event
        self._interval = interval
        self._extra = extra
        self.message_id = message_id if message_id is not None else uuid.uuid4().hex
        self._buffer: list[str] = []
        self._sequence = 0
        self._key_prefix = new_idempotency_key()
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failure: PublishError | None = None
        self._closed = False
        # Fail now, not mid-reply, when extra alone leaves no room for text.
        worst = self._payload("", final=True, error="x" * _MAX_ERROR_CHARS, sequence=10**9)
        if not self._fits(worst):
            raise DataTooLarge("extra leaves no room for text under max_data_size")

    @property
    def events_sent(self) -> int:
        """How many events were published so far (the next event's ``sequence``)."""
        return self._sequence

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            await self.close()
            return
        if exc is self._failure:  # send() re-raised the stream's own publish failure
            error = None
        elif isinstance(exc, asyncio.CancelledError):
            error = "cancelled"
        else:
            error = type(exc).__name__
        try:
            await self.close(error=error)
        except PublishError as failure:
            # The block's own exception propagates; a failure to report it is only logged.
            if failure is not exc:
                logger.warning("could not publish the final event of stream %s", self.message_id, exc_info=True)

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ReplyStream {self.message_id}")

    async def send(self, chunk: str) -> None:
        """Queue ``chunk`` for publishing; returns at once. Empty chunks are ignored.

        Raises:
            InvalidState: the stream is closed.
            PublishError: an earlier publish failed; the stream publishes nothing more except the final event.
            InvalidArgument: ``chunk`` is not a str.
        """
        if self._closed:
            raise InvalidState("the stream is closed")
        if self._failure is not None:
            raise self._failure
        if not isinstance(chunk, str):
            raise InvalidArgument(f"chunk must be a str, not {type(chunk).__name__}")
        if chunk:
            self._start()
            self._buffer.append(chunk)
            self._wakeup.set()

    async def close(self, error: str | None = None) -> None:
        """Flush what is buffered and publish the final event (with ``error`` when given). Idempotent.

        Raises:
            PublishError: a chunk or the final event could not be published.
        """
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self._wakeup.set()
        if self._task is not None:
            await self._task  # it finishes the publish in flight; it never raises
        text = "".join(self._buffer)
        self._buffer.clear()
        if error is not None:
            error = error[:_MAX_ERROR_CHARS]
        failure = self._failure
        if failure is None:
            try:
                await self._publish(text, final=True, error=error)
                return
            except PublishError as exc:
                failure = exc
        # Receivers must still learn that the reply ended, and that text is missing (sequence has no gap: it only
        # counts events that were accepted).
        # Its own key: the failed publish at this sequence may have been delivered, and this one must be too.
        with contextlib.suppress(PublishError):
            await self._publish("", final=True, error=error or "publish failed", key_suffix=".failed")
        raise failure

    async def _run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                if self._closing.is_set():
                    return
                text = "".join(self._buffer)
                self._buffer.clear()
                await self._publish(text, final=False, error=None)
                # At most one event per interval; closing cuts the wait short.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self._interval)
        except PublishError as exc:
            self._failure = exc

    async def _publish(self, text: str, *, final: bool, error: str | None, key_suffix: str = "") -> None:
        """Publish ``text`` as one event, or as several when it is too large; the last one is final if asked."""
        while True:
            payload = self._payload(text, final=final, error=error, sequence=self._sequence)
            if not text or self._fits(payload):
                break
            size = self._largest_prefix(text)
            await self._trigger(self._event, self._payload(text[:size], final=False, error=None))
            text = text[size:]
        if text or final:
            await self._trigger(self._done_event if final else self._event, payload, key_suffix)

    async def _trigger(self, event: str, payload: dict[str, Any], key_suffix: str = "") -> None:
        key = f"{self._key_prefix}.{self._sequence}{key_suffix}"
        await self._pusher.trigger(self._channel, event, payload, idempotency_key=key)
        self._sequence += 1

    def _payload(self, chunk: str, *, final: bool, error: str | None, sequence: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "messageId": self.message_id,
            "chunk": chunk,
            "sequence": self._sequence if sequence is None else sequence,
            "final": final,
        }
        if error is not None:
            payload["error"] = error
        payload.update(self._extra)
        return payload

    def _fits(self, payload: dict[str, Any]) -> bool:
        limit = self._pusher.config.max_data_size
        if limit is None:
            return True
        return self._pusher._requests.data_size(self._channel, codec.dumps(payload)) <= limit

    def _largest_prefix(self, text: str) -> int:
        """Return the longest prefix length of ``text`` that fits in a non-final event (binary search)."""
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if self._fits(self._payload(text[:middle], final=False, error=None)):
                low = middle
            else:
                high = middle - 1
        if low == 0:  # pragma: no cover - excluded by the check in __init__
            raise DataTooLarge("extra leaves no room for text under max_data_size")
        return low
