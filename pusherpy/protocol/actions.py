"""What the per-socket core asks its shell to do, and the identities it vouches for.

``Connection.receive_text`` answers with these values: the core decides, the shell (and its broker) carries out,
because only they know the other sockets and nodes. ``Member`` and ``User`` come from signed client data, so a
broker can trust them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from .channels import ChannelType
from .events import ChannelEvent


@dataclass(frozen=True, slots=True)
class Member:
    """A presence channel member, from the subscription's signed ``channel_data``."""

    user_id: str
    user_info: Any


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in user, from ``pusher:signin``'s signed ``user_data``."""

    id: str
    user_data: str
    watchlist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """Send this text to this socket."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerPing:
    """Answer a ``pusher:ping`` with ``pusher:pong``. Not a ``Reply``: the shell sends it as a pong, which a pong
    still waiting in the socket's send buffer may stand for (at most one pong is pending per socket)."""


ANSWER_PING = AnswerPing()


@dataclass(frozen=True, slots=True)
class Join:
    """Add this socket to a channel; the shell answers with subscription_succeeded (or an error)."""

    channel: str
    channel_type: ChannelType
    member: Member | None
    resume_after: int | None = None
    """The position the backend signed into ``channel_data`` for this subscription to resume after."""


@dataclass(frozen=True, slots=True)
class Leave:
    channel: str


@dataclass(frozen=True, slots=True)
class Relay:
    """Publish a client event to the channel's other subscribers (not echoed to the sender)."""

    event: ChannelEvent


@dataclass(frozen=True, slots=True)
class SignIn:
    user: User


Action: TypeAlias = Reply | AnswerPing | Join | Leave | Relay | SignIn
