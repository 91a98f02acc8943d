"""Use pusherpy's publishers on a ``PUSHER_URL`` from a fresh process, for the TLS tests.

``python -m tests.server.publish_url async|sync PUSHER_URL CHANNEL`` triggers ``greeting`` on CHANNEL, asks the
channel's info, and prints one JSON line: ``{"trigger": ..., "info": ...}``, or ``ExceptionName: message``. Run it
with ``SSL_CERT_FILE`` naming the test's CA: the clients then trust that CA as they would a real one from the system
store (aiohttp reads the trust store when it is imported, so the test process itself cannot be pointed at a new CA).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pusherpy.protocol.errors import PusherpyError
from pusherpy.publisher import AsyncPusher, Pusher

DATA = {"text": "hello over TLS"}


async def _async(url: str, channel: str) -> dict[str, Any]:
    async with AsyncPusher.from_env({"PUSHER_URL": url}) as pusher:
        trigger = await pusher.trigger(channel, "greeting", DATA)
        info = await pusher.channel_info(channel, ["subscription_count"])
    return {"trigger": trigger, "info": info}


def _sync(url: str, channel: str) -> dict[str, Any]:
    with Pusher.from_env({"PUSHER_URL": url}) as pusher:
        trigger = pusher.trigger(channel, "greeting", DATA)
        info = pusher.channel_info(channel, ["subscription_count"])
    return {"trigger": trigger, "info": info}


def main() -> None:
    kind, url, channel = sys.argv[1:4]
    try:
        result = asyncio.run(_async(url, channel)) if kind == "async" else _sync(url, channel)
    except PusherpyError as exc:
        print(f"{type(exc).__name__}: {exc}")
        return
    print(json.dumps(result))


if __name__ == "__main__":
    main()
