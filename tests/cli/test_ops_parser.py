"""The ops commands' parsers: every command documents itself, and listing them loads no aiohttp or publisher."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.run import pusherpy

COMMANDS = [["trigger"], ["channels"], ["channel"], ["users"], ["terminate"], ["listen"], ["webhook", "verify"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
async def test_each_command_has_help_with_examples_and_the_credential_sources(command: list[str]) -> None:
    shown = await pusherpy(*command, "--help")
    assert shown.status == 0, shown.stderr
    assert "examples:" in shown.stdout and "--url" in shown.stdout and "--json" in shown.stdout
    assert "PUSHERPY_URL" in shown.stdout


def test_building_the_command_line_imports_neither_aiohttp_nor_the_publisher() -> None:
    code = (
        "import sys; from pusherpy.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp' or m.startswith('pusherpy.publisher')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert loaded.stdout.strip() == "[]"


async def test_a_missing_argument_is_a_usage_error_with_the_commands_usage() -> None:
    missing = await pusherpy("trigger", "--url", "http://k:s@127.0.0.1:1/apps/1", "orders")
    assert missing.status == 2
    assert "usage: pusherpy trigger" in missing.stderr and "EVENT" in missing.stderr
