"""A Laravel project's ``.env``, read as Laravel Reverb reads it: the same variables, meanings and units.

``REVERB_VARIABLES`` is the one list of every variable Reverb's ``config/reverb.php`` and ``reverb:install`` use,
each with what pusherpy does with it; the docs' table (docs/laravel.md) is checked against it by a test. A
``REVERB_*`` variable not listed is named in a notice (a misspelling, or a setting of a newer Reverb), never
silently ignored. Nothing here reads ``os.environ``: the caller passes the environment in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from ..protocol.bounds import Bounds
from .settings_values import PORT_NUMBER, RawValue, parse_bool, parse_int


class Use(Enum):
    """What pusherpy does with a Reverb variable."""

    SETTING = "a server setting"
    APP = "a setting of the app REVERB_APP_ID names"
    NOT_NEEDED = "not needed"
    UNSUPPORTED = "not supported"


@dataclass(frozen=True, slots=True)
class ReverbVariable:
    """One variable Reverb reads: what pusherpy does with it, and into which setting."""

    use: Use
    target: str = ""
    """The ``Settings`` or ``AppConfig`` field it sets; empty where it sets none."""
    why: str = ""
    """Why it is not needed or not supported (an unsupported one's reason is logged when it is set)."""
    plain: bool = True
    """Its value is the setting's value as it is. Otherwise its own code reads it: the credentials (with the other
    prefixes, ``settings_sources.py``), and the variables below whose value is converted or combined."""


_WHERE_CLIENTS_CONNECT: Final = "it tells Laravel and the browser where to reach the server"

REVERB_VARIABLES: Final[Mapping[str, ReverbVariable]] = {
    "REVERB_APP_ID": ReverbVariable(Use.APP, "id", plain=False),
    "REVERB_APP_KEY": ReverbVariable(Use.APP, "key", plain=False),
    "REVERB_APP_SECRET": ReverbVariable(Use.APP, "secret", plain=False),
    "REVERB_SERVER_HOST": ReverbVariable(Use.SETTING, "host"),
    "REVERB_SERVER_PORT": ReverbVariable(Use.SETTING, "port"),
    "REVERB_MAX_REQUEST_SIZE": ReverbVariable(Use.SETTING, "max_request_body_bytes"),
    "REVERB_SCALING_ENABLED": ReverbVariable(Use.SETTING, "redis_url", plain=False),
    "REVERB_SCALING_CHANNEL": ReverbVariable(Use.SETTING, "redis_prefix"),
    "REVERB_APP_MAX_MESSAGE_SIZE": ReverbVariable(Use.SETTING, "max_message_bytes"),
    "REVERB_APP_PING_INTERVAL": ReverbVariable(Use.APP, "ping_interval"),
    "REVERB_APP_ACTIVITY_TIMEOUT": ReverbVariable(Use.APP, "activity_timeout"),
    "REVERB_APP_MAX_CONNECTIONS": ReverbVariable(Use.APP, "max_connections"),
    "REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM": ReverbVariable(Use.APP, "enable_client_events", plain=False),
    "REVERB_APP_RATE_LIMITING_ENABLED": ReverbVariable(Use.APP, "max_messages_per_second", plain=False),
    "REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS": ReverbVariable(Use.APP, "max_messages_per_second", plain=False),
    "REVERB_APP_RATE_LIMIT_DECAY_SECONDS": ReverbVariable(Use.APP, "max_messages_per_second", plain=False),
    "REVERB_APP_RATE_LIMIT_TERMINATE": ReverbVariable(
        Use.NOT_NEEDED, why="a socket that keeps sending at twice the limit is always closed (4100)"
    ),
    "REVERB_ALLOWED_ORIGINS": ReverbVariable(Use.APP, "allowed_origins", plain=False),
    "REVERB_HOST": ReverbVariable(Use.NOT_NEEDED, why=_WHERE_CLIENTS_CONNECT),
    "REVERB_PORT": ReverbVariable(Use.NOT_NEEDED, why=_WHERE_CLIENTS_CONNECT),
    "REVERB_SCHEME": ReverbVariable(Use.NOT_NEEDED, why=_WHERE_CLIENTS_CONNECT),
    "REVERB_SERVER": ReverbVariable(Use.NOT_NEEDED, why="pusherpy is the one server"),
    "REVERB_SERVER_PATH": ReverbVariable(Use.SETTING, "path_prefix"),
    "REVERB_PULSE_INGEST_INTERVAL": ReverbVariable(
        Use.UNSUPPORTED, why="Laravel Pulse reads Reverb's own process; scrape pusherpy's /metrics instead"
    ),
    "REVERB_TELESCOPE_INGEST_INTERVAL": ReverbVariable(
        Use.UNSUPPORTED, why="Laravel Telescope reads Reverb's own process; use pusherpy serve --debug instead"
    ),
}
"""Every variable of Reverb's ``config/reverb.php`` and of ``reverb:install``, plus ``REVERB_ALLOWED_ORIGINS``
(Reverb keeps ``allowed_origins`` in ``config/reverb.php``; pusherpy reads it from this variable)."""

_CLIENT_EVENTS_FROM: Final = {"members": True, "all": True}
"""``REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM``: Reverb's ``members`` and ``all`` accept client events (pusherpy, like
Pusher, always requires the sender to be subscribed, so ``all`` is ``members``); any other value turns them off."""


_POSITIVE: Final = Bounds(minimum=1, what="a positive number")
_NOT_NEGATIVE: Final = Bounds(minimum=0, what="a database number")


@dataclass(frozen=True, slots=True, kw_only=True)
class LaravelEnv:
    """What a Laravel ``.env`` says: server settings, the app's credentials and options, and notices to log."""

    settings: dict[str, RawValue] = field(default_factory=dict)
    app_options: dict[str, RawValue] = field(default_factory=dict)
    notices: tuple[str, ...] = ()


def read_laravel_env(environ: Mapping[str, str]) -> LaravelEnv:
    """Read the Reverb variables (and ``REDIS_*`` when scaling is on) that are set and not empty or ``null``."""
    present = {name: value for name, value in environ.items() if _is_set(value)}
    settings: dict[str, RawValue] = {}
    app_options: dict[str, RawValue] = {}
    notices: list[str] = []
    for name, variable in REVERB_VARIABLES.items():
        if name in present and variable.plain and variable.target:
            found = settings if variable.use is Use.SETTING else app_options
            found[variable.target] = RawValue(present[name], name)
    if parse_bool("REVERB_SCALING_ENABLED", present.get("REVERB_SCALING_ENABLED", "false")):
        settings["redis_url"] = RawValue(laravel_redis_url(present), "REDIS_URL")
    _client_events(present, app_options)
    _rate_limit(present, app_options)
    if "REVERB_ALLOWED_ORIGINS" in present:
        patterns = [item.strip() for item in present["REVERB_ALLOWED_ORIGINS"].split(",") if item.strip()]
        app_options["allowed_origins"] = RawValue(patterns, "REVERB_ALLOWED_ORIGINS")
    for name in sorted(present):
        known = REVERB_VARIABLES.get(name)
        if name.startswith("REVERB_") and known is None:
            notices.append(f"{name} is not a Reverb setting pusherpy knows: ignored (see docs/laravel.md)")
        elif known is not None and known.use is Use.UNSUPPORTED:
            notices.append(f"{name} is not supported: {known.why}")
    return LaravelEnv(settings=settings, app_options=app_options, notices=tuple(notices))


def _is_set(value: str) -> bool:
    """Laravel's ``env()`` reads ``null`` and ``(null)`` as no value; an empty variable is unset here too."""
    return value.strip().lower() not in ("", "null", "(null)")


def _client_events(present: Mapping[str, str], app_options: dict[str, RawValue]) -> None:
    name = "REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM"
    if name in present:
        enabled = _CLIENT_EVENTS_FROM.get(present[name].strip().lower(), False)
        app_options["enable_client_events"] = RawValue(enabled, name)


def _rate_limit(present: Mapping[str, str], app_options: dict[str, RawValue]) -> None:
    """Reverb allows ``MAX_ATTEMPTS`` messages per ``DECAY_SECONDS`` when rate limiting is enabled: the same
    average rate, as messages per second (rounded up, so no burst Reverb allows is refused on average)."""
    enabled = "REVERB_APP_RATE_LIMITING_ENABLED"
    if not parse_bool(enabled, present.get(enabled, "false")):
        return
    attempts = parse_int(
        "REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS", present.get("REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS", "60"), _POSITIVE
    )
    decay = parse_int(
        "REVERB_APP_RATE_LIMIT_DECAY_SECONDS", present.get("REVERB_APP_RATE_LIMIT_DECAY_SECONDS", "60"), _POSITIVE
    )
    app_options["max_messages_per_second"] = RawValue(math.ceil(attempts / decay), "REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS")


def laravel_redis_url(present: Mapping[str, str]) -> str:
    """Laravel's Redis connection: ``REDIS_URL``, else one built from ``REDIS_HOST``/``PORT``/``USERNAME``/
    ``PASSWORD``/``DB``."""
    if present.get("REDIS_URL"):
        return present["REDIS_URL"]
    host = present.get("REDIS_HOST", "127.0.0.1")
    port = parse_int("REDIS_PORT", present.get("REDIS_PORT", "6379"), PORT_NUMBER)
    database = parse_int("REDIS_DB", present.get("REDIS_DB", "0"), _NOT_NEGATIVE)
    username = present.get("REDIS_USERNAME", "")
    password = present.get("REDIS_PASSWORD")
    auth = f"{username}:{password}@" if password else (f"{username}@" if username else "")
    return f"redis://{auth}{host}:{port}/{database}"
