"""A pusherpy server with tracemalloc on, for measuring what each connection costs.

Run as a script: prints ``port N`` once listening; then each ``measure`` line on stdin prints ``traced BYTES
clients N`` after a garbage collection. The clients run in another process, so only the server is measured.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc

from aiohttp import web

from pusherpy.server.app import create_app
from pusherpy.server.listener import PusherSite
from pusherpy.server.state import STATE
from tests.helpers import make_settings


async def main() -> None:
    tracemalloc.start()
    application = create_app(make_settings())
    runner = web.AppRunner(application)
    await runner.setup()
    site = PusherSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"port {runner.addresses[0][1]}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"measure":
            gc.collect()
            clients = len(application[STATE].broker.local_clients())
            print(f"traced {tracemalloc.get_traced_memory()[0]} clients {clients}", flush=True)
    await runner.cleanup()


asyncio.run(main())
