"""Server settings: defaults < TOML file < environment < command line. The only reader of ``os.environ``.

A bad value stops start-up with a ``ConfigError`` that names the key and the value. A Laravel project's Reverb or
Pusher ``.env`` variables work unchanged (``REVERB_APP_ID``, ``REVERB_SERVER_PORT``, ``PUSHER_APP_KEY``, ...).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..protocol.apps import WEBHOOK_EVENT_TYPES, AppConfig, WebhookTarget
from ..protocol.errors import ConfigError

DEV_APP: Final = AppConfig(id="100001", key="pusherpy-dev-key", secret="pusherpy-dev-secret", name="dev")
"""The app served when none is configured; its credentials are printed at start."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the server needs, read once at start and passed to ``create_app``."""

    host: str = "127.0.0.1"
    port: int = 8080
    apps: tuple[AppConfig, ...] = (DEV_APP,)
    redis_url: str | None = None
    redis_prefix: str = "pusherpy"
    """Namespace of every Redis key and bus channel; no braces (it becomes part of Redis Cluster hash tags)."""
    redis_cluster: bool = False
    """``redis_url`` names a node of a Redis Cluster: shard the state by app and the bus over sharded pub/sub."""
    redis_bus_shards: int = 16
    """Sharded bus channels on a Redis Cluster (each node subscribes to all of them: a constant number)."""
    debug: bool = False
    max_message_bytes: int = 100_000
    """Largest WebSocket message accepted; larger ones close the socket with 1009."""
    max_request_body_bytes: int = 256 * 1024
    """Largest HTTP API body; larger ones get 413 before the body is read."""
    send_buffer_limit_bytes: int = 4 * 1024 * 1024
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
    webhook_batch_size: int = 50
    webhook_delay_seconds: float = 3.0
    """How long channel_vacated / member_removed are held, to be cancelled if the channel/user comes back."""
    webhook_retry_seconds: float = 300.0
    webhook_queue_limit: int = 10_000
    node_heartbeat_seconds: float = 2.0
    node_ttl_seconds: float = 10.0
    uses_dev_app: bool = field(default=True)

    def app_by_key(self) -> dict[str, AppConfig]:
        return {app.key: app for app in self.apps}

    def app_by_id(self) -> dict[str, AppConfig]:
        return {app.id: app for app in self.apps}


# -- parsing helpers ---------------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{key}={value!r} is not a boolean (use true or false)")


def _parse_int(key: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise ConfigError(f"{key}={value!r} is not an integer") from None
    else:
        raise ConfigError(f"{key}={value!r} is not an integer")
    if number < minimum:
        raise ConfigError(f"{key}={value!r} must be at least {minimum}")
    return number


def _parse_float(key: str, value: object, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{key}={value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a number") from None
    if number < minimum:
        raise ConfigError(f"{key}={value!r} must be at least {minimum}")
    return number


def _parse_str(key: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} is not a string")
    text = str(value)
    if not text and not allow_empty:
        raise ConfigError(f"{key} must not be empty")
    return text


def _parse_port(key: str, value: object) -> int:
    port = _parse_int(key, value)
    if port > 65535:
        raise ConfigError(f"{key}={value!r} is not a port number (0-65535)")
    return port


# -- apps --------------------------------------------------------------------------------------------------------

_APP_INT_KEYS: Final = {
    "max_connections": 0,
    "max_presence_members": 0,
    "max_presence_member_size_bytes": 1,
    "max_presence_user_id_length": 1,
    "max_event_payload_kb": 1,
    "max_client_events_per_second": 0,
    "max_messages_per_second": 0,
    "max_api_requests_per_second": 0,
    "max_channels_per_trigger": 1,
    "max_batch_size": 1,
    "max_watchlist_size": 0,
    "activity_timeout": 1,
}
_APP_BOOL_KEYS: Final = {
    "enabled",
    "enable_client_events",
    "enable_user_authentication",
    "authorized_connections_only",
    "enable_subscription_count",
}


def _parse_webhooks(where: str, value: object) -> tuple[WebhookTarget, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}.webhooks must be a list of tables ([[apps.webhooks]])")
    targets = []
    for index, entry in enumerate(value):
        key = f"{where}.webhooks[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{key} must be a table with url and event_types")
        unknown = set(entry) - {"url", "event_types"}
        if unknown:
            raise ConfigError(f"{key}: unknown key {sorted(unknown)[0]!r}")
        url = _parse_str(f"{key}.url", entry.get("url"))
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{key}.url={url!r} must be an http:// or https:// URL")
        types = entry.get("event_types", sorted(WEBHOOK_EVENT_TYPES))
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise ConfigError(f"{key}.event_types={types!r} must be a list of strings")
        bad = [t for t in types if t not in WEBHOOK_EVENT_TYPES]
        if bad:
            raise ConfigError(f"{key}.event_types: {bad[0]!r} is not one of {sorted(WEBHOOK_EVENT_TYPES)}")
        targets.append(WebhookTarget(url=url, event_types=frozenset(types)))
    return tuple(targets)


def parse_app(where: str, table: Mapping[str, Any]) -> AppConfig:
    """Build one app from a ``[[apps]]`` table; ``where`` names it in errors (``apps[0]``)."""
    known = {f.name for f in dataclasses.fields(AppConfig)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{where}.{key}"
        if key not in known:
            raise ConfigError(f"{name}: unknown key (known: {', '.join(sorted(known))})")
        if key in ("id", "key", "secret"):
            values[key] = _parse_str(name, value)
        elif key == "name":
            values[key] = _parse_str(name, value, allow_empty=True)
        elif key in _APP_BOOL_KEYS:
            values[key] = _parse_bool(name, value)
        elif key in _APP_INT_KEYS:
            values[key] = _parse_int(name, value, minimum=_APP_INT_KEYS[key])
        elif key == "auth_timeout":
            values[key] = _parse_float(name, value, minimum=0.1)
        elif key == "allowed_origins":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{name}={value!r} must be a list of host patterns")
            values[key] = tuple(value)
        elif key == "webhooks":
            values[key] = _parse_webhooks(where, value)
    for required in ("id", "key", "secret"):
        if required not in values:
            raise ConfigError(f"{where}: missing {required!r}")
    return AppConfig(**values)


# -- sources -----------------------------------------------------------------------------------------------------

_TOP_LEVEL: Final = {
    "host": "str",
    "port": "port",
    "redis_url": "str",
    "redis_prefix": "str",
    "redis_cluster": "bool",
    "redis_bus_shards": "int",
    "debug": "bool",
    "max_message_bytes": "int",
    "max_request_body_bytes": "int",
    "send_buffer_limit_bytes": "int",
    "pong_timeout": "float",
    "handshake_timeout": "float",
    "request_body_timeout": "float",
    "http_keepalive_timeout": "float",
    "shutdown_timeout": "float",
    "cache_ttl_seconds": "float",
    "webhook_batch_interval": "float",
    "webhook_batch_size": "int",
    "webhook_delay_seconds": "float",
    "webhook_retry_seconds": "float",
    "webhook_queue_limit": "int",
    "node_heartbeat_seconds": "float",
    "node_ttl_seconds": "float",
}


def _parse_top(key: str, value: object) -> Any:
    kind = _TOP_LEVEL[key]
    if kind == "str":
        return _parse_str(key, value)
    if kind == "port":
        return _parse_port(key, value)
    if kind == "bool":
        return _parse_bool(key, value)
    if kind == "int":
        return _parse_int(key, value, minimum=1)
    return _parse_float(key, value)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key == "apps":
            if not isinstance(value, list) or not value:
                raise ConfigError("apps must be a non-empty list of [[apps]] tables")
            values["apps"] = tuple(parse_app(f"apps[{i}]", table) for i, table in enumerate(value))
        elif key in _TOP_LEVEL:
            values[key] = _parse_top(key, value)
        else:
            raise ConfigError(f"{key}: unknown key in {str(path)!r}")
    return values


def _env_app(environ: Mapping[str, str]) -> dict[str, str] | None:
    """App credentials from PUSHERPY_APP_*, else REVERB_APP_*, else PUSHER_APP_* (a Laravel .env)."""
    for prefix in ("PUSHERPY_APP_", "REVERB_APP_", "PUSHER_APP_"):
        found = {part.lower(): environ[prefix + part] for part in ("ID", "KEY", "SECRET") if environ.get(prefix + part)}
        if found:
            missing = [prefix + part.upper() for part in ("id", "key", "secret") if part not in found]
            if missing:
                raise ConfigError(f"{missing[0]} must be set together with {prefix}ID/KEY/SECRET")
            return found
    return None


_ENV_NAMES: Final = frozenset(
    {"PUSHERPY_CONFIG", "PUSHERPY_APP_ID", "PUSHERPY_APP_KEY", "PUSHERPY_APP_SECRET"}
    | {f"PUSHERPY_{key.upper()}" for key in _TOP_LEVEL}
)


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read the ``PUSHERPY_*`` and Laravel variables; a misspelt ``PUSHERPY_*`` name is an error, not ignored."""
    for name in environ:
        if name.startswith("PUSHERPY_") and name not in _ENV_NAMES:
            raise ConfigError(f"{name}={environ[name]!r}: unknown setting (known: {', '.join(sorted(_ENV_NAMES))})")
    values: dict[str, Any] = {}
    aliases = {
        "host": ("PUSHERPY_HOST", "REVERB_SERVER_HOST"),
        "port": ("PUSHERPY_PORT", "REVERB_SERVER_PORT"),
        "redis_url": ("PUSHERPY_REDIS_URL",),
    }
    for key in _TOP_LEVEL:
        for name in aliases.get(key, (f"PUSHERPY_{key.upper()}",)):
            if environ.get(name):
                try:
                    values[key] = _parse_top(key, environ[name])
                except ConfigError as error:
                    raise ConfigError(str(error).replace(key, name, 1)) from None
                break
    if "redis_url" not in values and _parse_bool(
        "REVERB_SCALING_ENABLED", environ.get("REVERB_SCALING_ENABLED", "false")
    ):
        values["redis_url"] = _laravel_redis_url(environ)
    app = _env_app(environ)
    if app is not None:
        values["env_app"] = app
    return values


def _laravel_redis_url(environ: Mapping[str, str]) -> str:
    if environ.get("REDIS_URL"):
        return environ["REDIS_URL"]
    host = environ.get("REDIS_HOST", "127.0.0.1")
    port = _parse_port("REDIS_PORT", environ.get("REDIS_PORT", "6379"))
    password = environ.get("REDIS_PASSWORD")
    auth = f":{password}@" if password and password.lower() != "null" else ""
    return f"redis://{auth}{host}:{port}/0"


def load_settings(
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults < ``config_file`` < ``environ`` < ``overrides`` (the command line).

    ``overrides`` may hold any top-level key, plus ``app_id``/``app_key``/``app_secret`` for one app.

    Raises:
        ConfigError: a value is invalid; the message names the key and the value.
    """
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get("PUSHERPY_CONFIG"):
        config_file = environ["PUSHERPY_CONFIG"]
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_from_file(Path(config_file)))
    env_values = _from_env(environ)
    env_app = env_values.pop("env_app", None)
    values.update(env_values)
    cli_app = None
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in ("app_id", "app_key", "app_secret"):
            cli_app = cli_app or {}
            cli_app[key.removeprefix("app_")] = _parse_str(f"--{key.replace('_', '-')}", value)
        elif key in _TOP_LEVEL:
            values[key] = _parse_top(key, value)
        else:
            raise ConfigError(f"unknown setting {key!r}")
    single = cli_app or env_app
    if cli_app and env_app:
        single = {**env_app, **cli_app}
    if single is not None:
        missing = [name for name in ("id", "key", "secret") if name not in single]
        if missing:
            raise ConfigError(f"--app-{missing[0]} is required with --app-id/--app-key/--app-secret")
        base = DEV_APP if "apps" not in values else None
        app = dataclasses.replace(base, **single, name="") if base else parse_app("app", single)
        others = tuple(a for a in values.get("apps", ()) if a.id != app.id and a.key != app.key)
        values["apps"] = (app, *others)
    values["uses_dev_app"] = "apps" not in values
    if any(brace in values.get("redis_prefix", "") for brace in "{}"):
        raise ConfigError(f"redis_prefix={values['redis_prefix']!r} must not contain braces (Redis Cluster hash tags)")
    settings = Settings(**values)
    _check_unique(settings.apps)
    return settings


def _check_unique(apps: tuple[AppConfig, ...]) -> None:
    for attribute in ("id", "key"):
        seen: set[str] = set()
        for app in apps:
            value = getattr(app, attribute)
            if value in seen:
                raise ConfigError(f"apps: two apps have {attribute}={value!r}")
            seen.add(value)
