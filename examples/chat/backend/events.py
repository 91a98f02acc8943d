"""The chat's channels and broadcast events, named exactly as a Laravel app would name them.

Echo prefixes ``listen('MessageCreated')`` with its default namespace ``App.Events`` and turns the dots into
backslashes, so it binds ``App\\Events\\MessageCreated``: the names below are what Laravel's ``broadcastAs``
default (the event's class name) puts on the wire, and the browser code needs no namespace option.

Every event of one reply carries ``messageId``; the chunks carry ``sequence`` (0, 1, 2, ...) so a browser can put
them in order and skip the ones it already loaded from ``GET /api/conversations/{id}/messages``.
"""

from __future__ import annotations

from typing import Any, Final

from .store import Message
from .users import DEMO_USERS

NAMESPACE: Final = "App\\Events\\"
MESSAGE_CREATED: Final = NAMESPACE + "MessageCreated"
STREAMING_CHUNK: Final = NAMESPACE + "StreamingChunk"
MESSAGE_COMPLETED: Final = NAMESPACE + "MessageCompleted"
STREAM_FAILED: Final = NAMESPACE + "StreamFailed"


def conversation_channel(conversation_id: int) -> str:
    """The private channel of a conversation's messages (``Echo.private('conversation.1')``)."""
    return f"private-conversation.{conversation_id}"


def presence_channel(conversation_id: int) -> str:
    """The presence channel of who is looking at a conversation (``Echo.join('conversation.1.presence')``)."""
    return f"presence-conversation.{conversation_id}.presence"


def message_json(message: Message) -> dict[str, Any]:
    """A message as the API returns it and ``MessageCreated`` broadcasts it."""
    author = DEMO_USERS.get(message.user_id) if message.user_id else None
    return {
        "id": message.id,
        "conversationId": message.conversation_id,
        "role": str(message.role),
        "content": message.content,
        "created_at": message.created_at,
        "user": None if author is None else author.public(),
        "status": str(message.status),
        "error": message.error,
        "last_sequence": message.last_sequence,
    }


def chunk_json(message: Message, sequence: int, chunk: str) -> dict[str, Any]:
    return {"conversationId": message.conversation_id, "messageId": message.id, "chunk": chunk, "sequence": sequence}


def completed_json(message: Message) -> dict[str, Any]:
    return {
        "conversationId": message.conversation_id,
        "messageId": message.id,
        "content": message.content,
        "last_sequence": message.last_sequence,
    }


def failed_json(message: Message) -> dict[str, Any]:
    return {
        "conversationId": message.conversation_id,
        "messageId": message.id,
        "error": message.error,
        "content": message.content,
        "last_sequence": message.last_sequence,
    }
