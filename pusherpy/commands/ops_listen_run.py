"""What ``pusherpy listen`` does once its options are parsed: check them, connect, subscribe, and read until
stopped (see ``ops_listen.py`` for the command). Imported only when the command runs: it needs aiohttp."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pusherpy import __version__
from pusherpy.protocol import codec
from pusherpy.protocol.channels import ChannelKind, channel_name_problem, classify
from pusherpy.protocol.errors import ConfigError
from pusherpy.publisher.authorization import check_user_id
from pusherpy.publisher.config import ClientConfig

from . import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE
from .ops_listen_messages import (
    ListenOptions,
    decoded,
    emit,
    error_text,
    message_data,
    shown,
    signin,
    status,
    subscription,
)
from .ops_output import fail

if TYPE_CHECKING:
    import aiohttp

MAX_BACKOFF: Final = 10.0
"""The longest wait between two attempts to reconnect, in seconds (doubling from 1 s up to it)."""
EXIT_RECONNECT: Final = -1
"""What waiting before a reconnection returns: not an exit status, the loop goes round."""
PONG_TIMEOUT: Final = 30.0
"""pusher-js's ``pongTimeout``: how long an unanswered ``pusher:ping`` may stay unanswered."""
DEFAULT_ACTIVITY_TIMEOUT: Final = 120.0
_SILENT: Final = frozenset({"pusher:ping", "pusher:pong"})


def run_listen(config: ClientConfig, args: argparse.Namespace) -> int:
    """Check the options, then listen until stopped; return the exit status."""
    return asyncio.run(listen(_options(config, args)))


def _options(config: ClientConfig, args: argparse.Namespace) -> ListenOptions:
    for channel in args.channels:
        problem = channel_name_problem(channel)
        if problem is not None:
            raise ConfigError(f"{channel!r}: {problem}")
        if classify(channel).kind is ChannelKind.ENCRYPTED and config.encryption_master_key is None:
            raise ConfigError(f"{channel!r} is encrypted: pass --encryption-master-key BASE64 to read it")
    try:
        user_info = codec.loads(args.user_info)
    except (ValueError, TypeError):
        raise ConfigError(f"--user-info {args.user_info!r} is not JSON") from None
    if not isinstance(user_info, dict):
        raise ConfigError('--user-info must be a JSON object, e.g. \'{"name": "Ada"}\'')
    if args.signin and not args.user_id:
        raise ConfigError("--signin needs --user-id: the user to sign in as")
    if args.user_id is not None:
        check_user_id(args.user_id)
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count {args.count} must be at least 1")
    return ListenOptions(
        config=config,
        url=websocket_url(config, args.ws_url),
        channels=tuple(dict.fromkeys(args.channels)),
        user_id=args.user_id,
        user_info=user_info,
        signin=args.signin,
        reconnect=not args.no_reconnect,
        count=args.count,
        json=args.json,
    )


def websocket_url(config: ClientConfig, base: str | None) -> str:
    """Where pusher-js would connect for this app: the API's host and port (``ws-CLUSTER`` for Pusher's own)."""
    if base is None:
        scheme = "wss" if config.scheme == "https" else "ws"
        host = config.host
        if host.startswith("api-") and host.endswith(".pusher.com"):
            host = "ws-" + host.removeprefix("api-")
        base = f"{scheme}://{host}:{config.port}{config.path}"
    elif not base.startswith(("ws://", "wss://")):
        raise ConfigError(f"--ws-url {base!r} must start with ws:// or wss://")
    return f"{base.rstrip('/')}/app/{config.key}?protocol=7&client=pusherpy-cli&version={__version__}"


async def listen(options: ListenOptions) -> int:
    """Connect, subscribe, print until stopped, reconnecting as pusher-js does; return the exit status."""
    import aiohttp

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    progress = Progress()
    failures = 0
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                outcome = await _until(stop, _connection(session, options, progress))
            except Refused as error:
                fail("listen", str(error))
                return EXIT_REFUSED
            except Lost as error:
                if not options.reconnect or not progress.connected:
                    fail("listen", f"{error}" + (": start it again" if progress.connected else ""))
                    return EXIT_UNREACHABLE
                failures = 0 if error.connected else failures + 1
                delay = error.retry_after if error.retry_after is not None else min(2.0**failures, MAX_BACKOFF)
                status(options, f"{error}: reconnecting in {delay:g} s")
                outcome = await _until(stop, asyncio.sleep(delay, EXIT_RECONNECT))
            if outcome is None:
                status(options, "stopped")
                return EXIT_OK
            if outcome != EXIT_RECONNECT:
                return outcome


async def _until(stop: asyncio.Event, work: Coroutine[Any, Any, int]) -> int | None:
    """Run ``work`` until it ends (its result, or its exception) or ``stop`` is set (None)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopped):
            pending.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
    if task.cancelled():
        return None
    return task.result()


async def _connection(session: aiohttp.ClientSession, options: ListenOptions, progress: Progress) -> int:
    """One connection, from the handshake to its end: the exit status, or ``Refused``/``Lost``."""
    import aiohttp

    timeout = aiohttp.ClientWSTimeout(ws_close=options.config.timeout)
    try:
        ws = await asyncio.wait_for(
            session.ws_connect(options.url, autoping=True, timeout=timeout), options.config.timeout
        )
    except aiohttp.WSServerHandshakeError as error:  # an HTTP answer, not a WebSocket: wrong path or proxy
        raise Refused(f"{shown(options.url)} answered HTTP {error.status}, not a WebSocket: check the URL") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise Lost(f"could not connect to {shown(options.url)}: {type(error).__name__}: {error}") from None
    async with ws:
        try:
            return await _session(ws, options, progress)
        except (aiohttp.ClientError, ConnectionError) as error:  # a send on a connection that just went away
            raise Lost(f"the connection was lost ({type(error).__name__})", connected=True) from None


async def _session(ws: aiohttp.ClientWebSocketResponse, options: ListenOptions, progress: Progress) -> int:
    try:
        first = await _receive(ws, options.config.timeout)
    except TimeoutError:
        raise Lost(f"no pusher:connection_established within {options.config.timeout:g} s") from None
    if first.get("event") == "pusher:error":
        raise Refused(f"the server refused the connection: {error_text(first)}")
    if first.get("event") != "pusher:connection_established":
        raise Refused(f"expected pusher:connection_established, got {first.get('event')!r}")
    established = decoded(first.get("data"))
    socket_id = str(established.get("socket_id"))
    activity = float(established.get("activity_timeout") or DEFAULT_ACTIVITY_TIMEOUT)
    progress.connected = True
    emit(options, first, established)
    status(options, f"connected to {shown(options.url)} as socket {socket_id}")
    if options.signin:
        await ws.send_str(codec.dumps({"event": "pusher:signin", "data": signin(options, socket_id)}))
    for channel in options.channels:
        await ws.send_str(codec.dumps({"event": "pusher:subscribe", "data": subscription(options, channel, socket_id)}))
    while True:
        try:
            message = await _receive(ws, activity)
        except TimeoutError:  # silence: ask the server whether the connection still works
            await ws.send_str(codec.dumps({"event": "pusher:ping", "data": {}}))
            try:
                message = await _receive(ws, PONG_TIMEOUT)
            except TimeoutError:
                raise Lost(f"no answer to pusher:ping within {PONG_TIMEOUT:g} s", connected=True) from None
        event = message.get("event")
        if event == "pusher:ping":
            await ws.send_str(codec.dumps({"event": "pusher:pong", "data": {}}))
            continue
        where = message.get("channel")
        data = message_data(options, message)
        emit(options, message, data)
        if event == "pusher:error":  # as pusher-js: said, not fatal; a close that follows ends the connection
            status(options, f"the server sent an error: {error_text(message)}")
        elif event == "pusher:subscription_error":
            raise Refused(f"subscription to {where} refused: {error_text(message)}")
        elif event == "pusher:signin_success":
            status(options, f"signed in as {options.user_id}")
        elif event == "pusher_internal:subscription_succeeded":
            members = data.get("presence", {}).get("count") if isinstance(data, dict) else None
            status(options, f"subscribed to {where}" + (f" ({members} members)" if members is not None else ""))
        elif event not in _SILENT and not str(event).startswith("pusher"):
            progress.events += 1
            if options.count is not None and progress.events >= options.count:
                return EXIT_OK


async def _receive(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> dict[str, Any]:
    """The next Pusher message.

    Raises:
        TimeoutError: nothing arrived within ``timeout`` seconds.
        Refused: the frame is not a Pusher message, or the server closed with "do not reconnect" (4000-4099).
        Lost: the connection ended otherwise.
    """
    import aiohttp

    received = await ws.receive(timeout=timeout)
    if received.type is aiohttp.WSMsgType.TEXT:
        try:
            message = codec.loads(received.data)
        except (ValueError, TypeError):
            raise Refused(f"the server sent a frame that is not JSON: {str(received.data)[:200]!r}") from None
        if not isinstance(message, dict):
            raise Refused(f"the server sent a frame that is not a JSON object: {str(received.data)[:200]!r}")
        return message
    code = ws.close_code
    reason = received.extra if received.type is aiohttp.WSMsgType.CLOSE and isinstance(received.extra, str) else ""
    said = f"{code} {reason}".strip() if code is not None else "without a close frame"
    if code is not None and 4000 <= code < 4100:  # Pusher protocol: do not reconnect, it would be refused again
        raise Refused(f"the server closed the connection with {said}")
    raise Lost(f"the connection closed ({said})", connected=True, retry_after=_reconnect_delay(code))


def _reconnect_delay(code: int | None) -> float | None:
    """Pusher protocol: after a 4100-4199 close reconnect in a second, after 4200-4299 at once; else back off."""
    if code is not None and 4100 <= code < 4200:
        return 1.0
    if code is not None and 4200 <= code < 4300:
        return 0.0
    return None


class Refused(Exception):
    """The server refused what the listener asked (an error frame, a subscription error, a 4000-4099 close): exit 1."""


class Lost(Exception):
    """The connection could not be opened, or ended; ``retry_after`` is the wait the server's close code asks for.

    ``connected``: it had been established, so the backoff starts again from its first step.
    """

    def __init__(self, message: str, *, connected: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.connected = connected
        self.retry_after = retry_after


@dataclass(slots=True)
class Progress:
    """What outlives one connection: whether one was ever established, and the events counted for ``--count``."""

    connected: bool = False
    events: int = 0
