"""How ops commands answer: text for people, one JSON document (or line) for scripts, and one exception → exit
status mapping.

The mapping is the one rule every ops command follows (``run``): a command line or credentials problem is 2 with
what to fix, a server that could not be reached is 3, a server's refusal is 1 with its own message and a hint for
the usual causes. Nothing here prints a secret: the URL shown is the server's base URL and the app id.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TextIO

from pusherpy.protocol import codec
from pusherpy.protocol.errors import ConfigError, PublishError, PusherpyError, WebhookError

from . import EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE

if TYPE_CHECKING:
    from pusherpy.publisher.config import ClientConfig

EXIT_INTERRUPTED: Final = 130
"""Ctrl-C, as a shell reports a command SIGINT ended (128 + 2)."""
_HINTS: Final[dict[int, str]] = {
    401: "check the key and secret (and that this machine's clock is right to within 10 minutes)",
    403: "the app is disabled or over a quota on the server",
    404: "check the app id (and the path, behind a proxy): the server does not know it",
    413: "the request or the event data is too large for the server",
    429: "the server rate-limits this app: try again later",
}


def print_json(value: Any, out: TextIO | None = None) -> None:
    """Print one JSON document (``--json``), keys in the server's order, on one line."""
    print(codec.dumps(value), file=out or sys.stdout, flush=True)


def fail(command: str, message: str) -> None:
    """Say on stderr why ``command`` failed."""
    print(f"pusherpy {command}: {message}", file=sys.stderr, flush=True)


def where(config: ClientConfig) -> str:
    """The server and app, without the secret: ``http://127.0.0.1:8080 app 4242``."""
    return f"{config.base_url}{config.path} app {config.app_id}"


def exit_status(command: str, error: PusherpyError, config: ClientConfig | None = None) -> int:
    """Say what went wrong and what to fix; return the exit status for it.

    Raises:
        PusherpyError: ``error`` itself when it is none of the library's failures (a bug: shown as one).
    """
    from pusherpy.publisher.errors import InvalidArgument  # loaded by then: the command used the publisher

    if isinstance(error, (ConfigError, InvalidArgument)):
        fail(command, str(error))
        return EXIT_USAGE
    from pusherpy.server.apps_store import AppsSourceError  # light: the drivers are imported only to connect

    if isinstance(error, AppsSourceError):
        fail(command, f"apps_source: {error}")
        return EXIT_UNREACHABLE if error.unreachable else EXIT_REFUSED
    if isinstance(error, WebhookError):
        fail(command, f"refused: {error}")
        return EXIT_REFUSED
    if isinstance(error, PublishError):
        server = f" ({where(config)})" if config is not None else ""
        if error.status == 0:
            fail(command, f"could not reach the server{server}: {error}")
            return EXIT_UNREACHABLE
        hint = _HINTS.get(error.status)
        fail(command, f"the server refused{server}: {error}" + (f"; {hint}" if hint else ""))
        return EXIT_REFUSED
    raise error


def run(command: str, body: Callable[[], int], config: Callable[[], ClientConfig | None]) -> int:
    """Run ``body``; map the library's exceptions to an exit status (``config`` says which server, if known)."""
    try:
        return body()
    except PusherpyError as error:
        return exit_status(command, error, config())
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling of it (listen's) is in place
        return EXIT_INTERRUPTED


def table(rows: list[list[str]], out: TextIO | None = None) -> None:
    """Print rows as left-aligned columns, the first row being the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
