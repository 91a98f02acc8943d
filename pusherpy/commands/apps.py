"""``pusherpy apps migrate|list|new|disable|enable|rotate-secret|delete``: the apps of ``apps_source``.

The store is ``--store URL``, else the ``apps_source`` of the settings (``--config FILE``, ``PUSHERPY_APPS_SOURCE``)
as ``pusherpy serve`` would read them. ``apps new`` works without a store too: it prints the blocks to paste (the
TOML table, a Laravel ``.env``, pusher-js), or appends the table to ``--config FILE``. A running server picks up
each change within its ``apps_refresh_seconds``: nothing to restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..protocol.errors import ConfigError
from . import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE
from .apps_snippets import Where, appended, everything

_EPILOG = """\
examples:
  pusherpy apps migrate --store postgresql://pusherpy@db/pusherpy    create the table (once)
  pusherpy apps new --name shop --store sqlite:////var/lib/pusherpy/apps.db
  pusherpy apps new --name shop                  print the TOML, Laravel .env and pusher-js blocks
  pusherpy apps new --config pusherpy.toml       append the [[apps]] table to that file
  pusherpy apps list --config pusherpy.toml      the store of that file's apps_source
  pusherpy apps rotate-secret 4242 --store mysql://root@127.0.0.1/pusherpy
"""


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="the apps' database URL (else apps_source of the settings)")
    common.add_argument("--config", help="a pusherpy TOML file: its apps_source (apps new: the file to append to)")
    common.add_argument("--json", action="store_true", help="one JSON document on stdout, for scripts")
    apps = commands.add_parser(
        "apps",
        help="manage apps kept in a database (apps_source), or make a new app's credentials",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = apps.add_subparsers(dest="apps_command", title="commands", metavar="COMMAND", required=True)
    verbs.add_parser("migrate", parents=[common], help="create the pusherpy_apps table").set_defaults(
        handler=_handler(_migrate)
    )
    verbs.add_parser("list", parents=[common], help="list the apps (no secrets)").set_defaults(handler=_handler(_list))
    new = verbs.add_parser("new", parents=[common], help="make an app: random id, key and secret")
    new.add_argument("--name", default="", help="a name for people (shown in lists and the console)")
    new.add_argument("--host", default="127.0.0.1", help="host clients connect to, for the snippets")
    new.add_argument("--port", type=int, default=8080, help="port clients connect to, for the snippets")
    new.add_argument("--tls", action="store_true", help="clients connect with wss:// and https://")
    new.set_defaults(handler=_new)
    for verb, what, operation in (
        ("disable", "disable an app: its sockets are closed (4003), its API requests refused", _disable),
        ("enable", "enable a disabled app", _enable),
        ("rotate-secret", "give an app a new secret (printed); the old one stops working", _rotate),
        ("delete", "remove an app: its sockets are closed (4003)", _delete),
    ):
        parser = verbs.add_parser(verb, parents=[common], help=what)
        parser.add_argument("app", metavar="ID_OR_KEY", help="the app's id or key")
        parser.set_defaults(handler=_handler(operation))


# -- finding the store ----------------------------------------------------------------------------------------------


def _source(args: argparse.Namespace) -> str | None:
    """``--store``, else the settings' ``apps_source`` (the config file, ``PUSHERPY_APPS_SOURCE``).

    Raises:
        ConfigError: the settings do not load.
    """
    if args.store:
        return str(args.store)
    from ..server.settings import load_settings

    return load_settings(config_file=args.config).apps_source


_Operation = Callable[[Any, argparse.Namespace], Awaitable[int]]


def _handler(operation: _Operation) -> Callable[[argparse.Namespace], int]:
    """A command that needs the store: open it, run ``operation``, close it; errors become exit statuses."""

    def handle(args: argparse.Namespace) -> int:
        try:
            source = _source(args)
        except ConfigError as error:
            return _fail(f"configuration error: {error}", EXIT_USAGE)
        if not source:
            return _fail("no apps store: pass --store URL or a --config file with apps_source", EXIT_USAGE)
        return asyncio.run(_with_store(source, operation, args))

    return handle


async def _with_store(source: str, operation: _Operation, args: argparse.Namespace) -> int:
    from ..server.apps_store import AppsSourceError, open_store

    try:
        store = open_store(source)
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    try:
        return await operation(store, args)
    except AppsSourceError as error:
        hint = "" if error.unreachable else " (the table missing? run pusherpy apps migrate)"
        return _fail(f"{error}{hint}", EXIT_UNREACHABLE if error.unreachable else EXIT_REFUSED)
    finally:
        await store.close()


def _fail(message: str, status: int) -> int:
    print(f"pusherpy apps: {message}", file=sys.stderr)
    return status


def _say(args: argparse.Namespace, document: object, text: str) -> int:
    print(json.dumps(document, indent=2) if args.json else text)
    return EXIT_OK


# -- the commands -----------------------------------------------------------------------------------------------------


async def _migrate(store: Any, args: argparse.Namespace) -> int:
    await store.migrate()
    return _say(args, {"migrated": True, "store": store.shown}, f"table pusherpy_apps ready in {store.shown}")


async def _list(store: Any, args: argparse.Namespace) -> int:
    apps = await store.load()
    rows = [{"id": a.id, "key": a.key, "name": a.name, "enabled": a.enabled, "updated_at": a.updated_at} for a in apps]
    lines = [f"{'id':<12} {'key':<22} {'enabled':<8} name"]
    lines += [f"{a.id:<12} {a.key:<22} {'yes' if a.enabled else 'no':<8} {a.name}" for a in apps]
    return _say(args, rows, "\n".join(lines) if apps else f"no apps in {store.shown}")


def _new(args: argparse.Namespace) -> int:
    from ..server.apps_store import new_credentials

    app = new_credentials(args.name)
    document = {"id": app.id, "key": app.key, "secret": app.secret, "name": app.name}
    where = Where(host=args.host, port=args.port, tls=args.tls)
    try:
        source = _source(args) if args.store or not args.config or _has_source(args.config) else None
    except ConfigError as error:
        return _fail(f"configuration error: {error}", EXIT_USAGE)
    if source:

        async def insert(store: Any, args: argparse.Namespace) -> int:
            await store.insert(app)
            text = f"app {app.id} added to {store.shown} (served within apps_refresh_seconds)\n\n"
            return _say(args, {**document, "stored_in": store.shown}, text + everything(app, where))

        return asyncio.run(_with_store(source, insert, args))
    if args.config:
        path = Path(args.config)
        try:
            path.write_text(appended(path.read_text() if path.exists() else "", app))
        except ConfigError as error:
            return _fail(f"{path}: {error}", EXIT_USAGE)
        except OSError as error:
            return _fail(f"{path}: {error.strerror}", EXIT_USAGE)
        text = f"app {app.id} appended to {path} (restart pusherpy serve to serve it)\n\n"
        return _say(args, {**document, "appended_to": str(path)}, text + everything(app, where))
    return _say(args, document, everything(app, where))


def _has_source(config: str) -> bool:
    """Whether a config file names an ``apps_source`` (then ``apps new`` inserts there instead of appending)."""
    import tomllib

    try:
        return "apps_source" in tomllib.loads(Path(config).read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False  # appending says what is wrong with it


async def _set_enabled(store: Any, args: argparse.Namespace, enabled: bool) -> int:
    if not await store.set_enabled(args.app, enabled):
        return _fail(f"no app has the id or key {args.app!r}", EXIT_REFUSED)
    word = "enabled" if enabled else "disabled"
    return _say(args, {"app": args.app, "enabled": enabled}, f"app {args.app} {word}")


async def _disable(store: Any, args: argparse.Namespace) -> int:
    return await _set_enabled(store, args, False)


async def _enable(store: Any, args: argparse.Namespace) -> int:
    return await _set_enabled(store, args, True)


async def _rotate(store: Any, args: argparse.Namespace) -> int:
    secret = secrets.token_hex(20)
    if not await store.set_secret(args.app, secret):
        return _fail(f"no app has the id or key {args.app!r}", EXIT_REFUSED)
    text = f"app {args.app}: new secret {secret}\n(servers refuse the old one within apps_refresh_seconds)"
    return _say(args, {"app": args.app, "secret": secret}, text)


async def _delete(store: Any, args: argparse.Namespace) -> int:
    if not await store.delete(args.app):
        return _fail(f"no app has the id or key {args.app!r}", EXIT_REFUSED)
    return _say(args, {"app": args.app, "deleted": True}, f"app {args.app} deleted")
