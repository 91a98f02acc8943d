"""A built-in, OpenAI-compatible chat model, so the example runs with no API key and no network.

It answers ``POST /v1/chat/completions`` with ``"stream": true`` the way OpenAI does: Server-Sent Events, one
``chat.completion.chunk`` per word, then ``data: [DONE]``. The backend reaches it through the same
``AsyncOpenAI`` code path as a real provider (only ``base_url`` differs), so the example exercises the real SDK.

The reply is deterministic (it quotes the last user message) and ``word_delay`` slows it down so the streaming is
visible. ``fail_after_words`` makes it send an OpenAI-style error event after that many words, which the SDK raises
as ``openai.APIError``: the way to see (and test) a provider failing mid-reply.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

BUILTIN_MODEL: Final = "pusherpy-builtin"
DEFAULT_WORD_DELAY: Final = 0.06
FAILURE_MESSAGE: Final = "the built-in model was told to fail mid-reply"
_WORD: Final = re.compile(r"\S+\s*")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelBehaviour:
    """How the built-in model answers.

    Attributes:
        word_delay: seconds between two words.
        fail_after_words: send an error event after this many words instead of finishing; None never fails.
    """

    word_delay: float = DEFAULT_WORD_DELAY
    fail_after_words: int | None = None


def reply_for(messages: Sequence[Any]) -> str:
    """The built-in model's answer to a conversation: it quotes the last user message."""
    last = next(
        (m.get("content") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"),
        None,
    )
    quoted = " ".join(str(last).split())[:200] if last else "nothing"
    return (
        f'You said: "{quoted}". I am the built-in model of the pusherpy chat example. I answer every message '
        "with a sentence like this one, one word at a time, so that everyone in the conversation can watch the "
        "reply grow as pusherpy broadcasts each chunk to their browsers."
    )


def words(text: str) -> list[str]:
    """Split ``text`` into chunks that join back to exactly ``text`` (each word keeps its trailing space)."""
    return _WORD.findall(text)


def _chunk(completion_id: str, created: int, delta: dict[str, str], finish_reason: str | None) -> bytes:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": BUILTIN_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=status)


async def _stream(
    response: web.StreamResponse, completion_id: str, created: int, text: str, behaviour: ModelBehaviour
) -> None:
    """Write ``text`` as OpenAI's stream of ``chat.completion.chunk`` events, one word each."""
    await response.write(_chunk(completion_id, created, {"role": "assistant", "content": ""}, None))
    for index, word in enumerate(words(text)):
        if behaviour.fail_after_words is not None and index >= behaviour.fail_after_words:
            error = {"error": {"message": FAILURE_MESSAGE, "type": "server_error"}}
            await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
            await response.write_eof()
            return
        await asyncio.sleep(behaviour.word_delay)  # the model "thinking": the pace of the demo, not a wait
        await response.write(_chunk(completion_id, created, {"content": word}, None))
    await response.write(_chunk(completion_id, created, {}, "stop"))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()


def model_routes(behaviour: ModelBehaviour) -> list[web.RouteDef]:
    """The built-in model's route; mount it on any aiohttp app and point the SDK's ``base_url`` at ``…/v1``."""

    async def completions(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "messages must be a list")
        if body.get("stream") is not True:
            return _error(400, "the built-in model only streams: send stream=true")
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            await _stream(response, completion_id, created, reply_for(body["messages"]), behaviour)
        except ConnectionResetError:
            pass  # the reader hung up (its reply was cancelled, or the example is stopping): nobody to answer
        return response

    return [web.post("/v1/chat/completions", completions)]


def create_model_app(behaviour: ModelBehaviour) -> web.Application:
    """A stand-alone app serving only the built-in model (the launcher runs it on its own port)."""
    application = web.Application()
    application.add_routes(model_routes(behaviour))
    return application
