"""The records the Redis store trades with the broker, and what they mean to the rest of the node.

The store's scripts take ``Delta`` records (add or remove this node's share of a count) and answer ``Change``
records (a cluster total before and after). Turning a ``Change`` into the announcer's transitions, and this node's
sockets into the records it must hold in Redis, happens here, so ``RedisBroker`` only moves them between the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ...protocol import codec
from ...protocol.apps import AppConfig
from . import redis_scripts
from .announcer import (
    ChannelOccupied,
    ChannelVacated,
    MemberJoined,
    MemberLeft,
    SubscriptionCountChanged,
    Transition,
    UserOnlineChanged,
)
from .node import LocalNode
from .redis_scripts import FAMILIES, Family

NodeRecords = dict[str, dict[Family, dict[str, tuple[int, str]]]]
"""App id -> family -> field -> (this node's count, presence user_info JSON)."""


@dataclass(frozen=True, slots=True)
class Change:
    """A cluster total moved by a script: a channel's subscriptions, a presence user's sockets, a user's
    signed-in sockets or an app's connections. ``before == 0`` is a first, ``after == 0`` a last."""

    family: Family
    app_id: str
    channel: str
    user_id: str
    before: int
    after: int
    version: int = 0
    """For ``chan``: the version of the new subscription count, increasing per channel (see ``redis_scripts``)."""


@dataclass(frozen=True, slots=True)
class Delta:
    family: Family
    field: str
    delta: int
    info: str = ""
    """The presence member's user_info JSON (``member`` only)."""


@dataclass(frozen=True, slots=True)
class JoinReply:
    changes: list[Change]
    members: dict[str, Any]
    """Presence user id -> user_info, cluster-wide, after the join (presence channels only)."""
    cache: tuple[str, float] | None
    """The cache channel's last event and its seconds left, when asked for and present."""


def field_of(app_id: str, channel: str = "", user_id: str = "", *, family: Family) -> str:
    """The node-record field of a family (see ``redis_scripts``)."""
    if family is Family.CONN:
        return f"{app_id}\n"
    if family is Family.CHAN:
        return f"{app_id}\n{channel}"
    if family is Family.MEMBER:
        return f"{app_id}\n{channel}\n{user_id}"
    return f"{app_id}\n{user_id}"


def parse_changes(flat: Sequence[Any]) -> list[Change]:
    changes = []
    for index in range(0, len(flat), redis_scripts.CHANGE_WIDTH):
        name, field, before, after, version = flat[index : index + redis_scripts.CHANGE_WIDTH]
        family = Family(name)
        app_id, _, rest = field.partition("\n")
        channel, user_id = "", ""
        if family is Family.CHAN:
            channel = rest
        elif family is Family.MEMBER:
            channel, _, user_id = rest.partition("\n")
        elif family is Family.USER:
            user_id = rest
        changes.append(Change(family, app_id, channel, user_id, int(before), int(after), int(version)))
    return changes


def transitions(change: Change, user_info: Any, except_socket_id: str | None) -> list[Transition]:
    """What a cluster total crossing means to the announcer: a first or last subscriber, member or socket of a
    user, and each new subscription count. ``user_info`` is the joining member's (presence ``member`` only)."""
    first, last = change.before <= 0 < change.after, change.after <= 0 < change.before
    channel, user_id = change.channel, change.user_id
    found: list[Transition] = []
    if change.family is Family.CHAN:
        if first:
            found.append(ChannelOccupied(channel))
        elif last:
            found.append(ChannelVacated(channel))
        if change.after > 0 and change.after != change.before:
            found.append(SubscriptionCountChanged(channel, change.after, change.version))
    elif change.family is Family.MEMBER and first:
        found.append(MemberJoined(channel, user_id, user_info, except_socket_id))
    elif change.family is Family.MEMBER and last:
        found.append(MemberLeft(channel, user_id))
    elif change.family is Family.USER and (first or last):
        found.append(UserOnlineChanged(user_id, first))
    return found


def local_records(node: LocalNode, apps: Iterable[AppConfig]) -> NodeRecords:
    """What this node contributes to Redis, read from its sockets (re-registering after an outage sets exactly
    this)."""
    all_records: NodeRecords = {}
    for app in apps:
        records: dict[Family, dict[str, tuple[int, str]]] = {family: {} for family in FAMILIES}
        all_records[app.id] = records
        registry = node.registry(app)
        for channel, state in registry.channels.items():
            records[Family.CHAN][field_of(app.id, channel, family=Family.CHAN)] = (state.subscription_count, "")
            for user_id, presence_user in state.members.items():
                key = field_of(app.id, channel, user_id, family=Family.MEMBER)
                records[Family.MEMBER][key] = (len(presence_user.sockets), codec.dumps(presence_user.user_info))
        for user_id, sockets in registry.users.items():
            records[Family.USER][field_of(app.id, "", user_id, family=Family.USER)] = (len(sockets), "")
        connections = node.connection_count(app.id)
        if connections:
            records[Family.CONN][field_of(app.id, family=Family.CONN)] = (connections, "")
    return all_records
