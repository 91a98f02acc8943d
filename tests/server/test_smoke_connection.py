"""Connecting: the handshake pusher-js expects."""

from __future__ import annotations

import re

from tests.helpers import RunningServer, connect


async def test_connection_established_carries_socket_id_and_activity_timeout(server: RunningServer) -> None:
    async with connect(server) as client:
        assert re.fullmatch(r"\d+\.\d+", client.socket_id)
        await client.send("pusher:ping")
        pong = await client.receive()
        assert pong["event"] == "pusher:pong"
