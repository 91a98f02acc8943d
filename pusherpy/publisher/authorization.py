"""The bodies an app's auth endpoint returns to pusher-js: channel authorization and user authentication.

Nothing here performs I/O. The HMAC formulas live in ``pusherpy.protocol.signing``; this module validates the
inputs and shapes the responses exactly as pusher-js reads them (pusher-js ``src/core/auth/options.ts``):
``{auth}`` for private channels, ``{auth, channel_data}`` for presence channels, ``{auth, shared_secret}`` for
encrypted channels and ``{auth, user_data}`` for sign-in.

A resume position (``resume_after``, the last serial the page saw on a history channel) travels inside the signed
``channel_data``: for presence channels as one more key of the member object, for private (and encrypted) channels
as ``channel_data = {"resume_after": N}`` signed over ``socket_id:channel:channel_data``, the custom-data form of the
official SDKs (pusher-http-python ``authenticate(channel, socket_id, custom_data)``).

``channel_data`` and ``user_data`` are serialized with ``json.dumps`` and its default separators, as
pusher-http-python does, so both produce the same strings (and signatures) for the same input. The server verifies
whatever string it receives, so the separators only matter for that parity.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any, Final, NotRequired, TypedDict

from pusherpy.protocol import signing
from pusherpy.protocol.channels import (
    ChannelKind,
    channel_name_problem,
    classify,
    event_name_problem,
    is_valid_socket_id,
)
from pusherpy.protocol.errors import ConfigError

from .crypto import shared_secret
from .errors import InvalidArgument

_USER_ID: Final = re.compile(r"\A[A-Za-z0-9_\-=@,.;]{1,200}\Z")
MAX_SERIAL: Final = 2**53 - 1
"""The largest serial a page can hold exactly (a JavaScript number)."""


class ChannelAuth(TypedDict):
    """What pusher-js expects back from a channel authorization endpoint."""

    auth: str
    channel_data: NotRequired[str]
    shared_secret: NotRequired[str]


class UserAuth(TypedDict):
    """What pusher-js expects back from a user authentication endpoint (``pusher:signin``)."""

    auth: str
    user_data: str


def check_socket_id(socket_id: object) -> str:
    """Return ``socket_id`` when it is ``digits.digits``; raise ``InvalidArgument`` otherwise."""
    if not is_valid_socket_id(socket_id):
        raise InvalidArgument(f"socket_id {socket_id!r} is not two integers joined by a dot")
    assert isinstance(socket_id, str)
    return socket_id


def check_channel(channel_name: object) -> str:
    """Return a valid channel name; raise ``InvalidArgument`` naming the problem otherwise."""
    problem = channel_name_problem(channel_name)
    if problem is not None:
        raise InvalidArgument(f"channel {channel_name!r}: {problem}")
    assert isinstance(channel_name, str)
    return channel_name


def check_event(event_name: object) -> str:
    """Return a valid event name (non-empty, at most 200 characters); raise ``InvalidArgument`` otherwise."""
    problem = event_name_problem(event_name)
    if problem is not None:
        raise InvalidArgument(f"event {event_name!r}: {problem}")
    assert isinstance(event_name, str)
    return event_name


def check_user_id(user_id: object) -> str:
    """Return a valid user id (1-200 characters of the channel-name charset, as the official SDKs require)."""
    if not isinstance(user_id, str) or not _USER_ID.match(user_id):
        raise InvalidArgument(f"user id {user_id!r} must be 1-200 characters of A-Z a-z 0-9 _ - = @ , . ;")
    return user_id


def check_resume_after(value: object) -> int:
    """Return ``value`` when it is a serial (an int from 1 to 2**53-1, not a bool); raise ``InvalidArgument``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SERIAL:
        raise InvalidArgument(f"resume_after={value!r} must be a serial: an integer from 1 to {MAX_SERIAL}")
    return value


_SERIAL_TEXT: Final = re.compile(r"[1-9][0-9]{0,15}")


def parse_resume_after(value: object) -> int | None:
    """Read ``resume_after`` from an auth request body: an int, or its digits (a form body); absent (None) or an
    empty string is None, for a page that has seen no event yet.

    Raises:
        InvalidArgument: anything else, or a number outside 1..2**53-1.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and _SERIAL_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, str):
        value = value[:40]  # keep the message short
    return check_resume_after(value)


def authorize_channel(
    key: str,
    secret: str,
    socket_id: str,
    channel_name: str,
    user_data: Mapping[str, Any] | None = None,
    *,
    master_key: bytes | None = None,
    resume_after: int | None = None,
) -> ChannelAuth:
    """Sign a subscription to a private, presence or encrypted channel.

    Return the result as the auth endpoint's JSON body. For presence channels, ``user_data`` is the member:
    ``{"user_id": ..., "user_info": {...}}``. ``resume_after`` (the last serial the page saw) asks the server to
    replay what came after it; it is signed into ``channel_data`` (see the module docstring).

    Raises:
        InvalidArgument: bad socket id or channel name, a channel that needs no authorization, a presence channel
            without ``user_data["user_id"]``, ``user_data`` given for a non-presence channel, or a
            ``resume_after`` that is not a positive integer.
        ConfigError: an encrypted channel without an encryption master key.
    """
    check_socket_id(socket_id)
    check_channel(channel_name)
    if resume_after is not None:
        check_resume_after(resume_after)
    kind = classify(channel_name).kind
    if kind in (ChannelKind.PUBLIC, ChannelKind.SERVER_TO_USER):
        raise InvalidArgument(f"channel {channel_name!r} is not private, presence or encrypted; it needs no auth")
    if kind is ChannelKind.PRESENCE:
        if not isinstance(user_data, Mapping) or user_data.get("user_id") is None:
            raise InvalidArgument("presence channels need user_data with a 'user_id'")
        member = dict(user_data) if resume_after is None else {**user_data, "resume_after": resume_after}
        channel_data = json.dumps(member)
        auth = signing.sign_channel(key, secret, socket_id, channel_name, channel_data)
        return {"auth": auth, "channel_data": channel_data}
    if user_data is not None:
        raise InvalidArgument(f"user_data is only for presence channels, not {channel_name!r}")
    result: ChannelAuth
    if resume_after is None:
        result = {"auth": signing.sign_channel(key, secret, socket_id, channel_name)}
    else:
        custom_data = json.dumps({"resume_after": resume_after})
        auth = signing.sign_channel(key, secret, socket_id, channel_name, custom_data)
        result = {"auth": auth, "channel_data": custom_data}
    if kind is ChannelKind.ENCRYPTED:
        if master_key is None:
            raise ConfigError(f"{channel_name!r} is encrypted: pass encryption_master_key_base64 to the client")
        result["shared_secret"] = base64.b64encode(shared_secret(channel_name, master_key)).decode()
    return result


def authenticate_user(key: str, secret: str, socket_id: str, user_data: Mapping[str, Any]) -> UserAuth:
    """Sign a user's ``pusher:signin``; return ``{auth, user_data}`` for the user-auth endpoint's JSON body.

    ``user_data`` needs a string ``id``; ``user_info`` and ``watchlist`` are optional (Pusher: "User
    authentication").

    Raises:
        InvalidArgument: bad socket id, or ``user_data`` without a valid ``id``.
    """
    check_socket_id(socket_id)
    if not isinstance(user_data, Mapping) or "id" not in user_data:
        raise InvalidArgument("user_data must be a mapping with an 'id'")
    check_user_id(user_data["id"])
    encoded = json.dumps(user_data)
    return {"auth": signing.sign_user(key, secret, socket_id, encoded), "user_data": encoded}
