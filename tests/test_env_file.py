"""A ``.env`` file is read as Laravel (phpdotenv) reads it, by the server and the publisher alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from pusherpy.envfile import parse_env, read_env_file
from pusherpy.protocol.errors import ConfigError


class TestValues:
    def test_unquoted_values_are_trimmed_and_end_at_a_spaced_comment(self) -> None:
        env = parse_env("A=one\nB = two   # the second\nC=th#ree\n", {})
        assert env == {"A": "one", "B": "two", "C": "th#ree"}

    def test_blank_lines_comment_lines_and_export_are_skipped(self) -> None:
        env = parse_env("# a comment\n\n   # indented comment\nexport A=1\n  B=2\n", {})
        assert env == {"A": "1", "B": "2"}

    def test_empty_value_is_an_empty_string(self) -> None:
        assert parse_env("A=\nB=''\nC=\"\"\n", {}) == {"A": "", "B": "", "C": ""}

    def test_double_quotes_keep_spaces_and_hashes_and_take_escapes(self) -> None:
        env = parse_env('A="two words # not a comment"\nB="a\\nb\\t\\"q\\" \\\\ \\$"\n', {})
        assert env == {"A": "two words # not a comment", "B": 'a\nb\t"q" \\ $'}

    def test_single_quotes_are_literal(self) -> None:
        assert parse_env("A='${B} \\n'\n", {"B": "x"}) == {"A": "${B} \\n"}

    def test_quoted_values_may_span_lines(self) -> None:
        env = parse_env('KEY="-----BEGIN-----\nabc\n-----END-----"\nNEXT=1\n', {})
        assert env == {"KEY": "-----BEGIN-----\nabc\n-----END-----", "NEXT": "1"}

    def test_windows_line_ends(self) -> None:
        assert parse_env('A=1\r\nB="2"\r\n', {}) == {"A": "1", "B": "2"}

    def test_the_last_line_for_a_name_wins(self) -> None:
        assert parse_env("A=1\nA=2\n", {}) == {"A": "2"}


class TestExpansion:
    def test_braced_names_expand_from_earlier_lines(self) -> None:
        env = parse_env('REVERB_APP_KEY=abc\nVITE_REVERB_APP_KEY="${REVERB_APP_KEY}"\nU=${REVERB_APP_KEY}-x\n', {})
        assert env["VITE_REVERB_APP_KEY"] == "abc"
        assert env["U"] == "abc-x"

    def test_the_process_environment_is_used_first(self) -> None:
        assert parse_env("A=file\nB=${A}\n", {"A": "process"})["B"] == "process"

    def test_an_unknown_or_later_name_expands_to_nothing(self) -> None:
        assert parse_env("A=${LATER}.${NOWHERE}\nLATER=1\n", {})["A"] == "."

    def test_a_bare_dollar_name_is_text(self) -> None:
        assert parse_env("A=1\nB=$A\n", {})["B"] == "$A"


class TestPrecedence:
    def test_the_process_environment_wins_over_the_file(self, tmp_path: Path) -> None:
        path = tmp_path / ".env"
        path.write_text("REVERB_SERVER_PORT=8080\nREVERB_APP_ID=1\n")
        env = read_env_file(path, {"REVERB_SERVER_PORT": "9000"})
        assert env == {"REVERB_SERVER_PORT": "9000", "REVERB_APP_ID": "1"}


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("A=1\nnot a line\n", r"\.env:2: expected NAME=value, found 'not a line'"),
            ('A=1\nB="open\nC=2\n', r"\.env:2: the value's opening \" is never closed"),
            ("A='x' y\n", r"\.env:1: unexpected 'y' after the quoted value"),
            ("1A=x\n", r"\.env:1: expected NAME=value"),
        ],
    )
    def test_a_malformed_line_is_named_with_its_number(self, text: str, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            parse_env(text, {})

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="nope.env' does not exist"):
            read_env_file(tmp_path / "nope.env", {})

    def test_an_undecodable_file_is_named(self, tmp_path: Path) -> None:
        path = tmp_path / "binary.env"
        path.write_bytes(b"A=\xff\xfe\n")
        with pytest.raises(ConfigError, match="binary.env' cannot be read"):
            read_env_file(path, {})
