"""Channel kinds, and validation of channel and event names.

Nothing here performs I/O. Prefixes are matched exactly, dash included (Reverb matches ``private`` without the
dash, and soketi uses unanchored regexes; both let the wrong names through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

MAX_CHANNEL_NAME_LENGTH: Final = 200
MAX_EVENT_NAME_LENGTH: Final = 200
SERVER_TO_USER_PREFIX: Final = "#server-to-user-"
CLIENT_EVENT_PREFIX: Final = "client-"

_CHANNEL_NAME = re.compile(r"\A[A-Za-z0-9_\-=@,.;]+\Z")
_SOCKET_ID = re.compile(r"\A\d{1,20}\.\d{1,20}\Z")


class ChannelKind(StrEnum):
    """What a channel name's prefix makes it."""

    PUBLIC = "public"
    PRIVATE = "private"
    PRESENCE = "presence"
    ENCRYPTED = "private-encrypted"
    SERVER_TO_USER = "server-to-user"


@dataclass(frozen=True, slots=True)
class ChannelType:
    """A channel's kind and whether it keeps its last event (cache channels)."""

    kind: ChannelKind
    cached: bool

    @property
    def needs_auth(self) -> bool:
        """Private, presence and encrypted channels need a signed subscription."""
        return self.kind in (ChannelKind.PRIVATE, ChannelKind.PRESENCE, ChannelKind.ENCRYPTED)

    @property
    def is_presence(self) -> bool:
        return self.kind is ChannelKind.PRESENCE

    @property
    def accepts_client_events(self) -> bool:
        """Pusher allows client events on private and presence channels only (not encrypted ones)."""
        return self.kind in (ChannelKind.PRIVATE, ChannelKind.PRESENCE)


# Longest prefixes first, so "private-encrypted-cache-" wins over "private-".
_PREFIXES: Final[tuple[tuple[str, ChannelType], ...]] = (
    ("private-encrypted-cache-", ChannelType(ChannelKind.ENCRYPTED, True)),
    ("private-encrypted-", ChannelType(ChannelKind.ENCRYPTED, False)),
    ("private-cache-", ChannelType(ChannelKind.PRIVATE, True)),
    ("presence-cache-", ChannelType(ChannelKind.PRESENCE, True)),
    ("private-", ChannelType(ChannelKind.PRIVATE, False)),
    ("presence-", ChannelType(ChannelKind.PRESENCE, False)),
    ("cache-", ChannelType(ChannelKind.PUBLIC, True)),
)
_PUBLIC: Final = ChannelType(ChannelKind.PUBLIC, False)
_SERVER_TO_USER: Final = ChannelType(ChannelKind.SERVER_TO_USER, False)


def classify(channel_name: str) -> ChannelType:
    """Return the type a channel name's prefix gives it. The name is not validated here."""
    if channel_name.startswith(SERVER_TO_USER_PREFIX):
        return _SERVER_TO_USER
    for prefix, channel_type in _PREFIXES:
        if channel_name.startswith(prefix):
            return channel_type
    return _PUBLIC


def channel_name_problem(channel_name: object) -> str | None:
    """Say what is wrong with a channel name, or return None when it is valid.

    ``#server-to-user-{id}`` is valid: pusher-js subscribes to it after sign-in.
    """
    if not isinstance(channel_name, str) or not channel_name:
        return "channel name must be a non-empty string"
    if len(channel_name) > MAX_CHANNEL_NAME_LENGTH:
        return f"channel name is longer than {MAX_CHANNEL_NAME_LENGTH} characters"
    body = channel_name
    if channel_name.startswith(SERVER_TO_USER_PREFIX):
        body = channel_name[len(SERVER_TO_USER_PREFIX) :]
        if not body:
            return "server-to-user channel needs a user id"
    if not _CHANNEL_NAME.match(body):
        return "channel name may only contain A-Z a-z 0-9 _ - = @ , . ;"
    return None


def event_name_problem(event_name: object) -> str | None:
    """Say what is wrong with an event name, or return None when it is valid."""
    if not isinstance(event_name, str) or not event_name:
        return "event name must be a non-empty string"
    if len(event_name) > MAX_EVENT_NAME_LENGTH:
        return f"event name is longer than {MAX_EVENT_NAME_LENGTH} characters"
    return None


def is_valid_socket_id(socket_id: object) -> bool:
    """A socket id is two unsigned integers joined by a dot (the SDKs' ``^\\d+\\.\\d+$``)."""
    return isinstance(socket_id, str) and _SOCKET_ID.match(socket_id) is not None


def server_to_user_channel(user_id: str) -> str:
    """The channel pusher-js joins after sign-in, and that ``send_to_user`` publishes to."""
    return SERVER_TO_USER_PREFIX + user_id


def user_id_of_server_to_user_channel(channel_name: str) -> str:
    return channel_name[len(SERVER_TO_USER_PREFIX) :]
