"""The per-socket state machine: ``receive_text(text, now)`` returns the actions the shell must carry out.

Nothing here performs I/O or reads a clock. The core validates and authorizes; what crosses sockets (joining a
channel, relaying a client event, signing in) comes back as an action for the shell and its broker, because only
they know the other sockets and nodes. A rule broken by the client raises a ``ProtocolError``; the shell maps it to
one ``pusher:error`` (and a close when ``error.close`` is set).
"""

from __future__ import annotations

from . import codec, history, signing
from .actions import ANSWER_PING, Action, Join, Leave, Member, Relay, Reply, SignIn, User
from .apps import AppConfig
from .channels import (
    ChannelKind,
    channel_name_problem,
    classify,
    event_name_problem,
    user_id_of_server_to_user_channel,
)
from .errors import (
    ChannelLimitReached,
    ClientEventRejected,
    MalformedMessage,
    MemberChanged,
    OverCapacity,
    ProtocolError,
    Unauthorized,
    WatchlistTooLong,
)
from .events import (
    ChannelEvent,
    ClientEvent,
    Error,
    Ping,
    Pong,
    Signin,
    Subscribe,
    SubscriptionError,
    Unsubscribe,
)
from .ratelimit import RateWindow


class Connection:
    """What pusherpy knows about one socket, and the rules for what it may do.

    Args:
        socket_id: the id sent in ``pusher:connection_established``.
        app: the app the socket connected to.
    """

    __slots__ = ("socket_id", "app", "channels", "user", "_client_event_rate", "_message_rate")

    def __init__(self, socket_id: str, app: AppConfig) -> None:
        self.socket_id = socket_id
        self.app = app
        self.channels: dict[str, Member | None] = {}
        """Subscribed channels, with this socket's presence member where there is one."""
        self.user: User | None = None
        self._client_event_rate = RateWindow(app.max_client_events_per_second)
        self._message_rate = RateWindow(app.max_messages_per_second)

    @property
    def is_authorized(self) -> bool:
        """Signed in, or joined a private/presence channel: what "authorized connections" mode asks for."""
        return self.user is not None or any(classify(name).needs_auth for name in self.channels)

    def receive_text(self, text: str | bytes, now: float) -> list[Action]:
        """Handle one client frame.

        Returns:
            the actions to carry out, in order.

        Raises:
            ProtocolError: the frame breaks the protocol or a rule; nothing changed.
        """
        self.count_message(now)
        event = codec.decode(text)
        match event:
            case ClientEvent():
                return [self._client_event(event, now)]
            case Subscribe():
                try:
                    return [self._subscribe(event)]
                except ProtocolError as error:
                    error.refused_subscription = True
                    raise
            case Unsubscribe():
                return self._unsubscribe(event)
            case Ping():
                return [ANSWER_PING]
            case Pong():
                return []
            case Signin():
                return self._signin(event)
        raise MalformedMessage("unsupported event")  # pragma: no cover - decode returns only the above

    def count_message(self, now: float) -> None:
        """Count one message of any kind (binary ones too) against the app's ``max_messages_per_second``.

        Raises:
            ClientEventRejected: 4301, the message is over the limit and must be ignored.
            OverCapacity: 4100 with close, the socket sent twice the limit within one second (sustained abuse);
                pusher-js reconnects after a backoff.
        """
        window = self._message_rate
        if window.allow(now):
            return
        limit = window.limit
        if window.refused >= limit:
            message = f"sent more than twice the limit of {limit} messages per second; reconnect later"
            raise OverCapacity(message, close=True)
        raise ClientEventRejected(f"rate limit exceeded: at most {limit} messages per second; message ignored")

    # -- subscriptions ---------------------------------------------------------------------------------------------

    def _subscribe(self, subscribe: Subscribe) -> Join:
        channel = subscribe.channel
        problem = channel_name_problem(channel)
        if problem is not None:
            raise MalformedMessage(f"cannot subscribe to {channel[:210]!r}: {problem}", channel=channel)
        limit = self.app.max_channels_per_connection
        if limit and len(self.channels) >= limit and channel not in self.channels:
            message = (
                f"cannot subscribe to {channel[:210]!r}: a connection may be subscribed to at most {limit} channels"
            )
            raise ChannelLimitReached(message, channel=channel)
        channel_type = classify(channel)
        member: Member | None = None
        resume_from: int | None = None
        if channel_type.kind is ChannelKind.SERVER_TO_USER:
            if self.user is None or self.user.id != user_id_of_server_to_user_channel(channel):
                raise Unauthorized(f"{channel}: sign in as this user first", channel=channel)
        elif channel_type.needs_auth:
            signed_data = self._check_channel_auth(subscribe)
            if channel_type.is_presence:
                member = self._presence_member(channel, subscribe.channel_data)
                joined = self.channels.get(channel)
                if joined is not None and joined != member:
                    message = f"{channel}: this socket is already a member as user {joined.user_id[:64]!r}"
                    raise MemberChanged(message + "; unsubscribe first", channel=channel)
            resume_from = history.resume_after(channel, signed_data)
        self.channels[channel] = member
        return Join(channel, channel_type, member, resume_from)

    def _check_channel_auth(self, subscribe: Subscribe) -> str | None:
        """Check the subscription's signature; return the ``channel_data`` it covers (None when it covers none).

        A private channel's ``channel_data`` is optional. When the backend sent one (a resume position, say), the
        official SDKs sign it as for presence channels, and it counts only if the signature covers it: a
        signature over the socket and channel alone is still accepted, with the unsigned data ignored.
        """
        channel = subscribe.channel
        if not subscribe.auth:
            raise Unauthorized(f"{channel}: subscription needs an 'auth' signature", channel=channel)
        if not subscribe.auth.startswith(self.app.key + ":"):
            raise Unauthorized(f"{channel}: invalid signature", channel=channel)
        key, secret, auth, socket_id = self.app.key, self.app.secret, subscribe.auth, self.socket_id
        channel_data = subscribe.channel_data
        if classify(channel).is_presence:
            if signing.verify_channel_auth(key, secret, auth, socket_id, channel, channel_data):
                return channel_data
        elif channel_data and signing.verify_channel_auth(key, secret, auth, socket_id, channel, channel_data):
            return channel_data
        elif signing.verify_channel_auth(key, secret, auth, socket_id, channel, None):
            return None
        raise Unauthorized(f"{channel}: invalid signature", channel=channel)

    def _presence_member(self, channel: str, channel_data: str | None) -> Member:
        if channel_data is None:
            raise MalformedMessage(f"{channel}: presence subscription needs 'channel_data'", channel=channel)
        try:
            data = codec.loads(channel_data)
        except codec.JSONDecodeError:
            raise MalformedMessage(f"{channel}: channel_data is not JSON", channel=channel) from None
        if not isinstance(data, dict):
            raise MalformedMessage(f"{channel}: channel_data must be a JSON object", channel=channel)
        user_id = data.get("user_id")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not user_id:
            raise MalformedMessage(f"{channel}: channel_data needs a 'user_id'", channel=channel)
        if len(user_id) > self.app.max_presence_user_id_length:
            raise MalformedMessage(
                f"{channel}: user_id is longer than {self.app.max_presence_user_id_length} characters",
                channel=channel,
            )
        user_info = data.get("user_info")
        if len(codec.dumps(user_info).encode()) > self.app.max_presence_member_size_bytes:
            raise MalformedMessage(
                f"{channel}: user_info is larger than {self.app.max_presence_member_size_bytes} bytes",
                channel=channel,
            )
        return Member(user_id, user_info)

    def _unsubscribe(self, unsubscribe: Unsubscribe) -> list[Action]:
        if self.channels.pop(unsubscribe.channel, False) is False:
            return []
        return [Leave(unsubscribe.channel)]

    def join_failed(self, channel: str) -> None:
        """Forget a channel whose Join the broker refused (e.g. the presence member limit)."""
        self.channels.pop(channel, None)

    # -- client events ---------------------------------------------------------------------------------------------

    def _client_event(self, event: ClientEvent, now: float) -> Relay:
        channel = event.channel
        if not self.app.enable_client_events:
            raise ClientEventRejected("client events are not enabled for this app", channel=channel)
        if not classify(channel).accepts_client_events:
            raise ClientEventRejected(
                f"{channel}: client events are only allowed on private and presence channels", channel=channel
            )
        if channel not in self.channels:
            raise Unauthorized(f"{channel}: subscribe before sending client events", channel=channel)
        problem = event_name_problem(event.event)
        if problem is not None:
            raise ClientEventRejected(problem, channel=channel)
        if len(codec.encode_data(event.data).encode()) > self.app.max_event_payload_bytes:
            raise ClientEventRejected(
                f"client event data is larger than {self.app.max_event_payload_kb} KB", channel=channel
            )
        if not self._client_event_rate.allow(now):
            limit = self._client_event_rate.limit
            raise ClientEventRejected(f"rate limit exceeded: at most {limit} client events per second", channel=channel)
        member = self.channels[channel]
        user_id = member.user_id if member is not None else None
        return Relay(ChannelEvent(event=event.event, channel=channel, data=event.data, user_id=user_id))

    # -- user sign-in ----------------------------------------------------------------------------------------------

    def _signin(self, signin: Signin) -> list[Action]:
        if not self.app.enable_user_authentication:
            raise Unauthorized("user authentication is not enabled for this app")
        if not signin.auth.startswith(self.app.key + ":") or not signing.verify_user_auth(
            self.app.key, self.app.secret, signin.auth, self.socket_id, signin.user_data
        ):
            raise Unauthorized("sign-in failed: invalid signature")
        try:
            data = codec.loads(signin.user_data)
        except codec.JSONDecodeError:
            raise MalformedMessage("sign-in failed: user_data is not JSON") from None
        if not isinstance(data, dict):
            raise MalformedMessage("sign-in failed: user_data must be a JSON object")
        user_id = data.get("id")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not user_id or channel_name_problem(user_id) is not None:
            raise MalformedMessage("sign-in failed: user_data needs an 'id' of A-Z a-z 0-9 _ - = @ , . ;")
        watchlist = data.get("watchlist") or []
        if not isinstance(watchlist, list) or not all(isinstance(w, str) for w in watchlist):
            raise MalformedMessage("sign-in failed: watchlist must be a list of user id strings")
        actions: list[Action] = []
        limit = self.app.max_watchlist_size
        if len(watchlist) > limit:
            watchlist = watchlist[:limit]
            message = f"watchlist has more than {limit} user ids; the first {limit} are kept"
            actions.append(Reply(error_text(WatchlistTooLong(message))))
        # One sign-in per connection (pusher-js signs in once per socket): a second one would swap the watchlist
        # under the broker, which keeps watching the first one's ids for this socket.
        if self.user is not None:
            raise Unauthorized(f"already signed in as {self.user.id!r} on this connection")
        self.user = User(user_id, signin.user_data, tuple(watchlist))
        actions.insert(0, SignIn(self.user))
        return actions


def error_text(error: ProtocolError) -> str:
    """The one mapping of a ``ProtocolError`` to the ``pusher:error`` frame a client gets."""
    code = int(error.code) if error.code is not None else None
    return codec.encode(Error(code=code, message=error.message, channel=error.channel))


def subscription_error_text(error: ProtocolError) -> str | None:
    """The ``pusher:subscription_error`` that goes with a refused subscription (None for other errors).

    Its ``status`` is HTTP-like, as pusher-js reports auth endpoint failures: 401 for a bad signature or a
    missing sign-in, 400 for an invalid request; a full presence channel gives ``LimitReached``.
    """
    if not error.refused_subscription or error.channel is None:
        return None
    event = SubscriptionError(
        channel=error.channel,
        type=error.subscription_error_type,
        error=error.message,
        status=error.subscription_error_status,
    )
    return codec.encode(event)
