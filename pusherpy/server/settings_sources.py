"""Where settings come from: a TOML file, ``PUSHERPY_*`` variables, a Laravel ``.env``, the command line.

Each source only finds values and says how the user spelt them (``RawValue``); ``settings.py`` parses them and
applies the precedence. A source rejects what only it can judge: a key it does not know (each source words that its
own way), an app's credentials given in part. A Laravel project's Reverb or Pusher ``.env`` is read as it is:
``REVERB_APP_ID``/``KEY``/``SECRET`` or ``PUSHER_APP_*``, and the rest of Reverb's variables as
``settings_laravel.py`` maps them. Nothing here reads ``os.environ``: the caller passes the environment in.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..protocol.errors import ConfigError
from .settings_laravel import read_laravel_env
from .settings_values import RawValue

APP_CREDENTIALS: Final = ("id", "key", "secret")
"""The fields of the one app an environment or a command line can name (the others keep their defaults)."""
_APP_OPTIONS: Final = tuple(f"app_{part}" for part in APP_CREDENTIALS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """What one source says: top-level settings by field name, and the credentials of one app if it names one."""

    settings: dict[str, RawValue]
    app: dict[str, RawValue] | None = None
    """The one app's credentials."""
    app_options: dict[str, RawValue] = field(default_factory=dict)
    """Options of the one app, whichever source names it (a Reverb ``.env`` gives ``REVERB_APP_PING_INTERVAL``)."""
    notices: tuple[str, ...] = ()
    """What the user should know but is not an error (a ``REVERB_*`` variable pusherpy does not read)."""


def config_path(config_file: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read: the one given, else ``PUSHERPY_CONFIG``, else none."""
    if config_file is None and environ.get("PUSHERPY_CONFIG"):
        config_file = environ["PUSHERPY_CONFIG"]
    return None if config_file is None else Path(config_file)


def read_file(path: Path, known: Collection[str]) -> Found:
    """Read the top-level keys of a TOML file (``apps`` is one of them: a list of ``[[apps]]`` tables)."""
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    for key in document:
        if key not in known:
            raise ConfigError(f"{key}: unknown key in {str(path)!r}")
    return Found(settings={key: RawValue(value, key) for key, value in document.items()})


_APP_PREFIXES: Final = ("PUSHERPY_APP_", "REVERB_APP_", "PUSHER_APP_")
"""Where one app's credentials are looked for, first found wins: ours, then a Laravel Reverb or Pusher ``.env``."""


def read_environ(environ: Mapping[str, str], settings: Sequence[str]) -> Found:
    """Read ``PUSHERPY_<SETTING>`` for each of ``settings``, then Reverb's variables for what those leave unset
    (``settings_laravel.py``); empty variables are unset.

    A ``PUSHERPY_*`` name that is not one of ours is an error, not ignored: it is a misspelling.
    """
    known = {"PUSHERPY_CONFIG", "PUSHERPY_ENV_FILE"} | {f"PUSHERPY_{key.upper()}" for key in (*settings, *_APP_OPTIONS)}
    for name in environ:
        if name.startswith("PUSHERPY_") and name not in known:
            # The value is not shown: a misspelt PUSHERPY_APP_SECRETT holds a secret.
            raise ConfigError(f"{name}: unknown setting (known: {', '.join(sorted(known))})")
    found = {key: RawValue(environ[name], name) for key in settings if environ.get(name := f"PUSHERPY_{key.upper()}")}
    laravel = read_laravel_env(environ)
    for key, raw in laravel.settings.items():
        found.setdefault(key, raw)
    return Found(settings=found, app=_environ_app(environ), app_options=laravel.app_options, notices=laravel.notices)


def _environ_app(environ: Mapping[str, str]) -> dict[str, RawValue] | None:
    for prefix in _APP_PREFIXES:
        names = {part: prefix + part.upper() for part in APP_CREDENTIALS}
        found = {part: RawValue(environ[name], name) for part, name in names.items() if environ.get(name)}
        if found:
            missing = [name for part, name in names.items() if part not in found]
            if missing:
                raise ConfigError(f"{missing[0]} must be set together with {prefix}ID/KEY/SECRET")
            return found
    return None


def read_overrides(overrides: Mapping[str, Any], settings: Collection[str]) -> Found:
    """Read the command line's values: any of ``settings``, and ``app_id``/``app_key``/``app_secret`` for one app.

    ``None`` means the option was not given. Errors name an app's option as it is typed (``--app-id``).
    """
    found: dict[str, RawValue] = {}
    app: dict[str, RawValue] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in _APP_OPTIONS:
            app[key.removeprefix("app_")] = RawValue(value, f"--{key.replace('_', '-')}")
        elif key in settings:
            found[key] = RawValue(value, key)
        else:
            raise ConfigError(f"unknown setting {key!r}")
    return Found(settings=found, app=app or None)
