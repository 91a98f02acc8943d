"""The bounds of a configured number, written on its dataclass field so the field is the one place that says them.

``Settings`` and ``AppConfig`` declare ``max_batch_size: int = bounded(10, minimum=1)``;
``server/settings_values.py`` reads the bounds back when it parses a file, the environment or the command line. A
field without them takes ``Bounds()``: any number that is not negative. Nothing here parses or performs I/O.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field
from typing import Any, Final, TypeVar

_T = TypeVar("_T")
_KEY: Final = "pusherpy.bounds"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounds:
    """What a configured value may be beyond its type."""

    minimum: float = 0
    maximum: float | None = None
    what: str = ""
    """How an error names an acceptable value where the type alone does not say it: ``a port number`` (out of
    range), ``host patterns`` (a list's items)."""


def bounded(default: _T, *, minimum: float = 0, maximum: float | None = None, what: str = "") -> _T:
    """Declare a dataclass field's default together with the bounds a configured value must keep."""
    return within(default, Bounds(minimum=minimum, maximum=maximum, what=what))


def within(default: _T, bounds: Bounds) -> _T:
    """Declare a dataclass field's default with bounds shared by name (``PORT_NUMBER``)."""
    return field(default=default, metadata={_KEY: bounds})


def bounds_of(declared: Field[Any]) -> Bounds:
    """The bounds declared with ``bounded``, or the default ones (not negative)."""
    bounds: Bounds = declared.metadata.get(_KEY, Bounds())
    return bounds
