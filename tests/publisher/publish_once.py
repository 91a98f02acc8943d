"""Publish one event from a fresh process and print how it ended, for tests that need the process's own TLS trust.

``python -m tests.publisher.publish_once sync|async PORT TIMEOUT`` triggers on https://127.0.0.1:PORT (no scheme
given, as a user would write it) and prints ``ok`` or ``ExceptionName: message``. Run it with ``SSL_CERT_FILE``
naming a test CA: both clients then trust that CA, as they would trust a real one from the system store (aiohttp
reads the trust store when it is imported, so the test process itself cannot be pointed at a new CA).
"""

from __future__ import annotations

import asyncio
import sys

from pusherpy.protocol.errors import PusherpyError
from pusherpy.publisher import AsyncPusher, Pusher

APP_ID, KEY, SECRET = "4242", "test-key", "test-secret"
RETRIES = 0  # one attempt: the tests check how a failure is reported, not how often it is retried


async def _publish_async(port: int, timeout: float) -> None:
    async with AsyncPusher(
        APP_ID, KEY, SECRET, host="127.0.0.1", port=port, timeout=timeout, retries=RETRIES
    ) as pusher:
        await pusher.trigger("news", "headline", {"title": "hi"})


def main() -> None:
    kind, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    try:
        if kind == "sync":
            with Pusher(APP_ID, KEY, SECRET, host="127.0.0.1", port=port, timeout=timeout, retries=RETRIES) as pusher:
                pusher.trigger("news", "headline", {"title": "hi"})
        else:
            asyncio.run(_publish_async(port, timeout))
    except PusherpyError as exc:
        print(f"{type(exc).__name__}: {exc}")
        return
    print("ok")


if __name__ == "__main__":
    main()
