"""``pusherpy listen CHANNEL...``: subscribe from a terminal as pusher-js would, and print what arrives.

A protocol-7 WebSocket client (Pusher docs: "Pusher Channels Protocol"): it waits for
``pusher:connection_established``, subscribes to each channel (private, presence and encrypted ones signed here
with the app secret by the publisher library's ``authorize_channel``, as an auth endpoint would; ``--signin`` signs
in first, as ``Pusher.signin()`` does), answers the server's ``pusher:ping``, and after ``activity_timeout`` seconds
of silence pings the server itself; no ``pusher:pong`` within 30 s means the connection is gone (exit 3), as
pusher-js decides.

Output: events on stdout, one line each (time, channel, event, data); what happens to the connection on stderr,
so ``listen ... | grep`` sees events only. ``--json`` prints every message but pings and pongs as one JSON line
on stdout (data decoded when it is JSON, decrypted on encrypted channels) for scripts. Ctrl-C (or SIGTERM) ends
it with status 0; a refused connection or subscription, or a close the server says not to retry (4000-4099), with
1. A lost connection is reconnected as pusher-js does (after a 4100-4199 close in a second, after 4200-4299 at
once, else backing off from 1 s to 10 s) and its channels subscribed again; ``--no-reconnect`` exits 3 instead, as
does a first connection that cannot be opened.

This module only registers the command; ``ops_listen_run.py`` (aiohttp) is imported when it runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .ops_credentials import add_credential_options, client_config
from .ops_output import run

if TYPE_CHECKING:
    from pusherpy.publisher.config import ClientConfig

EXAMPLES = """\
examples:
  pusherpy listen --url http://KEY:SECRET@127.0.0.1:8080/apps/ID orders private-user-7
  pusherpy listen --config pusherpy.toml presence-room --user-id 42 --user-info '{"name": "Ada"}'
  pusherpy listen orders --json --count 1      wait for one event, print it as JSON, exit
"""


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pusherpy listen``."""
    summary = "subscribe to channels and print their events as they come (Ctrl-C stops)"
    parser = commands.add_parser(
        "listen",
        help=summary,
        description=summary,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("channels", metavar="CHANNEL", nargs="+")
    parser.add_argument("--user-id", help="the presence member to join as (default: cli-<socket id>)")
    parser.add_argument("--user-info", default="{}", help="the presence member's user_info, a JSON object")
    parser.add_argument(
        "--signin", action="store_true", help="sign in as --user-id first (pusher:signin), as Pusher.signin() does"
    )
    parser.add_argument("--count", type=int, help="exit 0 after this many events")
    parser.add_argument(
        "--no-reconnect", action="store_true", help="exit 3 when the connection is lost instead of reconnecting"
    )
    parser.add_argument("--ws-url", help="the WebSocket base URL when not the API's (ws://HOST:PORT)")
    add_credential_options(parser)
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    config: ClientConfig | None = None

    def body() -> int:
        nonlocal config
        from .ops_listen_run import run_listen

        config = client_config(args)
        return run_listen(config, args)

    return run("listen", body, lambda: config)
