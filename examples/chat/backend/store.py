"""``ConversationStore``: conversations, their members, messages and the chunks of streamed replies, in SQLite.

Why chunks are stored one by one: a browser that opens the conversation while a reply is streaming loads the
stored text *and the sequence number of the last stored chunk*, then applies only live chunks after it. The
backend stores a chunk before it broadcasts it, so every chunk a late joiner misses live is already in the store.

Why one thread: sqlite3 calls block, so they run off the event loop; a single-thread executor runs them one at a
time, which is what SQLite wants from one connection, and keeps the connection on the thread that created it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeVar

T = TypeVar("T")

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    user_id TEXT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    user_id TEXT,
    content TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('complete', 'streaming', 'failed')),
    error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, id);
CREATE TABLE IF NOT EXISTS chunks (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    sequence INTEGER NOT NULL,
    chunk TEXT NOT NULL,
    PRIMARY KEY (message_id, sequence)
);
"""

RESTART_ERROR: Final = "the server restarted while this reply was streaming"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class Status(StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    FAILED = "failed"


class StoreError(Exception):
    """A write that would break the store's rules: a chunk out of order, or a stream that is not streaming."""


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    title: str
    member_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Message:
    """One message. While streaming, ``content`` is the stored chunks joined and ``last_sequence`` the highest
    stored chunk's sequence (-1 before the first chunk)."""

    id: int
    conversation_id: int
    role: Role
    user_id: str | None
    content: str
    status: Status
    error: str | None
    created_at: str
    last_sequence: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_MESSAGE_COLUMNS: Final = "id, conversation_id, role, user_id, content, status, error, created_at"


def _message(db: sqlite3.Connection, row: Sequence[Any]) -> Message:
    """Build a ``Message`` from a row; a streaming or failed message's text is read from its chunks."""
    status = Status(row[5])
    if status is Status.COMPLETE:
        content = row[4]
        count = db.execute("SELECT COUNT(*) FROM chunks WHERE message_id = ?", (row[0],)).fetchone()[0]
    else:
        chunks = db.execute("SELECT chunk FROM chunks WHERE message_id = ? ORDER BY sequence", (row[0],)).fetchall()
        content = "".join(chunk for (chunk,) in chunks)
        count = len(chunks)
    return Message(
        id=row[0],
        conversation_id=row[1],
        role=Role(row[2]),
        user_id=row[3],
        content=content,
        status=status,
        error=row[6],
        created_at=row[7],
        last_sequence=count - 1,
    )


class ConversationStore:
    """The chat's persistence. ``await open()`` before use and ``await close()`` after.

    Args:
        path: the SQLite file; its directory is created if missing.
        seed: conversations created when the database has none, as ``(title, member ids)``.
    """

    def __init__(self, path: Path, seed: Iterable[tuple[str, Sequence[str]]] = ()) -> None:
        self._path = path
        self._seed = tuple((title, tuple(members)) for title, members in seed)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-sqlite")
        self._db: sqlite3.Connection | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                raise StoreError("the store is not open")
            with self._db:  # one transaction per call: committed on success, rolled back on error
                return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        """Create the file, the schema and the seed conversations; fail replies a previous run left streaming."""

        def connect() -> None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self._path)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        await self._run(self._migrate)

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)
        if db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 0:
            for title, members in self._seed:
                conversation_id = db.execute("INSERT INTO conversations (title) VALUES (?)", (title,)).lastrowid
                db.executemany(
                    "INSERT INTO members (conversation_id, user_id) VALUES (?, ?)",
                    [(conversation_id, member) for member in members],
                )
        # No task of this process streams them: they would show "●●●" forever.
        for (message_id,) in db.execute("SELECT id FROM messages WHERE status = 'streaming'").fetchall():
            self._finish(db, message_id, Status.FAILED, RESTART_ERROR)

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    # -- conversations -------------------------------------------------------------------------------------------

    async def conversations_of(self, user_id: str) -> list[Conversation]:
        """The conversations ``user_id`` is a member of, oldest first."""

        def read(db: sqlite3.Connection) -> list[Conversation]:
            rows = db.execute(
                "SELECT c.id, c.title, (SELECT group_concat(user_id) FROM members WHERE conversation_id = c.id) "
                "FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = ? ORDER BY c.id",
                (user_id,),
            ).fetchall()
            return [Conversation(row[0], row[1], tuple(sorted(row[2].split(",")))) for row in rows]

        return await self._run(read)

    async def conversation(self, conversation_id: int) -> Conversation | None:
        def read(db: sqlite3.Connection) -> Conversation | None:
            row = db.execute("SELECT id, title FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                return None
            members = db.execute(
                "SELECT user_id FROM members WHERE conversation_id = ? ORDER BY user_id", (conversation_id,)
            ).fetchall()
            return Conversation(row[0], row[1], tuple(member for (member,) in members))

        return await self._run(read)

    async def is_member(self, conversation_id: int, user_id: str) -> bool:
        def read(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT 1 FROM members WHERE conversation_id = ? AND user_id = ?", (conversation_id, user_id)
            ).fetchone()
            return row is not None

        return await self._run(read)

    # -- messages ------------------------------------------------------------------------------------------------

    async def messages(self, conversation_id: int, *, limit: int = 200) -> list[Message]:
        """The conversation's last ``limit`` messages, oldest first, streaming ones with their stored chunks."""

        def read(db: sqlite3.Connection) -> list[Message]:
            rows = db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT ?",
                (conversation_id, limit),
            ).fetchall()
            return [_message(db, row) for row in reversed(rows)]

        return await self._run(read)

    async def message(self, message_id: int) -> Message | None:
        def read(db: sqlite3.Connection) -> Message | None:
            return self._read_message(db, message_id)

        return await self._run(read)

    @staticmethod
    def _read_message(db: sqlite3.Connection, message_id: int) -> Message | None:
        row = db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
        return None if row is None else _message(db, row)

    def _insert(
        self,
        db: sqlite3.Connection,
        conversation_id: int,
        role: Role,
        user_id: str | None,
        content: str,
        status: Status,
    ) -> Message:
        message_id = db.execute(
            "INSERT INTO messages (conversation_id, role, user_id, content, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, role, user_id, content, status, _now()),
        ).lastrowid
        assert message_id is not None
        message = self._read_message(db, message_id)
        assert message is not None
        return message

    async def add_user_message(self, conversation_id: int, user_id: str, content: str) -> Message:
        return await self._run(
            lambda db: self._insert(db, conversation_id, Role.USER, user_id, content, Status.COMPLETE)
        )

    async def start_assistant_message(self, conversation_id: int) -> Message:
        """Create an empty assistant message in the streaming state."""
        return await self._run(lambda db: self._insert(db, conversation_id, Role.ASSISTANT, None, "", Status.STREAMING))

    async def append_chunk(self, message_id: int, sequence: int, chunk: str) -> None:
        """Store chunk ``sequence`` of a streaming message.

        Raises:
            StoreError: the message is not streaming, or ``sequence`` is not the next one (no gaps, no repeats).
        """

        def write(db: sqlite3.Connection) -> None:
            message = self._read_message(db, message_id)
            if message is None or message.status is not Status.STREAMING:
                raise StoreError(f"message {message_id} is not streaming")
            if sequence != message.last_sequence + 1:
                raise StoreError(f"message {message_id}: chunk {sequence} after {message.last_sequence}")
            db.execute(
                "INSERT INTO chunks (message_id, sequence, chunk) VALUES (?, ?, ?)", (message_id, sequence, chunk)
            )

        await self._run(write)

    async def complete_stream(self, message_id: int) -> Message:
        """Mark a streaming message complete; its content becomes its chunks joined in sequence order.

        Raises:
            StoreError: the message is not streaming.
        """
        return await self._run(lambda db: self._finish(db, message_id, Status.COMPLETE, None))

    async def fail_stream(self, message_id: int, error: str) -> Message:
        """Mark a streaming message failed with ``error``, keeping the chunks that arrived.

        Raises:
            StoreError: the message is not streaming.
        """
        return await self._run(lambda db: self._finish(db, message_id, Status.FAILED, error))

    def _finish(self, db: sqlite3.Connection, message_id: int, status: Status, error: str | None) -> Message:
        message = self._read_message(db, message_id)
        if message is None or message.status is not Status.STREAMING:
            raise StoreError(f"message {message_id} is not streaming")
        db.execute(
            "UPDATE messages SET status = ?, error = ?, content = ? WHERE id = ?",
            (status, error, message.content, message_id),
        )
        finished = self._read_message(db, message_id)
        assert finished is not None
        return finished
