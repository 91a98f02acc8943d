"""``pusherpy trigger|channels|channel|users|terminate``: the HTTP API from a terminal, through the publisher library.

Each command is one publisher call (``pusherpy.publisher.Pusher``), so it works against any Pusher-compatible server
(pusherpy, soketi, Reverb, Pusher itself) and signs, validates and retries exactly as an application would. Text
output is for people; ``--json`` prints the server's answer as one JSON document.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import EXIT_OK
from .ops_credentials import add_credential_options, client_config
from .ops_output import print_json, run, table, where

if TYPE_CHECKING:
    from pusherpy.publisher import Pusher
    from pusherpy.publisher.config import ClientConfig

Handler = Callable[["Pusher", argparse.Namespace], int]

EXAMPLES = """\
examples:
  pusherpy trigger --url http://KEY:SECRET@127.0.0.1:8080/apps/ID orders order.paid '{"id": 7}'
  echo '{"id": 7}' | pusherpy trigger --config pusherpy.toml orders order.paid -
  pusherpy channels --prefix presence- --info user_count --json
  pusherpy channel presence-room --info user_count,subscription_count
  pusherpy users presence-room
  pusherpy terminate 42
"""


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the HTTP API commands."""
    trigger = _command(commands, "trigger", "publish an event to a channel", _trigger)
    trigger.add_argument("channel", metavar="CHANNEL")
    trigger.add_argument("event", metavar="EVENT")
    trigger.add_argument(
        "data",
        metavar="DATA",
        nargs="?",
        default="{}",
        help="the event's data, sent as written (JSON or any text; default {}); - reads it from stdin",
    )
    trigger.add_argument("--socket-id", help="leave out this connection (the sender's own)")
    trigger.add_argument("--info", help="attributes to return for the channel: subscription_count,user_count")

    channels = _command(commands, "channels", "list the occupied channels", _channels)
    channels.add_argument("--prefix", help="only channels whose name starts with this (presence- for user_count)")
    channels.add_argument("--info", help="attributes per channel: user_count (presence- prefix), subscription_count")

    channel = _command(commands, "channel", "describe one channel", _channel)
    channel.add_argument("name", metavar="CHANNEL")
    channel.add_argument("--info", help="attributes: subscription_count, user_count (presence), cache")

    users = _command(commands, "users", "list the users of a presence channel", _users)
    users.add_argument("channel", metavar="CHANNEL")

    terminate = _command(commands, "terminate", "close every connection of a signed-in user", _terminate)
    terminate.add_argument("user_id", metavar="USER_ID")


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, handler: Handler
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name, help=summary, description=summary, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_credential_options(parser)
    parser.set_defaults(handler=lambda args: _call(name, handler, args))
    return parser


def _call(name: str, handler: Handler, args: argparse.Namespace) -> int:
    """Build the client from the options, run one command with it, and map its failure to an exit status."""
    config: ClientConfig | None = None

    def body() -> int:
        nonlocal config
        from pusherpy.publisher import Pusher  # here: the publisher imports aiohttp, which --help does not need

        config = client_config(args)
        with Pusher.from_config(config) as pusher:
            return handler(pusher, args)

    return run(name, body, lambda: config)


def _attributes(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _trigger(pusher: Pusher, args: argparse.Namespace) -> int:
    data: str = args.data
    if data == "-":
        data = sys.stdin.read()
        if data.endswith("\n"):  # what echo and a heredoc add; the data itself is what was written
            data = data[:-1]
    answer = pusher.trigger(args.channel, args.event, data, args.socket_id, _attributes(args.info) or None)
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(f"sent {args.event} to {args.channel} ({len(data.encode())} bytes) via {where(pusher.config)}")
    for channel, info in answer.get("channels", {}).items():
        print(f"  {channel}: " + ", ".join(f"{key} {value}" for key, value in info.items()))
    for channel, serial in (answer.get("serials") or {}).items():
        print(f"  {channel}: serial {serial}")
    return EXIT_OK


def _channels(pusher: Pusher, args: argparse.Namespace) -> int:
    attributes = _attributes(args.info)
    answer = pusher.channels_info(args.prefix, attributes)
    if args.json:
        print_json(answer)
        return EXIT_OK
    channels = answer.get("channels", {})
    if not channels:
        print("no occupied channels" + (f" starting with {args.prefix}" if args.prefix else ""))
        return EXIT_OK
    rows = [["CHANNEL", *(name.upper() for name in attributes)]]
    rows += [[name, *(_cell(info.get(a)) for a in attributes)] for name, info in sorted(channels.items())]
    table(rows)
    return EXIT_OK


def _channel(pusher: Pusher, args: argparse.Namespace) -> int:
    answer = pusher.channel_info(args.name, _attributes(args.info))
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(f"{args.name}: {'occupied' if answer.get('occupied') else 'not occupied'}")
    for key, value in answer.items():
        if key != "occupied":
            print(f"  {key}: {_cell(value)}")
    return EXIT_OK


def _users(pusher: Pusher, args: argparse.Namespace) -> int:
    answer = pusher.users_info(args.channel)
    if args.json:
        print_json(answer)
        return EXIT_OK
    users = answer.get("users", [])
    if not users:
        print(f"no users in {args.channel}")
    for user in users:
        print(user.get("id"))
    return EXIT_OK


def _terminate(pusher: Pusher, args: argparse.Namespace) -> int:
    answer = pusher.terminate_user_connections(args.user_id)
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(f"closed the connections of user {args.user_id} via {where(pusher.config)}")
    return EXIT_OK


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return str(value)
