"""The ``pusherpy`` subcommands besides ``serve``: one module per command group, each registering its parsers.

A module listed in ``COMMAND_MODULES`` defines ``add_to(commands)``, which adds its subparsers to ``commands`` (the
``pusherpy`` parser's subparsers) and gives each ``set_defaults(handler=...)``: a function taking the parsed
arguments and returning the exit status. Modules are imported when the parser is built, so each one imports its
heavy dependencies (a database driver, aiohttp) inside its handlers: ``pusherpy --help`` stays fast and works
without the optional extras.

Exit statuses mean the same for every command: 0 done, 1 the server or store answered with a refusal or failure,
2 the command line or configuration is wrong (what to fix is said on stderr), 3 the server or store could not be
reached.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Final, Protocol

COMMAND_MODULES: Final[tuple[str, ...]] = (
    "pusherpy.commands.ops",
    "pusherpy.commands.ops_listen",
    "pusherpy.commands.ops_webhook",
    "pusherpy.commands.apps",
)
"""Dotted names of the modules, in the order their commands are listed in ``pusherpy --help``."""

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3


class CommandGroup(Protocol):
    def add_to(self, commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add every listed module's subcommands to the ``pusherpy`` parser."""
    for name in COMMAND_MODULES:
        module: CommandGroup = importlib.import_module(name)
        module.add_to(commands)
