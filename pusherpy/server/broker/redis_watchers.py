"""Which local sockets watch which users (``pusher:signin`` watchlists), for ``RedisBroker``.

Nothing here touches Redis: whether a user is online is a cluster-wide fact the broker reads from Redis; this
module only remembers, per node, who must hear about it and writes the ``watchlist_events`` frame to them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...protocol import codec
from ...protocol.events import WatchlistChange, WatchlistEvents
from ..client import Client
from ..frames import text_frame


class Watchers:
    """app id -> watched user id -> this node's sockets watching that user."""

    def __init__(self) -> None:
        self._by_app: dict[str, dict[str, set[Client]]] = {}

    def add(self, app_id: str, watchlist: Iterable[str], client: Client) -> None:
        watched = self._by_app.setdefault(app_id, {})
        for user_id in watchlist:
            watched.setdefault(user_id, set()).add(client)

    def remove(self, app_id: str, watchlist: Iterable[str], client: Client) -> None:
        watched = self._by_app.get(app_id, {})
        for user_id in watchlist:
            watchers = watched.get(user_id)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del watched[user_id]

    def notify(self, app_id: str, user_id: str, state: str) -> None:
        """Tell this node's watchers of ``user_id`` that it went ``online`` or ``offline`` (one frame, encoded once)."""
        watchers = self._by_app.get(app_id, {}).get(user_id)
        if not watchers:
            return
        event = WatchlistEvents(events=[WatchlistChange(name=state, user_ids=[user_id])])
        frame = text_frame(codec.encode(event).encode())
        for client in watchers:
            client.write_frame(frame)


def initial_state(watchlist: Iterable[str], online: Iterable[bool]) -> str:
    """The ``watchlist_events`` a socket gets right after signing in: who of its watchlist is online, who not."""
    groups: dict[str, list[str]] = {"online": [], "offline": []}
    for user_id, is_online in zip(watchlist, online, strict=True):
        groups["online" if is_online else "offline"].append(user_id)
    changes = [WatchlistChange(name=name, user_ids=ids) for name, ids in groups.items() if ids]
    return codec.encode(WatchlistEvents(events=changes))
