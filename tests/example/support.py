"""A small DSL for the chat example's tests: log in, call the API, listen to a conversation like a browser does.

``ChatUser`` is one logged-in user talking to the backend's HTTP API. ``ConversationListener`` is a raw
protocol-7 WebSocket on pusherpy that subscribes through the backend's real ``/broadcasting/auth`` (with the
user's bearer token), so the auth rules, the signatures and the broadcasts are all the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from examples.chat.backend import events
from examples.chat.backend.users import DEMO_USERS
from examples.chat.launcher import APP_KEY

DEADLINE = 10.0
"""Seconds any single wait may take (a whole reply of the slowed-down model fits in it)."""


class Running(Protocol):
    """Where a running example listens: a ``ChatStack`` in this process, or one started with the command."""

    @property
    def url(self) -> str: ...

    @property
    def pusher_url(self) -> str: ...


@dataclass
class ChatUser:
    """One user's view of the backend's HTTP API."""

    session: aiohttp.ClientSession
    base: str
    user_id: str
    token: str | None = None

    async def call(self, method: str, path: str, *, json_body: Any = None, form: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(
            method, self.base + path.lstrip("/"), json=json_body, data=form, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)

    async def send(self, conversation_id: int, content: str) -> dict[str, Any]:
        status, body = await self.call(
            "POST", f"api/conversations/{conversation_id}/messages", json_body={"content": content}
        )
        assert status == 202, body
        return dict(body)

    async def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        status, body = await self.call("GET", f"api/conversations/{conversation_id}/messages")
        assert status == 200, body
        return list(body["messages"])

    async def authorize(self, socket_id: str, channel: str) -> tuple[int, Any]:
        """What pusher-js POSTs to ``/broadcasting/auth`` (a form body)."""
        return await self.call("POST", "broadcasting/auth", form={"socket_id": socket_id, "channel_name": channel})


@asynccontextmanager
async def logged_in(stack: Running, user_id: str) -> AsyncIterator[ChatUser]:
    async with aiohttp.ClientSession() as session:
        user = ChatUser(session, stack.url, user_id)
        status, body = await user.call(
            "POST", "api/login", json_body={"username": user_id, "password": DEMO_USERS[user_id].password}
        )
        assert status == 200, body
        user.token = body["token"]
        yield user


@dataclass
class ConversationListener:
    """A pusher-js stand-in: one socket, subscribed to a conversation's private channel through the backend."""

    ws: aiohttp.ClientWebSocketResponse
    socket_id: str
    received: list[dict[str, Any]] = field(default_factory=list)

    async def next(self, timeout: float = DEADLINE) -> dict[str, Any]:
        message = await asyncio.wait_for(self.ws.receive(), timeout)
        assert message.type is aiohttp.WSMsgType.TEXT, (message.type, message.data)
        decoded: dict[str, Any] = json.loads(message.data)
        if isinstance(decoded.get("data"), str):
            decoded["data"] = json.loads(decoded["data"])
        return decoded

    async def subscribe(self, user: ChatUser, channel: str) -> None:
        status, auth = await user.authorize(self.socket_id, channel)
        assert status == 200, auth
        await self.ws.send_json({"event": "pusher:subscribe", "data": {"channel": channel, **auth}})
        await self.expect("pusher_internal:subscription_succeeded")

    async def expect(self, event: str, timeout: float = DEADLINE) -> dict[str, Any]:
        """Read until ``event`` arrives; keep every channel event read on the way in ``received``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} within {timeout} s; received {self.received}")
            message = await self.next(remaining)
            if not message["event"].startswith("pusher"):
                self.received.append(message)
            if message["event"] == event:
                return message

    async def reply_events(self, message_id: int, timeout: float = DEADLINE) -> list[dict[str, Any]]:
        """Read until the reply ``message_id`` completes or fails; return its events in arrival order."""
        deadline = time.monotonic() + timeout
        while not any(
            e["event"] in (events.MESSAGE_COMPLETED, events.STREAM_FAILED) and e["data"]["messageId"] == message_id
            for e in self.received
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"reply {message_id} did not end within {timeout} s; received {self.received}")
            await self._read_one(remaining)
        return [e for e in self.received if _about(e, message_id)]

    async def _read_one(self, timeout: float) -> None:
        message = await self.next(timeout)
        if not message["event"].startswith("pusher"):
            self.received.append(message)


def _about(event: dict[str, Any], message_id: int) -> bool:
    data = event["data"]
    return bool(data.get("messageId") == message_id or data.get("id") == message_id)


@asynccontextmanager
async def listener(stack: Running) -> AsyncIterator[ConversationListener]:
    """Open a socket on the example's pusherpy and wait for ``pusher:connection_established``."""
    url = stack.pusher_url.replace("http://", "ws://") + f"/app/{APP_KEY}?protocol=7&client=js&version=8.4.0"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        first = json.loads((await asyncio.wait_for(ws.receive(), DEADLINE)).data)
        assert first["event"] == "pusher:connection_established", first
        yield ConversationListener(ws, json.loads(first["data"])["socket_id"])


def stored_message(database: Path, message_id: int) -> dict[str, Any]:
    """The row as SQLite holds it, read with a connection of the test's own (not the backend's code)."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        chunks = db.execute(
            "SELECT sequence, chunk FROM chunks WHERE message_id = ? ORDER BY sequence", (message_id,)
        ).fetchall()
    assert row is not None, f"message {message_id} is not stored"
    return {**dict(row), "chunks": [(c["sequence"], c["chunk"]) for c in chunks]}
