"""What an app's owner pastes: the ``[[apps]]`` TOML block, the Laravel ``.env`` block and a pusher-js snippet.

Pure text from an app's credentials and where the server listens; ``pusherpy apps new`` prints them (and appends
the TOML block to a config file when asked), ``pusherpy serve`` prints the last two at start.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from typing import Protocol

from ..protocol.errors import ConfigError
from ..server.apps_store import StoredApp


class Credentials(Protocol):
    """An app's credentials (a ``StoredApp`` or an ``AppConfig``)."""

    @property
    def id(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def secret(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """Where clients reach the server, for the snippets."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls: bool = False


def toml_block(app: StoredApp) -> str:
    """The ``[[apps]]`` table (JSON strings are TOML basic strings: the same escapes)."""
    lines = ["[[apps]]", f"id = {json.dumps(app.id)}", f"key = {json.dumps(app.key)}"]
    lines.append(f"secret = {json.dumps(app.secret)}")
    if app.name:
        lines.append(f"name = {json.dumps(app.name)}")
    return "\n".join(lines) + "\n"


def laravel_env(app: Credentials, where: Where, *, secret: str | None = None) -> list[str]:
    """The block ``php artisan install:broadcasting`` writes, with this app's credentials (``secret`` shown instead
    of the app's own when given: a placeholder, where the real one must not be printed)."""
    scheme = "https" if where.tls else "http"
    return [
        "BROADCAST_CONNECTION=reverb",
        f"REVERB_APP_ID={app.id}",
        f"REVERB_APP_KEY={app.key}",
        f"REVERB_APP_SECRET={app.secret if secret is None else secret}",
        f'REVERB_HOST="{where.host}"',
        f"REVERB_PORT={where.port}",
        f"REVERB_SCHEME={scheme}",
        'VITE_REVERB_APP_KEY="${REVERB_APP_KEY}"',
        'VITE_REVERB_HOST="${REVERB_HOST}"',
        'VITE_REVERB_PORT="${REVERB_PORT}"',
        'VITE_REVERB_SCHEME="${REVERB_SCHEME}"',
    ]


def pusher_js(key: str, where: Where) -> list[str]:
    """A pusher-js client of the app (the key only: it runs in browsers)."""
    if where.tls:
        ports = f"wsPort: {where.port}, wssPort: {where.port}"
        return [
            f"new Pusher('{key}', {{ wsHost: '{where.host}', {ports}, forceTLS: true,",
            "  enabledTransports: ['ws', 'wss'], cluster: 'mt1', authEndpoint: '/broadcasting/auth' });",
        ]
    return [
        f"new Pusher('{key}', {{ wsHost: '{where.host}', wsPort: {where.port}, forceTLS: false,",
        "  enabledTransports: ['ws'], cluster: 'mt1', authEndpoint: '/broadcasting/auth' });",
    ]


def everything(app: StoredApp, where: Where) -> str:
    """The three blocks with a heading each, for a terminal."""
    return "\n".join(
        [
            "pusherpy.toml:",
            toml_block(app),
            "Laravel .env:",
            *laravel_env(app, where),
            "",
            "pusher-js:",
            *pusher_js(app.key, where),
        ]
    )


def appended(config: str, app: StoredApp) -> str:
    """``config`` (a TOML file's text) with the app's ``[[apps]]`` table at its end.

    Raises:
        ConfigError: the file is not valid TOML with the table appended (then it is left as it was).
    """
    separator = "" if not config or config.endswith("\n\n") else ("\n" if config.endswith("\n") else "\n\n")
    text = config + separator + toml_block(app)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"not valid TOML with the new [[apps]] table appended ({error}): file left unchanged"
        ) from None
    return text
