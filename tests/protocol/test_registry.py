"""The registry decides who is where: first subscriber, a user's first and last socket, signed-in users."""

from __future__ import annotations

from pusherpy.protocol.actions import Member
from pusherpy.protocol.registry import JoinOutcome, LeaveOutcome, Registry

ANN = Member("ann", {"name": "Ann"})
BOB = Member("bob", {"name": "Bob"})


class TestChannels:
    def test_first_subscriber_occupies_the_channel(self) -> None:
        registry: Registry[str] = Registry()
        assert registry.join("news", "s1", None) == JoinOutcome(occupied=True, member_added=False)
        assert registry.join("news", "s2", None) == JoinOutcome(occupied=False, member_added=False)
        assert set(registry.subscribers("news")) == {"s1", "s2"}

    def test_joining_twice_is_idempotent(self) -> None:
        registry: Registry[str] = Registry()
        registry.join("news", "s1", None)
        assert registry.join("news", "s1", None) == JoinOutcome(occupied=False, member_added=False)
        assert registry.channels["news"].subscription_count == 1

    def test_last_subscriber_leaving_vacates_the_channel(self) -> None:
        registry: Registry[str] = Registry()
        registry.join("news", "s1", None)
        registry.join("news", "s2", None)
        assert registry.leave("news", "s1") == LeaveOutcome(left=True, vacated=False, removed_user_id=None)
        assert registry.leave("news", "s2") == LeaveOutcome(left=True, vacated=True, removed_user_id=None)
        assert "news" not in registry.channels
        assert list(registry.subscribers("news")) == []

    def test_leaving_a_channel_one_is_not_in_changes_nothing(self) -> None:
        registry: Registry[str] = Registry()
        registry.join("news", "s1", None)
        assert registry.leave("news", "s2") == LeaveOutcome(left=False, vacated=False, removed_user_id=None)
        assert registry.leave("other", "s1") == LeaveOutcome(left=False, vacated=False, removed_user_id=None)
        assert set(registry.subscribers("news")) == {"s1"}


class TestPresence:
    def test_two_tabs_of_one_user_are_one_member(self) -> None:
        registry: Registry[str] = Registry()
        assert registry.join("presence-room", "tab1", ANN) == JoinOutcome(occupied=True, member_added=True)
        assert registry.join("presence-room", "tab2", ANN) == JoinOutcome(occupied=False, member_added=False)
        assert registry.members("presence-room") == {"ann": {"name": "Ann"}}
        assert registry.channels["presence-room"].user_count == 1
        assert registry.channels["presence-room"].subscription_count == 2

    def test_member_is_removed_only_when_its_last_socket_leaves(self) -> None:
        registry: Registry[str] = Registry()
        registry.join("presence-room", "tab1", ANN)
        registry.join("presence-room", "tab2", ANN)
        registry.join("presence-room", "bob", BOB)
        assert registry.leave("presence-room", "tab1") == LeaveOutcome(left=True, vacated=False, removed_user_id=None)
        assert registry.leave("presence-room", "tab2") == LeaveOutcome(left=True, vacated=False, removed_user_id="ann")
        assert registry.members("presence-room") == {"bob": {"name": "Bob"}}
        assert registry.leave("presence-room", "bob") == LeaveOutcome(left=True, vacated=True, removed_user_id="bob")

    def test_member_limit_counts_users_not_sockets(self) -> None:
        registry: Registry[str] = Registry()
        registry.join("presence-room", "tab1", ANN)
        assert registry.would_exceed_members("presence-room", ANN, limit=1) is False
        assert registry.would_exceed_members("presence-room", BOB, limit=1) is True
        assert registry.would_exceed_members("presence-room", BOB, limit=2) is False

    def test_member_limit_of_zero_means_unlimited(self) -> None:
        registry: Registry[str] = Registry()
        registry.join("presence-room", "tab1", ANN)
        assert registry.would_exceed_members("presence-room", BOB, limit=0) is False

    def test_empty_channel_has_no_members(self) -> None:
        assert Registry[str]().members("presence-room") == {}


class TestSignedInUsers:
    def test_first_socket_brings_a_user_online_and_the_last_takes_it_offline(self) -> None:
        registry: Registry[str] = Registry()
        assert registry.sign_in("ann", "tab1") is True
        assert registry.sign_in("ann", "tab2") is False
        assert registry.user_sockets("ann") == {"tab1", "tab2"}
        assert registry.sign_out("ann", "tab1") is False
        assert registry.sign_out("ann", "tab2") is True
        assert registry.user_sockets("ann") == set()

    def test_signing_out_a_socket_that_never_signed_in_changes_nothing(self) -> None:
        registry: Registry[str] = Registry()
        registry.sign_in("ann", "tab1")
        assert registry.sign_out("ann", "other") is False
        assert registry.sign_out("bob", "tab1") is False
        assert registry.user_sockets("ann") == {"tab1"}
