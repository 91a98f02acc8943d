"""Server settings: the ``Settings`` model and ``load_settings`` (defaults < TOML file < environment < command line).

What each setting accepts is declared once, on its field: ``settings_values.py`` derives the parsing from the type
and the ``bounded`` metadata, and ``settings_sources.py`` finds the raw values (the file, ``PUSHERPY_*``, a Laravel
``.env``, the CLI) under the names derived here from these fields. A new setting is one field here. A bad value
stops start-up with a ``ConfigError`` that names the key and the value. The only reader of ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from ..envfile import read_env_file
from ..protocol.apps import AppConfig
from ..protocol.bounds import bounded, within
from ..protocol.errors import ConfigError
from ..protocol.redact import redacted_repr, redacted_url
from .apps_store.store import open_store
from .exposure import check_exposure
from .forwarded import check_trusted_proxies
from .path_prefix import check_path_prefix
from .settings_sources import APP_CREDENTIALS, Found, config_path, read_environ, read_file, read_overrides
from .settings_values import PORT_NUMBER, SINGLE_VALUE_TYPES, RawValue, checked, declared_fields, parse_fields
from .tls import server_context

DEV_APP: Final = AppConfig(id="100001", key="pusherpy-dev-key", secret="pusherpy-dev-secret", name="dev")
"""The app served when none is configured; its credentials are printed at start."""


_DERIVED: Final = "pusherpy.derived"
"""Field metadata of a value ``load_settings`` works out, which no source may set."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the server needs, read once at start and passed to ``create_app``."""

    host: str = "127.0.0.1"
    port: int = within(8080, PORT_NUMBER)
    apps: tuple[AppConfig, ...] = (DEV_APP,)
    redis_url: str | None = None
    redis_prefix: str = "pusherpy"
    """Namespace of every Redis key and bus channel; no braces (it becomes part of Redis Cluster hash tags)."""
    redis_cluster: bool = False
    """``redis_url`` names a node of a Redis Cluster: shard the state by app and the bus over sharded pub/sub."""
    redis_bus_shards: int = bounded(16, minimum=1)
    """Sharded bus channels on a Redis Cluster (each node subscribes to all of them: a constant number)."""
    cluster_secret: str | None = field(default=None, repr=False)
    """Signs every bus message between nodes (HMAC); unset, it is derived from the apps' ids and secrets. Hidden."""
    reject_replayed_signatures: bool = False
    """Refuse (401) a signed HTTP API request whose signature was already used within the timestamp window."""
    replay_memory_limit: int = bounded(1_000_000, minimum=1)
    """Signatures one node remembers for that without Redis; past it, new signed requests get 503 (see replay.py)."""
    debug: bool = False
    max_message_bytes: int = bounded(100_000, minimum=1)
    """Largest WebSocket message accepted; larger ones close the socket with 1009."""
    max_request_body_bytes: int = bounded(256 * 1024, minimum=1)
    """Largest HTTP API body; larger ones get 413 before the body is read."""
    send_buffer_limit_bytes: int = bounded(4 * 1024 * 1024, minimum=1)
    """A socket whose unsent data passes this is closed as a slow consumer (4100)."""
    pong_timeout: float = 30.0
    """How long a client has to answer the server's ``pusher:ping``."""
    handshake_timeout: float = 10.0
    """How long a new TCP connection may take to send its request head (WebSocket upgrade or HTTP request)."""
    request_body_timeout: float = 10.0
    """How long an HTTP API request may take to send its body; a slower one gets 408."""
    http_keepalive_timeout: float = 75.0
    """How long an idle keep-alive HTTP connection is kept open between requests."""
    shutdown_timeout: float = 5.0
    cache_ttl_seconds: float = 1800.0
    webhook_batch_interval: float = 0.25
    webhook_batch_size: int = bounded(50, minimum=1)
    webhook_delay_seconds: float = 3.0
    """How long channel_vacated / member_removed are held, to be cancelled if the channel/user comes back."""
    webhook_retry_seconds: float = 300.0
    webhook_queue_limit: int = bounded(10_000, minimum=1)
    node_heartbeat_seconds: float = 2.0
    node_ttl_seconds: float = 10.0
    allow_dev_app: bool = False
    """Serve the dev app (its secret is public) on a host other machines can reach; refused there otherwise."""
    metrics_token: str = field(default="", repr=False)
    """When set, ``/metrics`` answers only requests with ``Authorization: Bearer <metrics_token>``."""
    metrics_public: bool = False
    """Serve ``/metrics`` without a token on a host other machines can reach (refused there otherwise)."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = within(None, PORT_NUMBER)
    """Serve ``/metrics`` and ``/up`` on their own listener at ``metrics_host:metrics_port`` (and ``/metrics``
    no more on ``port``); None: no such listener."""
    path_prefix: str = checked("", check_path_prefix)
    """The path a proxy serves pusherpy under (``/ws``): every route answers with and without it (path_prefix.py)."""
    trusted_proxies: tuple[str, ...] = checked((), check_trusted_proxies)
    """Addresses or networks (``10.0.0.0/8``) of the proxies whose ``Forwarded`` / ``X-Forwarded-For`` /
    ``X-Forwarded-Proto`` are believed (forwarded.py); empty: those headers are ignored."""
    tls_cert: str | None = None
    """PEM file with the server's certificate followed by its chain: ``port`` then serves wss:// and https://."""
    tls_key: str | None = None
    """PEM file with the private key of ``tls_cert`` (unencrypted); set both or neither."""
    workers: int = bounded(1, minimum=1)
    """Worker processes sharing ``port`` (``SO_REUSEPORT``), started and restarted by a parent (supervisor.py);
    ``auto``: one per CPU. More than one needs ``redis_url``: the workers share state through it, as nodes do."""
    console: bool = False
    """Serve the live debug console at ``/console`` (docs/console.md). On a host other machines can reach it needs
    ``console_password``; start-up is refused without one."""
    console_password: str = field(default="", repr=False)
    """The console's login password (compared in constant time, never shown); empty: no login on loopback only."""
    apps_source: str | None = None
    """Where apps are read from instead of ``apps``: ``postgresql://…``, ``mysql://…`` or ``sqlite:///path``
    (docs/apps-database.md); None: the ``[[apps]]`` of the config file (or the dev app)."""
    apps_refresh_seconds: float = bounded(5.0, minimum=0.1)
    """How often apps are read again from ``apps_source``: a new, changed, disabled or deleted app takes effect
    within this time, without a restart."""
    uses_dev_app: bool = field(default=True, metadata={_DERIVED: True})
    """No app was configured, so ``DEV_APP`` is served. Set by ``load_settings``, not a setting of its own."""
    notices: tuple[str, ...] = field(default=(), metadata={_DERIVED: True})
    """What loading found worth a warning but not an error (a ``REVERB_*`` variable pusherpy does not read); the
    command line logs them. Set by ``load_settings``."""

    def __repr__(self) -> str:
        return redacted_repr(self, urls=("redis_url", "apps_source"))

    def app_by_key(self) -> dict[str, AppConfig]:
        return {app.key: app for app in self.apps}

    def app_by_id(self) -> dict[str, AppConfig]:
        return {app.id: app for app in self.apps}


# -- loading ------------------------------------------------------------------------------------------------------

_CONFIGURABLE: Final = tuple(
    name for name, (declared, _) in declared_fields(Settings).items() if not declared.metadata.get(_DERIVED)
)
"""The keys a config file may set, in declaration order (``apps`` among them)."""
_SINGLE_VALUED: Final = tuple(
    name for name in _CONFIGURABLE if declared_fields(Settings)[name][1] in SINGLE_VALUE_TYPES
)
"""The settings one variable or option can give: ``PUSHERPY_<NAME>`` and the command line's overrides."""


def load_settings(
    *,
    config_file: str | Path | None = None,
    env_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults < ``config_file`` < ``env_file`` < ``environ`` < ``overrides`` (the command line).

    ``env_file`` (else ``PUSHERPY_ENV_FILE``) is a ``.env`` read as Laravel reads it (``pusherpy/envfile.py``): the
    environment's own variables win over it, as they do in Laravel. ``overrides`` may hold any top-level key, plus
    ``app_id``/``app_key``/``app_secret`` for one app. The one app of the environment or the command line comes
    first and replaces a file's app with the same id or key.

    Raises:
        ConfigError: a value is invalid; the message names the key and the value.
    """
    environ = os.environ if environ is None else environ
    env_file = env_file if env_file is not None else (environ.get("PUSHERPY_ENV_FILE") or None)
    from_env_file: Mapping[str, str] = {} if env_file is None else read_env_file(env_file, environ)
    environ = {**from_env_file, **environ}
    path = config_path(config_file, environ)
    values: dict[str, Any] = {}
    # Each source is parsed before the next is read, so the first error reported is the first one in this order.
    if path is not None:
        values.update(parse_fields(Settings, _auto_workers(read_file(path, _CONFIGURABLE).settings)))
    from_environ = read_environ(environ, _SINGLE_VALUED)
    values.update(parse_fields(Settings, _auto_workers(from_environ.settings)))
    from_command_line = read_overrides(overrides or {}, _SINGLE_VALUED)
    values.update(parse_fields(Settings, _auto_workers(from_command_line.settings)))
    app = _one_app(from_environ, from_command_line)
    if app is not None:
        others = tuple(a for a in values.get("apps", ()) if a.id != app.id and a.key != app.key)
        values["apps"] = (app, *others)
    if values.get("apps_source"):
        _check_apps_source(values)
    values["uses_dev_app"] = "apps" not in values
    values["notices"] = (*_env_file_notice(env_file, from_env_file, from_environ), *from_environ.notices)
    if app is None and from_environ.app_options:
        names = ", ".join(sorted(raw.name for raw in from_environ.app_options.values()))
        values["notices"] += (f"{names}: ignored, as no app is named (set REVERB_APP_ID/KEY/SECRET with them)",)
    if any(brace in values.get("redis_prefix", "") for brace in "{}"):
        raise ConfigError(f"redis_prefix={values['redis_prefix']!r} must not contain braces (Redis Cluster hash tags)")
    if values.get("redis_url"):
        _check_redis_url(values["redis_url"])
    settings = Settings(**values)
    _check_workers(settings)
    _check_tls(settings)
    _check_unique(settings.apps)
    check_exposure(settings)
    return settings


SERVICE_MANAGER_VARIABLES: Final = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
"""What systemd passes a ``Type=notify`` service (``service.py`` speaks to it); not settings, nobody configures them."""


def service_manager_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The service manager's variables of ``environ`` (``os.environ`` when None), for ``service.supervised``."""
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in SERVICE_MANAGER_VARIABLES if name in environ}


def _one_app(from_environ: Found, from_command_line: Found) -> AppConfig | None:
    """The app named by the environment, with the command line's credentials over it."""
    credentials: dict[str, RawValue] = {**(from_environ.app or {}), **(from_command_line.app or {})}
    if not credentials:
        return None
    values = parse_fields(AppConfig, {**from_environ.app_options, **credentials})
    missing = [part for part in APP_CREDENTIALS if part not in values]
    if missing:
        raise ConfigError(f"--app-{missing[0]} is required with --app-id/--app-key/--app-secret")
    return AppConfig(**values)


def _env_file_notice(env_file: str | Path | None, from_env_file: Mapping[str, str], found: Found) -> tuple[str, ...]:
    """Say which of the env file's variables were read, so nobody has to guess (names only: values hold secrets)."""
    if env_file is None:
        return ()
    used = {raw.name for raw in (*found.settings.values(), *(found.app or {}).values(), *found.app_options.values())}
    read = sorted(name for name in from_env_file if name in used)
    return (f"env file {str(env_file)!r}: read {', '.join(read) if read else 'nothing pusherpy uses'}",)


def _check_redis_url(url: str) -> None:
    """Refuse here what the Redis client would refuse at start with a traceback (which may quote the password)."""
    shown = redacted_url(url)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"redis_url={shown!r} must start with redis://, rediss:// or unix://")
    try:
        urlsplit(url).port  # noqa: B018 - raises when a password's unescaped "/", "?" or "#" ends the host early
    except ValueError:
        raise ConfigError(f"redis_url={shown!r} is not a valid URL (percent-encode / ? # in a password)") from None


def _check_apps_source(values: dict[str, Any]) -> None:
    """Apps come from the database alone: none may be configured besides, and nodes sharing Redis need a
    ``cluster_secret`` (bus keys derived from app secrets would split the cluster while a rotation spreads)."""
    source = values["apps_source"]
    open_store(source)  # a bad URL, or its driver (an optional extra) missing, is refused now, not at start
    if "apps" in values:
        raise ConfigError(
            f"apps_source={redacted_url(source)!r} and apps (or --app-id, PUSHERPY_APP_ID, REVERB_APP_ID): "
            "apps come from one place; remove the others or apps_source"
        )
    if values.get("redis_url") and not values.get("cluster_secret"):
        raise ConfigError(
            "apps_source with redis_url needs cluster_secret (the same on every node): it signs what "
            "nodes say to each other, as app secrets can no longer do once they rotate"
        )
    values["apps"] = ()


def _auto_workers(found: dict[str, RawValue]) -> dict[str, RawValue]:
    """``workers = "auto"`` is one worker per CPU; any other value is parsed as the integer it must be."""
    raw = found.get("workers")
    if raw is not None and isinstance(raw.value, str) and raw.value.strip().lower() == "auto":
        return {**found, "workers": RawValue(os.cpu_count() or 1, raw.name)}
    return found


def _check_workers(settings: Settings) -> None:
    """Workers are separate processes: without Redis each would be a server of its own, and clients on different
    workers would not see each other."""
    if settings.workers > 1 and not settings.redis_url:
        raise ConfigError(
            f"workers={settings.workers} needs redis_url (--redis-url, PUSHERPY_REDIS_URL): worker processes share "
            "channels and presence through Redis; without it use workers = 1"
        )
    if settings.workers > 1 and settings.metrics_port and settings.metrics_port + settings.workers - 1 > 65535:
        raise ConfigError(f"metrics_port={settings.metrics_port}: worker i serves on metrics_port + i, past 65535")


def _check_tls(settings: Settings) -> None:
    """Both TLS files or neither, and a pair that loads: refused at start, not at the first handshake."""
    if (settings.tls_cert is None) != (settings.tls_key is None):
        missing = "tls_key" if settings.tls_key is None else "tls_cert"
        raise ConfigError(f"tls_cert and tls_key go together: {missing} is not set (--tls-cert/--tls-key)")
    if settings.tls_cert is not None and settings.tls_key is not None:
        server_context(settings.tls_cert, settings.tls_key)


def _check_unique(apps: tuple[AppConfig, ...]) -> None:
    for attribute in ("id", "key"):
        seen: set[str] = set()
        for app in apps:
            value = getattr(app, attribute)
            if value in seen:
                raise ConfigError(f"apps: two apps have {attribute}={value!r}")
            seen.add(value)
