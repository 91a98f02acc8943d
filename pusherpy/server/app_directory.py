"""``AppDirectory``: the apps this server serves, found by key or id with a dict lookup, and replaceable whole.

With apps in a config file the directory is filled once; with ``apps_source`` the refresher (``apps_refresh.py``)
hands it each new reading and acts on what ``replace`` says changed. Readers never query anything: they read the
dicts of the moment, which are swapped (not mutated), so a lookup sees either the old apps or the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..protocol.apps import AppConfig


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """An app whose sockets must be closed: disabled, or gone from the source."""

    app: AppConfig
    reason: str


@dataclass(frozen=True, slots=True)
class AppChanges:
    """What one ``replace`` changed."""

    added: tuple[AppConfig, ...] = ()
    changed: tuple[AppConfig, ...] = ()
    """Apps still served whose settings differ (a rotated secret, new limits): their sockets take the new ones."""
    withdrawn: tuple[Withdrawn, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.withdrawn)


class AppDirectory:
    """The served apps by key and by id (each lookup one dict lookup)."""

    __slots__ = ("by_key", "by_id", "apps")

    def __init__(self, apps: Iterable[AppConfig] = ()) -> None:
        self.apps: tuple[AppConfig, ...] = tuple(apps)
        self.by_key: dict[str, AppConfig] = {app.key: app for app in self.apps}
        self.by_id: dict[str, AppConfig] = {app.id: app for app in self.apps}

    def __repr__(self) -> str:
        return f"AppDirectory(ids={sorted(self.by_id)})"

    def replace(self, apps: Iterable[AppConfig]) -> AppChanges:
        """Serve ``apps`` from now on; say which apps changed and which must close their sockets."""
        new = AppDirectory(apps)
        changed: list[AppConfig] = []
        withdrawn: list[Withdrawn] = []
        for old in self.apps:
            now = new.by_id.get(old.id)
            if now is None:
                withdrawn.append(Withdrawn(old, "app no longer exists"))
            elif old.enabled and not now.enabled:
                withdrawn.append(Withdrawn(now, "this app is disabled"))
            elif now != old:
                changed.append(now)
        added = tuple(app for app in new.apps if app.id not in self.by_id)
        self.apps, self.by_key, self.by_id = new.apps, new.by_key, new.by_id
        return AppChanges(added, tuple(changed), tuple(withdrawn))
