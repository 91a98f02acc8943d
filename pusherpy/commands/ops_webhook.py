"""``pusherpy webhook verify``: check a webhook a server sent (body on stdin) as the receiving backend would.

Runs the publisher library's ``verify_webhook`` with the app's key and secret (from ``--url``, ``--config`` or the
environment, as every ops command): the key, the signature over the raw body (constant time), the body's shape and
its age. Exit 0 and the events when it verifies, 1 and the reason when it must be rejected. Nothing is sent over
the network.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from pusherpy.protocol.errors import ConfigError
from pusherpy.protocol.webhooks import KEY_HEADER, SIGNATURE_HEADER

from . import EXIT_OK
from .ops_credentials import add_credential_options, client_config
from .ops_output import print_json, run

if TYPE_CHECKING:
    from pusherpy.publisher.config import ClientConfig

EXAMPLES = f"""\
examples:
  pusherpy webhook verify --config pusherpy.toml --key KEY --signature HEX < body.json
  pusherpy webhook verify -H '{KEY_HEADER}: KEY' -H '{SIGNATURE_HEADER}: HEX' --json < body.json
"""


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pusherpy webhook verify``."""
    webhook = commands.add_parser("webhook", help="check webhooks (pusherpy webhook verify)")
    actions = webhook.add_subparsers(dest="webhook_action", title="actions", metavar="ACTION", required=True)
    summary = "verify a webhook: its raw body on stdin, its headers as options"
    verify = actions.add_parser(
        "verify",
        help=summary,
        description=summary,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("--key", help=f"the {KEY_HEADER} header's value")
    verify.add_argument("--signature", help=f"the {SIGNATURE_HEADER} header's value")
    verify.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header as curl writes it (repeatable); --key/--signature win",
    )
    verify.add_argument(
        "--max-age",
        type=float,
        help="seconds time_ms may be away from now (default: the publisher's, 300, as pusher-http-python)",
    )
    add_credential_options(verify)
    verify.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    config: ClientConfig | None = None

    def body() -> int:
        nonlocal config
        from pusherpy.publisher.webhooks import DEFAULT_MAX_AGE, verify_webhook

        headers = _headers(args.header)
        if args.key is not None:
            headers[KEY_HEADER] = args.key
        if args.signature is not None:
            headers[SIGNATURE_HEADER] = args.signature
        config = client_config(args)
        if sys.stdin.isatty():
            raise ConfigError("the webhook's raw body goes on stdin: pusherpy webhook verify ... < body.json")
        raw = sys.stdin.buffer.read()
        max_age = DEFAULT_MAX_AGE if args.max_age is None else args.max_age
        batch = verify_webhook(
            headers,
            body=raw,
            key=config.key,
            secret=config.secret,
            max_age=max_age,
        )
        if args.json:
            print_json(
                {
                    "valid": True,
                    "time_ms": batch.time_ms,
                    "events": [event.to_json() for event in batch.events],
                }
            )
            return EXIT_OK
        print(f"valid webhook for app {config.app_id}: {len(batch.events)} event(s), time_ms {batch.time_ms}")
        for event in batch.events:
            details = ", ".join(f"{k} {v}" for k, v in event.to_json().items() if k not in ("name", "channel"))
            print(f"  {event.name} {event.channel}" + (f" ({details})" if details else ""))
        return EXIT_OK

    return run("webhook verify", body, lambda: config)


def _headers(lines: list[str]) -> dict[str, str]:
    """Parse ``-H 'Name: value'`` options; only the two Pusher headers matter, others are kept and ignored."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ConfigError(f"-H {line!r} must be 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers
