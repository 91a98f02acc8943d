"""Who is subscribed where, in one process: channels, presence members, signed-in users, cache.

Nothing here performs I/O or reads a clock. The registry decides outcomes (first subscriber, first socket of a
presence user, last one leaving) and recipients; it never sends. It is generic over the subscriber handle ``S`` so
the server can keep its socket objects here and fan out without a lookup per socket.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .actions import Member

S = TypeVar("S", bound=Hashable)


@dataclass(slots=True)
class PresenceUser(Generic[S]):
    """One presence member and the sockets through which it is in the channel (a user with two tabs is one)."""

    user_info: Any
    sockets: set[S] = field(default_factory=set)


@dataclass(slots=True)
class ChannelState(Generic[S]):
    subscribers: dict[S, Member | None] = field(default_factory=dict)
    members: dict[str, PresenceUser[S]] = field(default_factory=dict)
    joins: int = 0
    """Subscribers ever added, in order (``subscribers`` keeps that order): the last ``joins - n`` of them came
    after the moment this read ``n``."""

    @property
    def subscription_count(self) -> int:
        return len(self.subscribers)

    @property
    def user_count(self) -> int:
        return len(self.members)


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    """What a subscription changed: ``occupied`` when it is the channel's first subscriber, ``member_added`` when
    it is the user's first socket in the presence channel."""

    occupied: bool
    member_added: bool


@dataclass(frozen=True, slots=True)
class LeaveOutcome:
    """What an unsubscription changed: ``left`` when the socket was subscribed, ``vacated`` when it was the last
    subscriber, ``removed_user_id`` when it was a presence user's last socket in the channel."""

    left: bool
    vacated: bool
    removed_user_id: str | None


class Registry(Generic[S]):
    """The subscriptions of one app in this process."""

    __slots__ = ("channels", "users")

    def __init__(self) -> None:
        self.channels: dict[str, ChannelState[S]] = {}
        self.users: dict[str, set[S]] = {}
        """Signed-in user id -> its sockets."""

    def join(self, channel: str, subscriber: S, member: Member | None) -> JoinOutcome:
        """Add a subscriber; idempotent for a socket already in the channel."""
        state = self.channels.get(channel)
        occupied = state is None
        if state is None:
            state = self.channels[channel] = ChannelState()
        if subscriber in state.subscribers:
            return JoinOutcome(False, False)
        state.subscribers[subscriber] = member
        state.joins += 1
        if member is None:
            return JoinOutcome(occupied, False)
        presence_user = state.members.get(member.user_id)
        if presence_user is None:
            presence_user = state.members[member.user_id] = PresenceUser(member.user_info)
            presence_user.sockets.add(subscriber)
            return JoinOutcome(occupied, True)
        presence_user.sockets.add(subscriber)
        return JoinOutcome(occupied, False)

    def leave(self, channel: str, subscriber: S) -> LeaveOutcome:
        """Remove a subscriber; a no-op for one that is not there."""
        state = self.channels.get(channel)
        if state is None or subscriber not in state.subscribers:
            return LeaveOutcome(False, False, None)
        member = state.subscribers.pop(subscriber)
        removed_user_id: str | None = None
        if member is not None:
            presence_user = state.members.get(member.user_id)
            if presence_user is not None:
                presence_user.sockets.discard(subscriber)
                if not presence_user.sockets:
                    del state.members[member.user_id]
                    removed_user_id = member.user_id
        vacated = not state.subscribers
        if vacated:
            del self.channels[channel]
        return LeaveOutcome(True, vacated, removed_user_id)

    def would_exceed_members(self, channel: str, member: Member, limit: int) -> bool:
        """Whether adding this member's user would pass the presence member limit (0: no limit)."""
        if limit <= 0:
            return False
        state = self.channels.get(channel)
        if state is None or member.user_id in state.members:
            return False
        return len(state.members) >= limit

    def subscribers(self, channel: str) -> Iterable[S]:
        state = self.channels.get(channel)
        return state.subscribers.keys() if state is not None else ()

    def members(self, channel: str) -> dict[str, Any]:
        """Presence user id -> user_info."""
        state = self.channels.get(channel)
        if state is None:
            return {}
        return {user_id: user.user_info for user_id, user in state.members.items()}

    def sign_in(self, user_id: str, subscriber: S) -> bool:
        """Record a signed-in socket; True when it is the user's first (the user came online)."""
        sockets = self.users.setdefault(user_id, set())
        first = not sockets
        sockets.add(subscriber)
        return first

    def sign_out(self, user_id: str, subscriber: S) -> bool:
        """Forget a signed-in socket; True when it was the user's last (the user went offline)."""
        sockets = self.users.get(user_id)
        if sockets is None or subscriber not in sockets:
            return False
        sockets.discard(subscriber)
        if sockets:
            return False
        del self.users[user_id]
        return True

    def user_sockets(self, user_id: str) -> set[S]:
        return self.users.get(user_id, set())
