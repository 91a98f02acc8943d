"""``AppDirectory.replace``: what a new reading of the apps changes (no sockets, no database)."""

from __future__ import annotations

from pusherpy.server.app_directory import AppDirectory, Withdrawn
from tests.helpers import make_app

ONE = make_app(id="1", key="one", secret="s1")
TWO = make_app(id="2", key="two", secret="s2")


def test_the_same_apps_change_nothing() -> None:
    directory = AppDirectory([ONE, TWO])
    assert not directory.replace([make_app(id="1", key="one", secret="s1"), TWO])


def test_a_new_app_is_added_and_found_by_key_and_id() -> None:
    directory = AppDirectory([ONE])
    changes = directory.replace([ONE, TWO])
    assert changes.added == (TWO,) and not changes.changed and not changes.withdrawn
    assert directory.by_key["two"] is TWO and directory.by_id["2"] is TWO


def test_a_rotated_secret_or_a_new_key_is_a_change() -> None:
    directory = AppDirectory([ONE, TWO])
    rotated, rekeyed = make_app(id="1", key="one", secret="new"), make_app(id="2", key="deux", secret="s2")
    changes = directory.replace([rotated, rekeyed])
    assert changes.changed == (rotated, rekeyed) and not changes.withdrawn
    assert "two" not in directory.by_key and directory.by_key["deux"] is rekeyed


def test_disabled_and_deleted_apps_are_withdrawn_and_a_disabled_one_stays_known() -> None:
    directory = AppDirectory([ONE, TWO])
    disabled = make_app(id="1", key="one", secret="s1", enabled=False)
    changes = directory.replace([disabled])
    assert changes.withdrawn == (Withdrawn(disabled, "this app is disabled"), Withdrawn(TWO, "app no longer exists"))
    assert directory.by_key["one"] is disabled and "two" not in directory.by_key
    assert not directory.replace([disabled]), "withdrawn once"


def test_lookups_made_before_a_replace_keep_their_dicts() -> None:
    directory = AppDirectory([ONE])
    before = directory.by_key
    directory.replace([TWO])
    assert before == {"one": ONE} and directory.by_key == {"two": TWO}
