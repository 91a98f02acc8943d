"""What the example needs beyond pusherpy, checked before anything imports it.

pusherpy's own install (``pip install -e .``, or ``'.[speed]'`` as the README's first command) leaves out the
OpenAI SDK and PyJWT: the ``examples`` extra brings them. A missing one is a setup step the user has not taken yet,
not a bug, so ``python -m examples.chat`` says in one line which command installs them instead of showing a
``ModuleNotFoundError`` traceback. Only the standard library is imported here.
"""

from __future__ import annotations

import importlib
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

EXTRA: Final = "examples"
"""The optional-dependencies group in ``pyproject.toml`` that installs everything below."""

ROOT: Final = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Requirement:
    """A package the example imports: ``module`` is what ``import`` names, ``distribution`` what pip installs."""

    module: str
    distribution: str


REQUIRED: Final = (Requirement("openai", "openai"), Requirement("jwt", "pyjwt"))


def missing(required: tuple[Requirement, ...] = REQUIRED) -> list[Requirement]:
    """The requirements that cannot be imported because they are not installed.

    A requirement that is installed but fails for another reason (one of its own dependencies is missing, say)
    raises as usual: that is a broken environment, and the traceback is what helps there.
    """
    absent = []
    for requirement in required:
        try:
            importlib.import_module(requirement.module)
        except ModuleNotFoundError as error:
            if error.name != requirement.module:
                raise
            absent.append(requirement)
    return absent


def install_command(cwd: Path | None = None) -> str:
    """The command that installs the ``examples`` extra into the running interpreter, written for ``cwd``."""
    here = Path.cwd() if cwd is None else cwd
    python = Path(sys.executable)
    return " ".join(
        [
            shlex.quote(_relative(python, here)),
            "-m pip install -e",
            shlex.quote(f"{_relative(ROOT, here)}[{EXTRA}]"),
        ]
    )


def _relative(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` when it is inside it (``.venv/bin/python``, ``.``), else absolute."""
    try:
        inside = path.absolute().relative_to(cwd.absolute())
    except ValueError:
        return str(path)
    return str(inside) if inside.parts else "."


def missing_message() -> str | None:
    """One line naming what is missing and the command that installs it; None when nothing is missing."""
    absent = missing()
    if not absent:
        return None
    names = " and ".join(requirement.distribution for requirement in absent)
    verb = "is" if len(absent) == 1 else "are"
    return f"the chat example needs {names}, which {verb} not installed: run {install_command()}"
