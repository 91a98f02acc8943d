"""One pub/sub connection of the bus and the task that reads it.

Messages are read as raw bytes. Heartbeats (this node's own, heard back) only refresh ``heard_at``; every other
message is checked and decoded by the bus and handed on. Losing the connection, or Redis ending the subscription
(a slot moved), is reported as an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

logger = logging.getLogger(__name__)

OnRaw = Callable[[bytes], Awaitable[None]]
OnOutage = Callable[[object], None]


class Subscription:
    """One pub/sub connection and the task reading it."""

    def __init__(self, pubsub: PubSub, channels: list[str], sharded: bool, owner: Redis | None = None) -> None:
        self.pubsub = pubsub
        self.owner = owner
        """A client made for this subscription alone, closed with it."""
        self.channels = channels
        self.sharded = sharded
        self.reader: asyncio.Task[None] | None = None
        self.heard_at = 0.0

    async def subscribe(self, timeout: float) -> None:
        for channel in self.channels:
            # One command per channel: a sharded subscription may not span slots.
            if self.sharded:
                await self.pubsub.ssubscribe(channel)
            else:
                await self.pubsub.subscribe(channel)
        confirmed = 0
        while confirmed < len(self.channels):
            message = await self.pubsub.get_message(timeout=timeout)
            if message is None:
                raise TimeoutError("no confirmation of the bus subscription")
            if message["type"] in ("subscribe", "ssubscribe"):
                confirmed += 1
        self.heard_at = asyncio.get_running_loop().time()

    async def read(self, on_message: OnRaw, on_outage: OnOutage, heartbeat: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await self.pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind = message["type"]
                if kind in ("sunsubscribe", "unsubscribe"):
                    channel = message["channel"]
                    name = channel.decode(errors="replace") if isinstance(channel, bytes) else channel
                    on_outage(f"Redis ended the bus subscription to {name} (slot moved?)")
                    return
                if kind not in ("message", "smessage"):
                    continue
                self.heard_at = loop.time()
                if message["data"] == heartbeat:
                    continue
                try:
                    await on_message(message["data"])
                except Exception:
                    logger.exception("bug while handling a bus message")
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a dropped connection, in whatever form the client library reports it
            on_outage(error)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        if self.owner is not None:
            with contextlib.suppress(Exception):
                await self.owner.aclose()
