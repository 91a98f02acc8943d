"""The ``pusherpy`` command: ``pusherpy serve`` runs the server.

Reads settings once (CLI > env > TOML file > defaults), configures logging (the library never does), prints how to
connect (secrets only for the built-in dev app, whose secret is public), and serves until SIGINT/SIGTERM, then closes
every socket with 4200 and exits. A configuration error is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .commands import add_commands
from .protocol.errors import ConfigError
from .server.exposure import is_loopback, metrics_refusal
from .server.fdlimit import raise_file_limit
from .server.settings import Settings, load_settings, service_manager_environ

if TYPE_CHECKING:
    from .server.tls import TlsCertificates
    from .supervisor import WorkerRole

EPILOG = """\
examples:
  pusherpy serve                                   dev app on 127.0.0.1:8080, credentials printed
  pusherpy serve --config pusherpy.toml            several apps from a TOML file
  pusherpy serve --env-file ../my-laravel-app/.env the app and settings of a Laravel project's .env
  pusherpy serve --app-id 1 --app-key k --app-secret s --port 6001
  pusherpy serve --check --config pusherpy.toml    check settings, port, Redis; print what would run; exit
  pusherpy serve --redis-url redis://127.0.0.1:6379/0      one node of several sharing one Redis
  pusherpy serve --redis-cluster --redis-url redis://10.0.0.5:7000   ... sharing a Redis Cluster
  pusherpy serve --tls-cert fullchain.pem --tls-key privkey.pem   wss:// and https:// (SIGHUP reloads them)
  pusherpy serve --workers auto --redis-url redis://127.0.0.1:6379/0   one worker process per CPU, one port
  pusherpy serve --console                         the live debug console at http://127.0.0.1:8080/console
  pusherpy serve --host 0.0.0.0 --config pusherpy.toml   reachable from other machines: your own apps only
                                                   (the dev app needs --allow-dev-app there, /metrics a
                                                   metrics_token, metrics_port or metrics_public = true)

environment (command-line options win over it, it wins over --env-file, and that over the config file):
  PUSHERPY_HOST, PUSHERPY_PORT, PUSHERPY_CONFIG, PUSHERPY_ENV_FILE, PUSHERPY_APP_ID, PUSHERPY_APP_KEY,
  PUSHERPY_APP_SECRET, PUSHERPY_REDIS_URL, PUSHERPY_REDIS_CLUSTER, PUSHERPY_ALLOW_DEV_APP,
  PUSHERPY_METRICS_TOKEN, and PUSHERPY_<SETTING> for any top-level setting (PUSHERPY_WEBHOOK_DELAY_SECONDS=1)
  a Laravel .env as Reverb reads it: REVERB_APP_ID, REVERB_APP_KEY, REVERB_APP_SECRET, REVERB_SERVER_HOST,
  REVERB_SERVER_PORT, REVERB_APP_PING_INTERVAL, REVERB_APP_ACTIVITY_TIMEOUT, REVERB_APP_MAX_MESSAGE_SIZE,
  REVERB_SCALING_ENABLED (with REDIS_*) and the rest of docs/laravel.md's table; or PUSHER_APP_ID,
  PUSHER_APP_KEY, PUSHER_APP_SECRET
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pusherpy",
        description="A Pusher Channels protocol 7 server: pusher-js and Laravel Echo connect to it unchanged.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pusherpy {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the server", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", help="port to bind (default 8080; 0 picks a free one)")
    serve.add_argument("--config", help="TOML file with top-level settings and [[apps]]")
    serve.add_argument(
        "--env-file", help="a .env file read as Laravel reads it (quotes, comments, ${VAR}); the environment wins"
    )
    serve.add_argument("--app-id", help="serve one app with this numeric id (with --app-key and --app-secret)")
    serve.add_argument("--app-key", help="the app's key, used by clients in ws://host:port/app/KEY")
    serve.add_argument("--app-secret", help="the app's secret, used to sign auth and HTTP API requests")
    serve.add_argument("--redis-url", help="share state with other nodes through this Redis (scale-out)")
    serve.add_argument(
        "--redis-cluster", action="store_true", help="--redis-url is a Redis Cluster node: use sharded pub/sub"
    )
    serve.add_argument(
        "--allow-dev-app",
        action="store_true",
        help="serve the built-in dev app (whose secret is public) even on a --host other machines can reach",
    )
    serve.add_argument(
        "--tls-cert", help="PEM file with the certificate and its chain: serve wss:// and https:// (with --tls-key)"
    )
    serve.add_argument("--tls-key", help="PEM file with the certificate's private key (reloaded with it on SIGHUP)")
    serve.add_argument(
        "--workers", help="worker processes sharing the port (default 1; auto: one per CPU; more needs --redis-url)"
    )
    serve.add_argument(
        "--console",
        action="store_true",
        help="serve the live debug console at /console (off loopback it needs console_password, "
        "PUSHERPY_CONSOLE_PASSWORD; docs/console.md)",
    )
    serve.add_argument("--debug", action="store_true", help="log every frame and state change")
    serve.add_argument(
        "--check",
        action="store_true",
        help="check the settings, the port, Redis and TLS files, print what would run, and exit (1: problems found)",
    )
    serve.set_defaults(command_parser=serve)
    add_commands(commands)
    return parser


def connection_help(settings: Settings, port: int, metrics_port: int | None = None) -> str:
    """What a developer pastes into a Laravel .env and a pusher-js page to connect.

    Secrets are shown for the built-in dev app only (they are public anyway); a configured app's secret is the one
    its owner configured, and start-up output ends up in logs, so it is named, never printed.
    """
    app = settings.apps[0]
    host = _reachable(settings.host)
    dev = settings.uses_dev_app
    secret = app.secret if dev else "<the secret you configured>"
    tls = settings.tls_cert is not None
    http, ws = ("https", "wss") if tls else ("http", "ws")
    pusher_js = (
        [
            f"  new Pusher('{app.key}', {{ wsHost: '{host}', wsPort: {port}, wssPort: {port}, forceTLS: true,",
            "    enabledTransports: ['ws', 'wss'], cluster: 'mt1', authEndpoint: '/broadcasting/auth' });",
        ]
        if tls
        else [
            f"  new Pusher('{app.key}', {{ wsHost: '{host}', wsPort: {port}, forceTLS: false,",
            "    enabledTransports: ['ws'], cluster: 'mt1', authEndpoint: '/broadcasting/auth' });",
        ]
    )
    lines = [
        f"pusherpy listening on {http}://{settings.host}:{port}",
        f"WebSocket: {ws}://{host}:{port}/app/{app.key}?protocol=7",
        _metrics_help(settings, port, metrics_port),
        *_console_help(settings, f"{http}://{host}:{port}"),
        "",
        "apps:",
        *(f"  id={a.id} key={a.key}" + (f" secret={a.secret}" if dev else "") for a in settings.apps),
        "  (the built-in dev app: its secret is public, for this machine only)"
        if dev
        else "  (secrets not shown: each is the one you configured)",
        "",
        "Laravel .env (as php artisan install:broadcasting writes it):",
        "  BROADCAST_CONNECTION=reverb",
        f"  REVERB_APP_ID={app.id}",
        f"  REVERB_APP_KEY={app.key}",
        f"  REVERB_APP_SECRET={secret}",
        f'  REVERB_HOST="{host}"',
        f"  REVERB_PORT={port}",
        f"  REVERB_SCHEME={http}",
        '  VITE_REVERB_APP_KEY="${REVERB_APP_KEY}"',
        '  VITE_REVERB_HOST="${REVERB_HOST}"',
        '  VITE_REVERB_PORT="${REVERB_PORT}"',
        '  VITE_REVERB_SCHEME="${REVERB_SCHEME}"',
        "",
        "Python (pusherpy's Pusher.from_env() and AsyncPusher.from_env() read it):",
        f"  PUSHER_URL={http}://{app.key}:{secret if dev else '<secret>'}@{host}:{port}/apps/{app.id}",
        "",
        "pusher-js:",
        *pusher_js,
    ]
    return "\n".join(lines)


def _console_help(settings: Settings, base_url: str) -> list[str]:
    """The debug console's line of the banner (docs/console.md), when it is on; never the password."""
    if not settings.console:
        return []
    login = "log in with console_password" if settings.console_password else "no password: this machine only"
    return [f"Console: {base_url}{settings.path_prefix}/console ({login})"]


def _reachable(host: str) -> str:
    """An address a client on this machine can use for a bind host (a wildcard bind is reached on loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _metrics_help(settings: Settings, port: int, metrics_port: int | None) -> str:
    """Where /metrics is, and what it asks for, as ``exposure.metrics_refusal`` decides for a request without one."""
    own = metrics_port is not None
    scheme = "https" if settings.tls_cert is not None and not own else "http"  # its own listener is plain
    where = f"{scheme}://{_reachable(settings.metrics_host if own else settings.host)}:{metrics_port if own else port}"
    refusal = metrics_refusal(settings, None, own_listener=own)
    if refusal is None:
        return f"Metrics: {where}/metrics"
    if refusal.status == 401:
        return f"Metrics: {where}/metrics (send Authorization: Bearer <metrics_token>)"
    return f"Metrics: not served on {settings.host} (set metrics_token, metrics_port or metrics_public = true)"


async def serve(settings: Settings, role: WorkerRole | None = None) -> None:
    """Serve until cancelled or signalled; print the connection help once the port is bound.

    As one of several workers (``role``, see supervisor.py) the port is shared (``SO_REUSEPORT``) and only the
    worker told to prints the help."""
    import signal

    from aiohttp import web

    from .server.app import create_app
    from .server.http_health import METRICS_LISTENER
    from .server.listener import PusherSite
    from .server.service import supervised
    from .server.tls import TlsCertificates

    # Signals are handled before the banner says where we listen: a supervisor (or a test) that stops us as soon
    # as we are up must get a graceful stop, not the default action that kills the process.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tls = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        tls = TlsCertificates(settings.tls_cert, settings.tls_key)
    loop.add_signal_handler(signal.SIGHUP, _reload, tls)
    runner = web.AppRunner(create_app(settings), handle_signals=False, shutdown_timeout=settings.shutdown_timeout)
    await runner.setup()
    site = PusherSite(runner, settings.host, settings.port, backlog=4096, tls=tls, reuse_port=role is not None)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else settings.port
    metrics = runner.app.get(METRICS_LISTENER)
    if role is None or role.banner:
        print(connection_help(settings, port, metrics.port if metrics else None), flush=True)
    if role is not None:
        role.listening()
    if settings.uses_dev_app and not is_loopback(settings.host):  # allowed with allow_dev_app, but said loudly
        logging.getLogger("pusherpy").warning("the dev app's secret is public: configure your own apps")
    try:
        async with supervised(f"listening on {settings.host}:{port}", service_manager_environ()):
            await stop.wait()
    finally:
        logging.getLogger("pusherpy").info("stopping")
        await runner.cleanup()


def _reload(tls: TlsCertificates | None) -> None:
    """SIGHUP: read the TLS certificate and key again (a renewal); sockets stay connected."""
    if tls is None:
        logging.getLogger("pusherpy").info("SIGHUP: nothing to reload (no tls_cert)")
    else:
        tls.reload()


def run(settings: Settings, role: WorkerRole | None = None) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings, role))
    else:
        uvloop.run(serve(settings, role))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    handler = getattr(args, "handler", None)
    if handler is not None:  # a command of pusherpy/commands/: it parses strictly and says its own errors
        strict = parser.parse_args(argv)  # unknown options: the command's own usage and exit status 2
        return int(strict.handler(strict))
    if unknown:  # said by the command's own parser, so its usage shows the options it does take
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.app_id is not None and not args.app_id.isdigit():
        print(f"pusherpy: --app-id={args.app_id!r} must be digits (Pusher app ids are numeric)", file=sys.stderr)
        return 2
    try:
        settings = load_settings(
            config_file=args.config,
            env_file=args.env_file,
            overrides={
                "host": args.host,
                "port": args.port,
                "app_id": args.app_id,
                "app_key": args.app_key,
                "app_secret": args.app_secret,
                "redis_url": args.redis_url,
                "redis_cluster": True if args.redis_cluster else None,
                "debug": True if args.debug else None,
                "allow_dev_app": True if args.allow_dev_app else None,
                "console": True if args.console else None,
                "tls_cert": args.tls_cert,
                "tls_key": args.tls_key,
                "workers": args.workers,
            },
        )
    except ConfigError as error:
        print(f"pusherpy: configuration error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not settings.debug:
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for notice in settings.notices:
        logging.getLogger("pusherpy").warning("%s", notice)
    if args.env_file is None and settings.uses_dev_app and Path(".env").is_file():
        logging.getLogger("pusherpy").warning("a .env is here, not read: pusherpy serve --env-file .env reads it")
    if args.check:
        from .server.check import run_check

        return run_check(settings)
    raise_file_limit()
    try:
        if settings.workers > 1:
            from .supervisor import supervise

            return supervise(settings)
        run(settings)
    except OSError as error:
        print(f"pusherpy: cannot serve on {settings.host}:{settings.port}: {error}", file=sys.stderr)
        return 1
    return 0
