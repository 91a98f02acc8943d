"""``Assistant``: writes the assistant's reply with the OpenAI SDK and broadcasts it as it is written.

For each user message it runs one background task (owned here, cancelled on shutdown) that:

1. broadcasts ``MessageCreated`` for the user message and for the empty assistant message;
2. calls ``AsyncOpenAI.chat.completions.create(..., stream=True)`` with the conversation so far;
3. for every piece of text: **stores** it as chunk ``n``, **then** broadcasts ``StreamingChunk`` with
   ``sequence = n`` (store first, so a browser loading the history never misses a chunk it did not get live);
4. marks the message complete and broadcasts ``MessageCompleted`` with the full text.

Any failure (the provider, the network, pusherpy, a shutdown) marks the message failed and broadcasts
``StreamFailed``, so no browser is left showing a reply that never ends.

Why not the publisher's ``ReplyStream``: it coalesces chunks into fewer events and numbers the events itself, which
suits a reply that is not stored; here each broadcast sequence must name a stored chunk, so the assistant numbers
and publishes chunks itself with ``AsyncPusher.trigger``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from openai import AsyncOpenAI

from pusherpy.publisher import AsyncPusher

from . import events
from .config import ModelConfig
from .store import ConversationStore, Message, Role, Status, StoreError

logger = logging.getLogger(__name__)

SYSTEM_PROMPT: Final = "You are a friendly assistant in a group chat. Answer briefly."
SHUTDOWN_ERROR: Final = "the server stopped while this reply was streaming"
_MAX_ERROR_CHARS: Final = 300


def describe_failure(exc: BaseException) -> str:
    """A short, human-readable reason for the browser and the store."""
    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason[:_MAX_ERROR_CHARS]


class Assistant:
    """Streams replies; one background task per reply.

    Args:
        store: where messages and chunks are stored.
        pusher: publishes the events.
        client: the OpenAI SDK client (a real provider or the built-in model).
        model: the model settings (name, history length).
    """

    def __init__(self, store: ConversationStore, pusher: AsyncPusher, client: AsyncOpenAI, model: ModelConfig) -> None:
        self._store = store
        self._pusher = pusher
        self._client = client
        self._model = model
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def running(self) -> int:
        """How many replies are streaming now."""
        return len(self._tasks)

    def reply(self, question: Message, answer: Message) -> asyncio.Task[None]:
        """Start streaming ``answer`` (an empty assistant message) to ``question``; returns the owned task."""
        if self._closed:
            raise RuntimeError("the assistant is shut down")
        task = asyncio.get_running_loop().create_task(self._run(question, answer), name=f"reply {answer.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Cancel every reply in flight and wait until each has stored and broadcast its failure."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, question: Message, answer: Message) -> None:
        channel = events.conversation_channel(answer.conversation_id)
        try:
            await self._pusher.trigger(channel, events.MESSAGE_CREATED, events.message_json(question))
            await self._pusher.trigger(channel, events.MESSAGE_CREATED, events.message_json(answer))
            await self._stream(channel, answer)
        except asyncio.CancelledError:
            await self._fail(channel, answer, SHUTDOWN_ERROR)
            raise
        except Exception as exc:
            logger.warning("reply %s failed: %s", answer.id, describe_failure(exc))
            await self._fail(channel, answer, describe_failure(exc))

    async def _stream(self, channel: str, answer: Message) -> None:
        history = await self._history(answer)
        stream = await self._client.chat.completions.create(
            model=self._model.model, messages=history, stream=True, timeout=self._model.timeout
        )
        sequence = 0
        async with stream:
            async for completion in stream:
                if not completion.choices:
                    continue
                text = completion.choices[0].delta.content
                if not text:
                    continue
                await self._store.append_chunk(answer.id, sequence, text)
                await self._pusher.trigger(channel, events.STREAMING_CHUNK, events.chunk_json(answer, sequence, text))
                sequence += 1
        done = await self._store.complete_stream(answer.id)
        await self._pusher.trigger(channel, events.MESSAGE_COMPLETED, events.completed_json(done))

    async def _history(self, answer: Message) -> list[Any]:
        """The conversation up to ``answer``, as OpenAI chat messages (``name`` tells the model who wrote what)."""
        stored = await self._store.messages(answer.conversation_id, limit=self._model.history + 1)
        history: list[dict[str, str]] = [{"role": "system", "content": SYSTEM_PROMPT}]
        for message in stored:
            if message.id >= answer.id or message.status is not Status.COMPLETE:
                continue
            if message.role is Role.USER:
                history.append({"role": "user", "name": message.user_id or "user", "content": message.content})
            else:
                history.append({"role": "assistant", "content": message.content})
        return history

    async def _fail(self, channel: str, answer: Message, error: str) -> None:
        """Store and broadcast the failure; shielded, so a shutdown's cancellation cannot cut it short."""

        async def report() -> None:
            try:
                failed = await self._store.fail_stream(answer.id, error)
            except StoreError:  # it completed (or failed) before the error: nothing to report
                return
            with contextlib.suppress(Exception):
                await self._pusher.trigger(channel, events.STREAM_FAILED, events.failed_json(failed))

        await asyncio.shield(report())
