"""The console's live log: ``GET /console/api/apps/{app_id}/log`` as Server-Sent Events from ``ConsoleHub.watch``."""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from ...protocol import codec
from ...protocol.console import LogEntry, entry_fields
from ...protocol.errors import ApiError
from ..state import STATE
from .access import CONSOLE, admitted_app
from .hub import Watcher

HEARTBEAT_SECONDS: Final = 15.0
"""A comment line on an idle log stream: keeps proxies from closing it, and finds a console that left."""
MAX_STREAMS: Final = 16
"""Open log streams per server process; one more is answered 503."""


async def log_stream(request: web.Request) -> web.StreamResponse:
    """GET /console/api/apps/{app_id}/log: ``text/event-stream``, one ``data:`` JSON line per entry.

    A stream opens with a ``hello`` event (the page clears what it showed: the app's recent entries follow), sends
    a ``dropped`` event with the running count when this console lost entries for reading too slowly, and a comment
    every ``HEARTBEAT_SECONDS`` while nothing happens.
    """
    app = admitted_app(request)
    console = request.app[CONSOLE]
    if len(console.streams) >= MAX_STREAMS:
        raise ApiError(503, f"at most {MAX_STREAMS} consoles may watch the log of one server at once")
    hub = request.app[STATE].console
    watcher = hub.watch(app.id)
    console.streams.add(watcher)
    try:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        await response.prepare(request)
        await response.write(b"retry: 2000\nevent: hello\ndata: {}\n\n" + _entries_text(watcher.recent))
        await _follow(response, watcher, console.closing)
        return response
    finally:
        console.streams.discard(watcher)
        hub.unwatch(watcher)


async def _follow(response: web.StreamResponse, watcher: Watcher, closing: asyncio.Event) -> None:
    """Write entries as they come until the console leaves (a write fails) or the server shuts down."""
    reported = 0
    stop = asyncio.ensure_future(closing.wait())
    try:
        while not closing.is_set():
            entries = asyncio.ensure_future(watcher.next())
            done, _ = await asyncio.wait({entries, stop}, timeout=HEARTBEAT_SECONDS, return_when="FIRST_COMPLETED")
            if entries not in done:
                entries.cancel()
                if stop in done:
                    return
                await response.write(b": heartbeat\n\n")
                continue
            text = b""
            if watcher.dropped != reported:
                reported = watcher.dropped
                text += b"event: dropped\ndata: " + codec.dumps({"dropped": reported}).encode() + b"\n\n"
            await response.write(text + _entries_text(entries.result()))
    except ConnectionError:
        return
    finally:
        stop.cancel()


def _entries_text(entries: list[LogEntry]) -> bytes:
    return b"".join(b"data: " + codec.dumps(entry_fields(entry)).encode() + b"\n\n" for entry in entries)
