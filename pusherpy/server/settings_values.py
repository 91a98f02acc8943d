"""Turn configured values into the types the settings dataclasses declare, or a ``ConfigError`` that names them.

What a field accepts is read from the dataclass itself: its type (``typing.get_type_hints``) picks one parser, its
``bounded`` metadata gives the bounds, and a string may be empty only where the default is. Adding a field of a type
listed in ``_PARSERS`` to ``Settings`` or ``AppConfig`` is therefore one edit. Every source (``settings_sources.py``)
hands values over as ``RawValue``: the value as it came, and the name the user wrote it under, which errors quote.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..protocol.apps import WEBHOOK_EVENT_TYPES, AppConfig, ChannelFilter, WebhookTarget
from ..protocol.bounds import Bounds, bounds_of
from ..protocol.errors import ConfigError
from ..protocol.history import HistoryRule
from ..protocol.redact import redacted_url
from ..protocol.webhooks import MAX_EXTRA_HEADERS, header_problem

PORT_NUMBER: Final = Bounds(minimum=0, maximum=65535, what="a port number")
_Table = typing.TypeVar("_Table")


@dataclass(frozen=True, slots=True)
class RawValue:
    """A value as a source gave it (a TOML value, an environment string, a command-line argument)."""

    value: object
    name: str
    """How the user spelt it (``apps[0].max_connections``, ``PUSHERPY_PORT``, ``--app-id``): errors quote this."""


# -- one parser per type -----------------------------------------------------------------------------------------

_TRUE: Final = {"1", "true", "yes", "on"}
_FALSE: Final = {"0", "false", "no", "off", ""}


def parse_bool(name: str, value: object) -> bool:
    """Read a TOML boolean or a word (``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{name}={value!r} is not a boolean (use true or false)")


def parse_int(name: str, value: object, bounds: Bounds) -> int:
    """Read a TOML integer or its decimal text, within ``bounds``."""
    if isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not an integer") from None
    else:
        raise ConfigError(f"{name}={value!r} is not an integer")
    _check_range(name, value, number, bounds.minimum, bounds)
    return number


def _parse_float(name: str, value: object, bounds: Bounds) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{name}={value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    # The bound is quoted as a float ("at least 0.0") so the message reads in the field's own type.
    _check_range(name, value, number, float(bounds.minimum), bounds)
    return number


def _check_range(name: str, value: object, number: float, minimum: float, bounds: Bounds) -> None:
    if number < minimum:
        raise ConfigError(f"{name}={value!r} must be at least {minimum}")
    if bounds.maximum is not None and number > bounds.maximum:
        raise ConfigError(f"{name}={value!r} is not {bounds.what or 'in range'} ({minimum}-{bounds.maximum})")


def _parse_str(name: str, value: object, *, may_be_empty: bool) -> str:
    """Read a string; a TOML integer is taken as its digits (``id = 42`` is the app id ``"42"``)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} is not a string")
    text = str(value)
    if not text and not may_be_empty:
        raise ConfigError(f"{name} must not be empty")
    return text


def _parse_strings(name: str, value: object, bounds: Bounds) -> tuple[str, ...]:
    """Read a TOML list of strings, or one string of comma-separated items (an environment variable's)."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{name}={value!r} must be a list of {bounds.what or 'strings'}")
    return tuple(value)


def _parse_webhooks(name: str, value: object) -> tuple[WebhookTarget, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{name} must be a list of tables ([[apps.webhooks]])")
    known = declared_fields(WebhookTarget)
    targets = []
    for index, entry in enumerate(value):
        key = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{key} must be a table with url and event_types")
        unknown = set(entry) - set(known)
        if unknown:
            raise ConfigError(f"{key}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(known))})")
        url = _parse_str(f"{key}.url", entry.get("url"), may_be_empty=False)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{key}.url={redacted_url(url)!r} must be an http:// or https:// URL")
        event_types = entry.get("event_types", sorted(WEBHOOK_EVENT_TYPES))
        if not isinstance(event_types, list) or not all(isinstance(t, str) for t in event_types):
            raise ConfigError(f"{key}.event_types={event_types!r} must be a list of strings")
        bad = [t for t in event_types if t not in WEBHOOK_EVENT_TYPES]
        if bad:
            raise ConfigError(f"{key}.event_types: {bad[0]!r} is not one of {sorted(WEBHOOK_EVENT_TYPES)}")
        fields: dict[str, Any] = {"url": url, "event_types": frozenset(event_types)}
        if "filter" in entry:
            fields["filter"] = _parse_channel_filter(f"{key}.filter", entry["filter"])
        if "headers" in entry:
            fields["headers"] = _parse_headers(f"{key}.headers", entry["headers"])
        if "timeout_seconds" in entry:
            timeout, _ = known["timeout_seconds"]
            fields["timeout_seconds"] = _parse_float(
                f"{key}.timeout_seconds", entry["timeout_seconds"], bounds_of(timeout)
            )
        targets.append(WebhookTarget(**fields))
    return tuple(targets)


_FILTER_KEYS: Final = {"channel_name_starts_with": "starts_with", "channel_name_ends_with": "ends_with"}
"""soketi's names for the two halves of a webhook filter."""


def _parse_channel_filter(name: str, value: object) -> ChannelFilter:
    """``"presence-"`` or ``["presence-", "private-"]`` (channel name prefixes), or soketi's table
    ``{channel_name_starts_with = "...", channel_name_ends_with = "..."}`` (each a string or a list)."""
    if not isinstance(value, dict):
        return ChannelFilter(starts_with=_parse_affixes(name, value))
    unknown = set(value) - set(_FILTER_KEYS)
    if unknown:
        raise ConfigError(f"{name}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_FILTER_KEYS))})")
    parts = {field: _parse_affixes(f"{name}.{key}", value[key]) for key, field in _FILTER_KEYS.items() if key in value}
    return ChannelFilter(**parts)


def _parse_affixes(name: str, value: object) -> tuple[str, ...]:
    affixes = (value,) if isinstance(value, str) else value
    if not isinstance(affixes, list | tuple) or not affixes or not all(isinstance(a, str) and a for a in affixes):
        raise ConfigError(f"{name}={value!r} must be a channel name prefix, or a non-empty list of them")
    return tuple(affixes)


def _parse_headers(name: str, value: object) -> tuple[tuple[str, str], ...]:
    """A table of extra request headers; errors name the header, never quote its value (often a credential)."""
    if not isinstance(value, dict):
        raise ConfigError(f'{name} must be a table of header names and values (headers = {{ X-Api-Key = "..." }})')
    if len(value) > MAX_EXTRA_HEADERS:
        raise ConfigError(f"{name}: at most {MAX_EXTRA_HEADERS} headers")
    seen: set[str] = set()
    for header, text in value.items():
        if not isinstance(text, str):
            raise ConfigError(f"{name}.{header} must be a string")
        problem = header_problem(header, text)
        if problem is not None:
            raise ConfigError(f"{name}: {problem}")
        if header.lower() in seen:
            raise ConfigError(f"{name}: {header!r} is given twice")
        seen.add(header.lower())
    return tuple(value.items())


def _parse_history(name: str, value: object) -> tuple[HistoryRule, ...]:
    """``[[apps.history]]`` tables, each field parsed by ``HistoryRule``'s declared type and bounds."""
    if not isinstance(value, list):
        raise ConfigError(f"{name} must be a list of tables ([[apps.history]])")
    rules = []
    for index, entry in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table with channels, size and ttl_seconds")
        rules.append(_parse_table(HistoryRule, where, entry))
    return tuple(rules)


def _parse_apps(name: str, value: object) -> tuple[AppConfig, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{name} must be a non-empty list of [[apps]] tables")
    return tuple(parse_app(f"{name}[{index}]", table) for index, table in enumerate(value))


_Parser = Callable[[RawValue, dataclasses.Field[Any]], Any]

_PARSERS: Final[Mapping[object, _Parser]] = {
    bool: lambda raw, declared: parse_bool(raw.name, raw.value),
    int: lambda raw, declared: parse_int(raw.name, raw.value, bounds_of(declared)),
    float: lambda raw, declared: _parse_float(raw.name, raw.value, bounds_of(declared)),
    str: lambda raw, declared: _parse_str(raw.name, raw.value, may_be_empty=declared.default == ""),
    tuple[str, ...]: lambda raw, declared: _parse_strings(raw.name, raw.value, bounds_of(declared)),
    tuple[WebhookTarget, ...]: lambda raw, declared: _parse_webhooks(raw.name, raw.value),
    tuple[HistoryRule, ...]: lambda raw, declared: _parse_history(raw.name, raw.value),
    tuple[AppConfig, ...]: lambda raw, declared: _parse_apps(raw.name, raw.value),
}
"""The parser of each field type; the types of ``Settings`` and ``AppConfig`` fields must all be here."""

SINGLE_VALUE_TYPES: Final = frozenset({bool, int, float, str, tuple[str, ...]})
"""Types one environment variable or command-line option can give (a list of strings as ``a,b``); tables come
from a file only."""


# -- fields of a dataclass ---------------------------------------------------------------------------------------


_DECLARED: dict[type[Any], Mapping[str, tuple[dataclasses.Field[Any], object]]] = {}


def declared_fields(cls: type[Any]) -> Mapping[str, tuple[dataclasses.Field[Any], object]]:
    """Each field of a settings dataclass with its type (``X | None`` read as ``X``: a source never gives None).

    Worked out once per class (``typing.get_type_hints`` is slow, and every parsed value asks; apps read from a
    database are parsed again at each refresh)."""
    found = _DECLARED.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        fields = {d.name: (d, _without_none(hints[d.name])) for d in dataclasses.fields(cls)}
        found = _DECLARED[cls] = types.MappingProxyType(fields)
    return found


def _without_none(hint: object) -> object:
    if isinstance(hint, types.UnionType):
        kept = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return hint


def parse_fields(cls: type[Any], raw_values: Mapping[str, RawValue]) -> dict[str, Any]:
    """Parse each raw value as the field of ``cls`` it is keyed by, in the order given (the first error wins)."""
    return {key: parse_field(cls, key, raw) for key, raw in raw_values.items()}


def parse_field(cls: type[Any], key: str, raw: RawValue) -> Any:
    """Parse one raw value as the field ``key`` of ``cls``, by the field's type and bounds, then its ``checked``
    rule if it has one."""
    declared, hint = declared_fields(cls)[key]
    value = _PARSERS[hint](raw, declared)
    check: Callable[[str, Any], None] | None = declared.metadata.get(_CHECK)
    if check is not None:
        check(raw.name, value)
    return value


_CHECK: Final = "pusherpy.check"


def checked(default: Any, check: Callable[[str, Any], None]) -> Any:
    """A field whose parsed value must also pass ``check(name, value)``, which raises a ``ConfigError`` quoting
    ``name`` (how the user spelt the setting) when it does not."""
    return dataclasses.field(default=default, metadata={_CHECK: check})


def parse_app(where: str, table: object) -> AppConfig:
    """Build one app from a ``[[apps]]`` table; ``where`` names it in errors (``apps[0]``)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}={table!r} must be a table ([[apps]])")
    return _parse_table(AppConfig, where, table)


def _parse_table(cls: type[_Table], where: str, table: Mapping[str, object]) -> _Table:
    """Build a settings dataclass from a TOML table: each key parsed as its field, unknown and missing keys named."""
    known = declared_fields(cls)
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
        values[key] = parse_field(cls, key, RawValue(value, f"{where}.{key}"))
    for required in _required_fields(cls):
        if required not in values:
            raise ConfigError(f"{where}: missing {required!r}")
    return cls(**values)


def _required_fields(cls: type[Any]) -> tuple[str, ...]:
    """The fields of ``cls`` without a default, in declaration order."""
    return tuple(
        name
        for name, (declared, _) in declared_fields(cls).items()
        if declared.default is dataclasses.MISSING and declared.default_factory is dataclasses.MISSING
    )
