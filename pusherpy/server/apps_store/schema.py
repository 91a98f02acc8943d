"""The ``pusherpy_apps`` table: one row per app, and the one rule that turns a row into an ``AppConfig``.

Columns ``id``, ``key``, ``secret``, ``name`` and ``enabled`` are the app's credentials and switch, kept apart so
``pusherpy apps`` and an administrator's SQL can change them; ``settings`` is a JSON object holding every other
``AppConfig`` field (limits, ``webhooks``, ``history``) in the shape of a TOML ``[[apps]]`` table, parsed by the
same ``settings_values.parse_app``: a setting means the same in a file and in the database. Nothing here performs
I/O.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Final

from ...protocol.apps import AppConfig
from ...protocol.errors import ConfigError
from ..settings_values import parse_app

TABLE: Final = "pusherpy_apps"
COLUMNS: Final = ("id", "key", "secret", "name", "enabled")
"""The app's fields kept in columns of their own; ``settings`` may not repeat them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredApp:
    """One row of ``pusherpy_apps`` as read, before it is parsed (``app_from_row``)."""

    id: str
    key: str
    secret: str = field(repr=False)
    name: str = ""
    enabled: bool = True
    settings: str = "{}"
    """The JSON object of every other ``AppConfig`` field, as text."""
    created_at: str = ""
    updated_at: str = ""


def app_from_row(row: StoredApp) -> AppConfig:
    """Parse a row as a TOML ``[[apps]]`` table would be parsed.

    Raises:
        ConfigError: the settings are not a JSON object, repeat a column, or hold a bad value (named).
    """
    where = f"{TABLE} id={row.id!r}"
    try:
        extra = json.loads(row.settings) if row.settings else {}
    except ValueError as error:
        raise ConfigError(f"{where}: settings is not JSON ({error})") from None
    if not isinstance(extra, dict):
        raise ConfigError(f"{where}: settings must be a JSON object")
    repeated = sorted(set(extra) & set(COLUMNS))
    if repeated:
        raise ConfigError(f"{where}: settings must not hold {repeated[0]!r} (it is a column of its own)")
    table = {**extra, "id": row.id, "key": row.key, "secret": row.secret, "name": row.name, "enabled": row.enabled}
    return parse_app(where, table)


def new_credentials(name: str = "") -> StoredApp:
    """A new app's id (numeric, as Pusher's), key and secret, from ``secrets``: unguessable, and unique in practice
    (the table's primary key and unique key refuse the rare clash)."""
    return StoredApp(
        id=str(100_000 + secrets.randbelow(9_900_000_000)),
        key=secrets.token_hex(10),
        secret=secrets.token_hex(20),
        name=name,
    )
