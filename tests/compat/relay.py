"""A TCP relay in front of a server, so a test can cut a client's connection the way a network does.

The client connects to the relay, the relay to the server; ``cut()`` resets every relayed connection at once
(both sides see the TCP connection die, no WebSocket close frame), and ``held()`` keeps new connections waiting,
unanswered, until the block exits: the client stays away for as long as the test needs, then reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Relay:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` (a test may change the target: connections made
    afterwards go to the new one); count of connections relayed so far."""

    target_host: str
    target_port: int
    port: int = 0
    accepted: int = 0
    _open: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def cut(self) -> None:
        """Reset every relayed connection, on both sides."""
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    @asynccontextmanager
    async def held(self, *, cut: bool = True) -> AsyncIterator[None]:
        """Cut (unless ``cut=False``: the test breaks the connection some other way, e.g. by killing the server),
        and keep new connections waiting until the block exits."""
        self._released.clear()
        if cut:
            self.cut()
        try:
            yield
        finally:
            self._released.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self._released.wait()
            if writer.transport.is_closing():
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
            self._open.add(upstream_writer)
            self.accepted += 1
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        finally:
            self._open.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(writer)
            writer.transport.abort()


@asynccontextmanager
async def relay_to(host: str, port: int) -> AsyncIterator[Relay]:
    """Run a ``Relay`` to ``host``:``port`` on a free port until the block exits."""
    relay = Relay(host, port)
    relay._released.set()

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(relay._serve(reader, writer))
        relay._tasks.add(task)
        task.add_done_callback(relay._tasks.discard)

    server = await asyncio.start_server(connected, "127.0.0.1", 0)
    relay.port = server.sockets[0].getsockname()[1]
    try:
        yield relay
    finally:
        server.close()
        relay.cut()
        for task in list(relay._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*relay._tasks, return_exceptions=True)
        await server.wait_closed()
