"""Which server and app an ops command talks to: ``--url``, else ``--config``, else the environment.

The command line wins over the environment, as it does for ``pusherpy serve``: ``--url`` or ``--config`` (only one
of them) names the server and app outright; without either, the publisher's own environment rules apply
(``PUSHERPY_URL``, a Laravel app's ``PUSHER_*``/``REVERB_*``, ``PUSHER_URL``: ``ClientConfig.from_env``), and when
none of those is set, the file a server on this machine is told of by ``PUSHERPY_CONFIG``. A
pusherpy TOML file gives its ``host``/``port``/``path_prefix``/``tls_cert`` and one of its ``[[apps]]`` (``--app``,
needed when it has several), or of the enabled apps of its ``apps_source``. Every failure is a ``ConfigError``
saying what to set (the caller exits 2), but a store that cannot be read: its ``AppsSourceError`` says whether it
was unreachable (3) or refused (1).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pusherpy.protocol.errors import ConfigError

if TYPE_CHECKING:
    from pusherpy.protocol.apps import AppConfig
    from pusherpy.publisher.config import ClientConfig

_WILDCARDS: Final = ("0.0.0.0", "::", "")
_CONFIG_KEYS: Final = ("apps", "apps_source", "host", "port", "path_prefix", "tls_cert")
"""The keys of a server's TOML file that say where its API is; the rest is the server's business."""

_PUBLISHER_VARIABLES: Final = ("PUSHERPY_URL", "PUSHER_URL", "PUSHER_APP_ID", "REVERB_APP_ID", "PUSHERPY_ENV_FILE")
"""Any of these set: the environment names a server the publisher's way, and ``PUSHERPY_CONFIG`` is not used."""

WHERE_HELP: Final = (
    "credentials: --url, else --config, else the environment: PUSHERPY_URL, a Laravel app's PUSHER_APP_ID/"
    "PUSHER_APP_KEY/PUSHER_APP_SECRET/PUSHER_HOST/PUSHER_PORT/PUSHER_SCHEME (or REVERB_*), or PUSHER_URL; "
    "else the server's own PUSHERPY_CONFIG file (and --app)"
)


def add_credential_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every ops command shares: where the server is, and ``--json``."""
    where = parser.add_argument_group("server and app", WHERE_HELP)
    exclusive = where.add_mutually_exclusive_group()
    exclusive.add_argument("--url", help="http(s)://KEY:SECRET@HOST:PORT/apps/ID (the PUSHER_URL form)")
    exclusive.add_argument("--config", metavar="FILE", help="a pusherpy server's TOML file: its host, port and app")
    where.add_argument("--app", metavar="ID", help="with --config: the app's id or key (needed when it has several)")
    where.add_argument(
        "--env-file", metavar="FILE", help="a Laravel .env to read the variables from (the environment wins)"
    )
    where.add_argument(
        "--encryption-master-key",
        metavar="BASE64",
        help="the app's 32-byte key for private-encrypted- channels, base64 (else PUSHER_ENCRYPTION_MASTER_KEY_BASE64)",
    )
    where.add_argument("--timeout", type=float, help="seconds to wait for each answer (default: the publisher's, 5)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")


def client_config(args: argparse.Namespace) -> ClientConfig:
    """Return the server and app the options (or the environment) name, with ``--encryption-master-key`` if given.

    Raises:
        ConfigError: nothing names a server, or what does is invalid; the message says what to set.
    """
    from pusherpy.publisher.config import decode_master_key

    config = _named(args)
    if args.encryption_master_key is None:
        return config
    try:
        key = decode_master_key(args.encryption_master_key)
    except ConfigError as error:
        raise ConfigError(f"--encryption-master-key: {error}") from None
    return dataclasses.replace(config, encryption_master_key=key)


def _named(args: argparse.Namespace) -> ClientConfig:
    from pusherpy.publisher.config import DEFAULT_TIMEOUT, ClientConfig

    timeout: float = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    if not timeout > 0:
        raise ConfigError(f"--timeout {timeout!r} must be a positive number of seconds")
    server_file = os.environ.get("PUSHERPY_CONFIG")
    if args.app is not None and args.config is None and not server_file:
        raise ConfigError("--app picks one app of a --config file: pass --config FILE too")
    if args.url is not None:
        try:
            return ClientConfig.from_url(args.url, timeout=timeout)
        except ConfigError as error:
            raise ConfigError(f"--url: {error}") from None
    if args.config is not None:
        return from_server_config(Path(args.config), args.app, timeout=timeout)
    if server_file and args.env_file is None and not any(os.environ.get(name) for name in _PUBLISHER_VARIABLES):
        return from_server_config(Path(server_file), args.app, timeout=timeout)
    try:
        return ClientConfig.from_env(env_file=args.env_file, timeout=timeout)
    except ConfigError as error:
        raise ConfigError(f"no server given: {error}; or pass --url URL or --config pusherpy.toml") from None


def _stored_apps(url: str | None) -> tuple[AppConfig, ...]:
    """The enabled apps of a server's ``apps_source`` (docs/apps-database.md), or none without one."""
    if not url:
        return ()
    from pusherpy.server.apps_store import app_from_row, read_apps

    # An AppsSourceError goes up as it is: ``ops_output.exit_status`` tells an unreachable store (3) from a refusal.
    return tuple(app for app in (app_from_row(row) for row in read_apps(url)) if app.enabled)


def from_server_config(path: Path, app: str | None, *, timeout: float) -> ClientConfig:
    """Read where a pusherpy server described by ``path`` serves its HTTP API, and one of its apps.

    Only the keys saying where (``host``, ``port``, ``path_prefix``, ``tls_cert``) and ``apps`` are parsed, by the
    server's own parser; a wildcard bind (``0.0.0.0``) is reached on loopback, as a server prints it.

    Raises:
        ConfigError: the file is missing or invalid, has no apps, or ``app`` matches none of them (or is needed).
    """
    # Imported here: the server's settings are needed for this source only.
    from pusherpy.publisher.config import ClientConfig
    from pusherpy.server.settings import Settings
    from pusherpy.server.settings_sources import read_file
    from pusherpy.server.settings_values import parse_fields

    known = tuple(field.name for field in dataclasses.fields(Settings))
    raw = read_file(path, known).settings
    values = parse_fields(Settings, {key: raw[key] for key in _CONFIG_KEYS if key in raw})
    apps = values.get("apps", ()) or _stored_apps(values.get("apps_source"))
    if not apps:
        raise ConfigError(f"{str(path)!r} has no [[apps]]: pass --url, or add an app (pusherpy apps new)")
    if app is None:
        if len(apps) > 1:
            ids = ", ".join(a.id for a in apps)
            raise ConfigError(f"{str(path)!r} has {len(apps)} apps ({ids}): pick one with --app ID")
        chosen = apps[0]
    else:
        matching = [a for a in apps if app in (a.id, a.key)]
        if not matching:
            ids = ", ".join(a.id for a in apps)
            raise ConfigError(f"--app {app}: no app with that id or key in {str(path)!r} (its apps: {ids})")
        chosen = matching[0]
    defaults = Settings.__dataclass_fields__
    host: str = values.get("host", defaults["host"].default)
    port: int = values.get("port", defaults["port"].default)
    tls = values.get("tls_cert") is not None
    return ClientConfig.build(
        chosen.id,
        chosen.key,
        chosen.secret,
        host="127.0.0.1" if host in _WILDCARDS else host,
        port=port,
        path=values.get("path_prefix", ""),
        scheme="https" if tls else "http",
        timeout=timeout,
    )
