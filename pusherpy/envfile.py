"""Read a ``.env`` file the way Laravel reads it (phpdotenv), so a Laravel project's file serves pusherpy unchanged.

The server (``pusherpy serve --env-file``) and the publisher (``Pusher.from_env(env_file=...)``) both read through
here, so a value means the same to both. What phpdotenv does, and so what this does:

- ``NAME=value`` lines, an optional ``export`` before the name, blank lines and ``#`` comment lines;
- unquoted values end at the line's end or at a `` #`` comment, trimmed; ``${NAME}`` in them is expanded;
- ``"double quoted"`` values may span lines, take the escapes ``\\n \\r \\t \\" \\\\ \\$`` and expand ``${NAME}``;
- ``'single quoted'`` values may span lines and are taken literally;
- ``${NAME}`` is the process environment's value, else the value given earlier in the file, else empty;
- the process environment wins over the file (Laravel loads ``.env`` immutably), and within the file the last line
  for a name wins.

Nothing else is special: ``$NAME`` without braces is text, as in phpdotenv 5.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from .protocol.errors import ConfigError

_HEAD: Final = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*")
"""The start of an entry up to its value: ``export NAME = ``."""
_EXPANSION: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_ESCAPES: Final = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", '"': '"', "\\": "\\", "$": "$"}


def read_env_file(path: str | Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of the file at ``path``, with the process environment ``environ`` over them.

    Only the file's names are returned (each with the environment's value where the environment sets it), so the
    caller merges them under its environment: ``{**read_env_file(path, environ), **environ}``.

    Raises:
        ConfigError: the file is missing or unreadable, or a line is malformed (the message names file and line).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"env file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"env file {str(path)!r} cannot be read: {error}") from None
    return parse_env(text, environ, source=str(path))


def parse_env(text: str, environ: Mapping[str, str], *, source: str = ".env") -> dict[str, str]:
    """Parse the text of a ``.env`` file; ``source`` names it in errors. See the module for the rules."""
    parser = _Parser(text, source)
    found: dict[str, str] = {}
    while (entry := parser.next_entry()) is not None:
        name, value, expand = entry
        if expand:
            value = _EXPANSION.sub(lambda match: environ.get(match[1], found.get(match[1], "")), value)
        found[name] = value
    return {name: environ.get(name, value) for name, value in found.items()}


class _Parser:
    """Walks the text once; quoted values may span lines, so it is not split into lines first."""

    def __init__(self, text: str, source: str) -> None:
        self._text = text.replace("\r\n", "\n")
        self._at = 0
        self._source = source

    def next_entry(self) -> tuple[str, str, bool] | None:
        """The next ``(name, value, expand)``, skipping blank and comment lines; None at the end."""
        while self._at < len(self._text):
            line_end = self._line_end()
            line = self._text[self._at : line_end].strip()
            if not line or line.startswith("#"):
                self._at = line_end + 1
                continue
            return self._entry()
        return None

    def _entry(self) -> tuple[str, str, bool]:
        line_start = self._at
        head = _HEAD.match(self._text, self._at, self._line_end())
        if head is None:
            found = self._text[self._at : self._line_end()].strip()
            raise self._error(line_start, f"expected NAME=value, found {found[:40]!r}")
        self._at = head.end()
        opening = self._text[self._at : self._at + 1]
        if opening in ("'", '"'):
            value = self._quoted(opening, line_start)
            self._finish_line(line_start)
            return head[1], value, opening == '"'
        return head[1], self._unquoted(), True

    def _unquoted(self) -> str:
        line_end = self._line_end()
        value = self._text[self._at : line_end]
        comment = re.search(r"\s#", value)
        if comment is not None:
            value = value[: comment.start()]
        self._at = line_end + 1
        return value.strip()

    def _quoted(self, quote: str, line_start: int) -> str:
        self._at += 1
        chars: list[str] = []
        while self._at < len(self._text):
            char = self._text[self._at]
            if char == quote:
                self._at += 1
                return "".join(chars)
            if char == "\\" and quote == '"' and self._at + 1 < len(self._text):
                following = self._text[self._at + 1]
                chars.append(_ESCAPES.get(following, "\\" + following))
                self._at += 2
                continue
            chars.append(char)
            self._at += 1
        raise self._error(line_start, f"the value's opening {quote} is never closed")

    def _finish_line(self, line_start: int) -> None:
        """After a closing quote only spaces and a comment may follow on the line."""
        line_end = self._line_end()
        trailing = self._text[self._at : line_end].strip()
        if trailing and not trailing.startswith("#"):
            raise self._error(line_start, f"unexpected {trailing[:20]!r} after the quoted value")
        self._at = line_end + 1

    def _line_end(self) -> int:
        end = self._text.find("\n", self._at)
        return len(self._text) if end < 0 else end

    def _error(self, at: int, message: str) -> ConfigError:
        line_number = self._text.count("\n", 0, at) + 1
        return ConfigError(f"{self._source}:{line_number}: {message}")
