"""The cluster's fanout: what reaches this node's sockets at once, and the one bus message that tells the others.

``Announcer`` sends through a ``Fanout`` without knowing whether other nodes exist; on a cluster this is it. Each
broadcast is carried out here first (``LocalNode``), then sent once on the bus; each message another node sent is
carried out here on arrival. The bus is never asked twice and never raises into a publish: see docs/scale-out.md,
"What a publish answer means".
"""

from __future__ import annotations

from redis.exceptions import RedisError

from .node import LocalNode
from .redis_messages import (
    BusMessage,
    ChannelEventMessage,
    CountMessage,
    HeartbeatMessage,
    TerminateMessage,
    WatchlistMessage,
)
from .redis_node import NodeLifecycle
from .redis_store import OUTAGE_ERRORS


class BusFanout:
    """This node's sockets, then the bus.

    Args:
        node: this node's sockets.
        life: the node's health and its bus.
        node_id: stamped on every message, so the node skips its own when the bus echoes them back.
    """

    def __init__(self, node: LocalNode, life: NodeLifecycle, node_id: str) -> None:
        self._node = node
        self._life = life
        self._node_id = node_id

    async def broadcast(self, app_id: str, channel: str, text: str, except_socket_id: str | None) -> None:
        self._node.deliver(app_id, channel, text, except_socket_id)
        await self.send(ChannelEventMessage(self._node_id, app_id, channel, except_socket_id, text))

    async def broadcast_count(self, app_id: str, channel: str, text: str, version: int) -> None:
        self._node.deliver_count(app_id, channel, text, version)
        await self.send(CountMessage(self._node_id, app_id, channel, version, text))

    async def broadcast_watchlist(self, app_id: str, user_id: str, online: bool) -> None:
        self._node.notify_watchers(app_id, user_id, online)
        await self.send(WatchlistMessage(self._node_id, app_id, user_id, online))

    async def send(self, message: BusMessage, *, cache: tuple[str, str, int] | None = None) -> None:
        """Send one message to the other nodes; while Redis is unreachable, nothing (this node serves alone).

        Never raises: the message was already carried out on this node's sockets, and a publish that reached a
        subscriber is answered 200. Redis refusing the message for another reason (out of memory, say) is counted
        and logged, not turned into an error answer."""
        if not self._life.healthy:
            return
        try:
            await self._life.bus.publish(message, cache=cache)
        except OUTAGE_ERRORS as error:
            self._life.outage(error)
        except RedisError as error:
            self._life.bus.refused_messages.record(error)

    async def receive(self, message: BusMessage) -> None:
        """Carry out another node's bus message on this node's sockets; our own were handled when sent."""
        if message.node_id == self._node_id:
            return
        match message:
            case ChannelEventMessage(_, app_id, channel, except_socket_id, text):
                self._node.deliver(app_id, channel, text, except_socket_id)
            case CountMessage(_, app_id, channel, version, text):
                self._node.deliver_count(app_id, channel, text, version)
            case WatchlistMessage(_, app_id, user_id, online):
                self._node.notify_watchers(app_id, user_id, online)
            case TerminateMessage(_, app_id, user_id):
                self._node.terminate(app_id, user_id)
            case HeartbeatMessage():
                pass  # another node's: only its sender reads it
