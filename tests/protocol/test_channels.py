"""Channel kinds by exact prefix, and the name rules for channels, events and socket ids."""

from __future__ import annotations

import pytest

from pusherpy.protocol.channels import (
    ChannelKind,
    channel_name_problem,
    classify,
    event_name_problem,
    is_valid_socket_id,
    server_to_user_channel,
    user_id_of_server_to_user_channel,
)


class TestClassify:
    @pytest.mark.parametrize(
        ("name", "kind", "cached"),
        [
            ("news", ChannelKind.PUBLIC, False),
            ("private-chat", ChannelKind.PRIVATE, False),
            ("presence-room", ChannelKind.PRESENCE, False),
            ("private-encrypted-secrets", ChannelKind.ENCRYPTED, False),
            ("cache-prices", ChannelKind.PUBLIC, True),
            ("private-cache-prices", ChannelKind.PRIVATE, True),
            ("private-encrypted-cache-prices", ChannelKind.ENCRYPTED, True),
            ("presence-cache-room", ChannelKind.PRESENCE, True),
            ("#server-to-user-42", ChannelKind.SERVER_TO_USER, False),
        ],
    )
    def test_prefix_gives_kind_and_cache(self, name: str, kind: ChannelKind, cached: bool) -> None:
        channel_type = classify(name)
        assert (channel_type.kind, channel_type.cached) == (kind, cached)

    @pytest.mark.parametrize(
        "name",
        [
            "private",
            "privatechat",
            "presence",
            "presenceroom",
            "private_x",
            "cache",
            "cachex",
            "my-private-x",
            "x-cache-y",
        ],
    )
    def test_prefix_without_its_dash_or_not_at_the_start_is_public(self, name: str) -> None:
        channel_type = classify(name)
        assert (channel_type.kind, channel_type.cached) == (ChannelKind.PUBLIC, False)

    def test_private_encrypted_without_dash_is_plain_private(self) -> None:
        assert classify("private-encryptedx").kind is ChannelKind.PRIVATE

    @pytest.mark.parametrize(
        ("name", "needs_auth"),
        [
            ("news", False),
            ("cache-x", False),
            ("private-x", True),
            ("presence-x", True),
            ("private-encrypted-x", True),
            ("#server-to-user-1", False),
        ],
    )
    def test_needs_auth_for_private_presence_and_encrypted(self, name: str, needs_auth: bool) -> None:
        assert classify(name).needs_auth is needs_auth

    @pytest.mark.parametrize(
        ("name", "accepts"),
        [
            ("news", False),
            ("cache-x", False),
            ("private-x", True),
            ("private-cache-x", True),
            ("presence-x", True),
            ("private-encrypted-x", False),
            ("#server-to-user-1", False),
        ],
    )
    def test_client_events_only_on_private_and_presence(self, name: str, accepts: bool) -> None:
        assert classify(name).accepts_client_events is accepts


class TestChannelNames:
    @pytest.mark.parametrize(
        "name", ["a", "news", "private-A_b-c=d@e,f.g;h", "presence-room-1", "#server-to-user-42", "x" * 200]
    )
    def test_valid(self, name: str) -> None:
        assert channel_name_problem(name) is None

    def test_longer_than_200_characters_is_invalid(self) -> None:
        assert "200" in (channel_name_problem("x" * 201) or "")

    @pytest.mark.parametrize("name", ["with space", "slash/x", "star*", "ümlaut", "hash#x", "#other", "new\nline"])
    def test_characters_outside_the_charset_are_invalid(self, name: str) -> None:
        assert channel_name_problem(name) is not None

    @pytest.mark.parametrize("name", ["", None, 5, ["news"]])
    def test_empty_or_not_a_string_is_invalid(self, name: object) -> None:
        assert channel_name_problem(name) is not None

    def test_server_to_user_channel_needs_a_user_id(self) -> None:
        assert channel_name_problem("#server-to-user-") is not None

    def test_server_to_user_channel_round_trips_the_user_id(self) -> None:
        assert server_to_user_channel("42") == "#server-to-user-42"
        assert user_id_of_server_to_user_channel("#server-to-user-42") == "42"


class TestEventNames:
    @pytest.mark.parametrize("name", ["update", "client-typing", "App\\Events\\Message", "e" * 200])
    def test_valid(self, name: str) -> None:
        assert event_name_problem(name) is None

    @pytest.mark.parametrize("name", ["", None, 3, "e" * 201])
    def test_empty_non_string_or_longer_than_200_is_invalid(self, name: object) -> None:
        assert event_name_problem(name) is not None


class TestSocketIds:
    @pytest.mark.parametrize("socket_id", ["1.1", "123.456", "1234567890.0987654321"])
    def test_two_integers_joined_by_a_dot_are_valid(self, socket_id: str) -> None:
        assert is_valid_socket_id(socket_id)

    @pytest.mark.parametrize("socket_id", ["", "1", "1.", ".1", "1.2.3", "a.1", "-1.1", " 1.1", "1.1\n", 1.1, None])
    def test_anything_else_is_invalid(self, socket_id: object) -> None:
        assert not is_valid_socket_id(socket_id)
