"""The framework-neutral core of an app's broadcasting auth endpoints (Laravel's ``/broadcasting/auth``).

pusher-js (directly or through Laravel Echo) POSTs ``socket_id`` and ``channel_name`` to the app before joining a
private, presence or encrypted channel, and ``socket_id`` alone before signing in. This module decides the answer;
a thin framework layer (``auth_aiohttp``) reads the request and writes the response.

Channel rules work like Laravel's ``routes/channels.php``: a pattern such as ``"conversation.{conversation_id}"``
is matched against the channel name without Echo's ``private-``, ``private-encrypted-`` or ``presence-`` prefix,
and its callback receives ``(user, **params)``. For private and encrypted channels it returns True or False; for
presence channels it returns the member's ``user_info`` mapping (or True for none), or False. The member's
``user_id`` always comes from the resolved user, never from the rule.

A request may carry ``resume_after`` (the last serial the page saw on a history channel, sent through pusher-js's
``channelAuthorization.params`` or a custom handler); when the rule allows the channel it is signed into the answer
(``Signer.authorize_channel(..., resume_after=N)``), and an invalid value is a 400.

Statuses: 400 bad input, 401 no user, 403 no matching rule or the rule refused, 500 a bug in a callback (logged,
never shown), 200 with exactly the body pusher-js expects. Error bodies are ``{"error": message}``.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, NamedTuple, Protocol, TypeAlias, TypeVar

from pusherpy.protocol.channels import ChannelKind, channel_name_problem, classify, is_valid_socket_id

from .authorization import ChannelAuth, UserAuth, parse_resume_after
from .errors import InvalidArgument

logger = logging.getLogger(__name__)

RequestT = TypeVar("RequestT")
RuleResult: TypeAlias = bool | Mapping[str, Any] | None
RuleCallback: TypeAlias = Callable[..., RuleResult | Awaitable[RuleResult]]
UserResolver: TypeAlias = Callable[[RequestT], Any]
"""Returns the user (or an awaitable of it), or None when the request is not authenticated."""
UserIdGetter: TypeAlias = Callable[[Any], object]
UserDataGetter: TypeAlias = Callable[[Any], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]

# Echo's prefixes, longest first (Laravel Broadcaster::normalizeChannelName strips the same ones).
AUTH_PREFIXES: Final = ("private-encrypted-", "private-", "presence-")
_PARAMETER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Signer(Protocol):
    """What signs the responses: ``Pusher`` and ``AsyncPusher`` both are one."""

    def authorize_channel(
        self,
        socket_id: str,
        channel: str,
        user_data: Mapping[str, Any] | None = None,
        *,
        resume_after: int | None = None,
    ) -> ChannelAuth: ...

    def authenticate_user(self, socket_id: str, user_data: Mapping[str, Any]) -> UserAuth: ...


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """One registered pattern and its callback. ``{name}`` matches one dot-free segment, as in Laravel."""

    pattern: str
    callback: RuleCallback
    regex: re.Pattern[str] = field(repr=False)

    @classmethod
    def compile(cls, pattern: str, callback: RuleCallback) -> ChannelRule:
        parts: list[str] = []
        position = 0
        names: set[str] = set()
        for match in _PARAMETER.finditer(pattern):
            if match.group(1) in names:
                raise ValueError(f"rule {pattern!r} repeats parameter {match.group(1)!r}")
            names.add(match.group(1))
            parts.append(re.escape(pattern[position : match.start()]))
            parts.append(f"(?P<{match.group(1)}>[^.]+)")
            position = match.end()
        parts.append(re.escape(pattern[position:]))
        if "{" in pattern[position:] or not pattern:
            raise ValueError(f"rule {pattern!r} is empty or has a malformed {{parameter}}")
        return cls(pattern, callback, re.compile("".join(parts)))

    def match(self, name: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(name)
        return None if found is None else found.groupdict()


@dataclass(frozen=True, slots=True)
class ResolvedRule:
    """The rule that matched a channel, and the parameters taken from the channel name."""

    rule: ChannelRule
    params: dict[str, str]


def strip_auth_prefix(channel_name: str) -> str:
    """Return the channel name as Echo's user wrote it: without ``private-``, ``private-encrypted-``, ``presence-``."""
    for prefix in AUTH_PREFIXES:
        if channel_name.startswith(prefix):
            return channel_name[len(prefix) :]
    return channel_name


class ChannelRules:
    """The app's channel authorization rules, tried in registration order (first match wins).

    Example::

        channels = ChannelRules()

        @channels.rule("conversation.{conversation_id}")
        async def conversation(user, conversation_id):
            return await is_participant(user, conversation_id)
    """

    def __init__(self) -> None:
        self._rules: list[ChannelRule] = []

    def rule(self, pattern: str) -> Callable[[RuleCallback], RuleCallback]:
        """Register the decorated callback for channels matching ``pattern``; the callback is returned unchanged."""

        def register(callback: RuleCallback) -> RuleCallback:
            self.add(pattern, callback)
            return callback

        return register

    def add(self, pattern: str, callback: RuleCallback) -> None:
        """Register ``callback`` for channels matching ``pattern``.

        Raises:
            ValueError: the pattern is empty, malformed or repeats a parameter.
        """
        self._rules.append(ChannelRule.compile(pattern, callback))

    def resolve(self, channel_name: str) -> ResolvedRule | None:
        """Return the first rule matching ``channel_name`` (prefix stripped) with its parameters, or None."""
        name = strip_auth_prefix(channel_name)
        for rule in self._rules:
            params = rule.match(name)
            if params is not None:
                return ResolvedRule(rule, params)
        return None

    def __len__(self) -> int:
        return len(self._rules)


class AuthResponse(NamedTuple):
    """What the endpoint answers: an HTTP status and a JSON object; unpacks as ``status, body``."""

    status: int
    body: dict[str, Any]

    @classmethod
    def error(cls, status: int, message: str) -> AuthResponse:
        return cls(status, {"error": message})


class _Refused(Exception):
    def __init__(self, response: AuthResponse) -> None:
        self.response = response


def default_user_id(user: Any) -> object:
    """Take the id from ``user["id"]`` (a mapping, e.g. JWT claims) or ``user.id`` (an ORM object)."""
    if isinstance(user, Mapping):
        return user["id"]
    return user.id


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _text_field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, list) and len(value) == 1:  # parse_qs-style mappings
        value = value[0]
    if not isinstance(value, str) or not value:
        raise _Refused(AuthResponse.error(400, f"{name} is required"))
    return value


def _resume_after(data: Mapping[str, Any]) -> int | None:
    value = data.get("resume_after")
    if isinstance(value, list) and len(value) == 1:  # parse_qs-style mappings
        value = value[0]
    try:
        return parse_resume_after(value)
    except InvalidArgument as exc:
        raise _Refused(AuthResponse.error(400, str(exc))) from None


class BroadcastAuth(Generic[RequestT]):
    """Answers channel authorization and user authentication requests.

    Args:
        signer: signs the responses (a ``Pusher`` or ``AsyncPusher``).
        rules: the channel rules.
        resolve_user: gets the user from the framework's request (sync or async); None means not logged in.
        user_id: gets the user's id from the user; ``user["id"]`` or ``user.id`` by default. Made a str.
        user_data: gets the sign-in ``user_data`` (``{"id": ..., "user_info": ...}``) from the user, sync or
            async; ``{"id": user_id(user)}`` by default.
    """

    def __init__(
        self,
        signer: Signer,
        rules: ChannelRules,
        resolve_user: UserResolver[RequestT],
        *,
        user_id: UserIdGetter = default_user_id,
        user_data: UserDataGetter | None = None,
    ) -> None:
        self.signer = signer
        self.rules = rules
        self._resolve_user = resolve_user
        self._user_id = user_id
        self._user_data = user_data

    async def authorize_channel(self, request: RequestT, data: Mapping[str, Any]) -> AuthResponse:
        """Answer a channel authorization request whose body (form or JSON) is ``data``."""
        try:
            socket_id, channel_name = self._channel_input(data)
            resume_after = _resume_after(data)
            user = await self._user(request)
            return await self._authorize(user, socket_id, channel_name, resume_after)
        except _Refused as refused:
            return refused.response
        except Exception:
            logger.exception("channel authorization failed")
            return AuthResponse.error(500, "internal error")

    async def authenticate_user(self, request: RequestT, data: Mapping[str, Any]) -> AuthResponse:
        """Answer a user authentication (sign-in) request whose body is ``data``."""
        try:
            socket_id = self._socket_id(data)
            user = await self._user(request)
            if self._user_data is None:
                user_data: Mapping[str, Any] = {"id": self._id_of(user)}
            else:
                user_data = await _maybe_await(self._user_data(user))
            return AuthResponse(200, dict(self.signer.authenticate_user(socket_id, user_data)))
        except _Refused as refused:
            return refused.response
        except Exception:
            logger.exception("user authentication failed")
            return AuthResponse.error(500, "internal error")

    @staticmethod
    def _socket_id(data: Mapping[str, Any]) -> str:
        socket_id = _text_field(data, "socket_id")
        if not is_valid_socket_id(socket_id):
            raise _Refused(AuthResponse.error(400, "socket_id must be two integers joined by a dot"))
        return socket_id

    def _channel_input(self, data: Mapping[str, Any]) -> tuple[str, str]:
        socket_id = self._socket_id(data)
        channel_name = _text_field(data, "channel_name")
        problem = channel_name_problem(channel_name)
        if problem is not None:
            raise _Refused(AuthResponse.error(400, f"channel_name: {problem}"))
        if not classify(channel_name).needs_auth:
            raise _Refused(AuthResponse.error(400, "channel_name is not a private, presence or encrypted channel"))
        return socket_id, channel_name

    async def _user(self, request: RequestT) -> Any:
        user = await _maybe_await(self._resolve_user(request))
        if user is None:
            raise _Refused(AuthResponse.error(401, "not authenticated"))
        return user

    def _id_of(self, user: Any) -> str:
        user_id = self._user_id(user)
        if user_id is None or user_id == "":
            raise ValueError("the user has no id")
        return str(user_id)

    async def _authorize(self, user: Any, socket_id: str, channel_name: str, resume_after: int | None) -> AuthResponse:
        resolved = self.rules.resolve(channel_name)
        if resolved is None:
            return AuthResponse.error(403, "no rule allows this channel")
        result = await _maybe_await(resolved.rule.callback(user, **resolved.params))
        allowed = isinstance(result, Mapping) or bool(result)
        if not allowed:
            return AuthResponse.error(403, "forbidden")
        member: dict[str, Any] | None = None
        if classify(channel_name).kind is ChannelKind.PRESENCE:
            member = {"user_id": self._id_of(user)}
            if isinstance(result, Mapping):
                member["user_info"] = dict(result)
        if resume_after is None:  # a Signer written before resume_after existed still works
            return AuthResponse(200, dict(self.signer.authorize_channel(socket_id, channel_name, member)))
        signed = self.signer.authorize_channel(socket_id, channel_name, member, resume_after=resume_after)
        return AuthResponse(200, dict(signed))


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
