"""The files in ``deploy/`` say what ``deploy/README.md`` promises, and their commands are ones pusherpy accepts.

systemd and Supervisor are not run here; the unit's notify protocol is proven against a real socket in
``tests/server/test_service.py``.
"""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from pusherpy.cli import build_parser

DEPLOY = Path(__file__).parent.parent / "deploy"


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as systemd reads it: sections of keys, each key with every value it was given, in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside any section: {line!r}"
        key, equals, value = line.partition("=")
        assert equals, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def accepted_by_pusherpy(command: str) -> None:
    """``command`` runs ``pusherpy serve`` with options its parser takes (no unknown option, no parse error)."""
    executable, *args = shlex.split(command)
    assert executable.endswith("/pusherpy"), command
    parsed, unknown = build_parser().parse_known_args(args)
    assert parsed.command == "serve" and not unknown, command


def test_the_systemd_unit_is_a_supervised_hardened_notify_service() -> None:
    unit = unit_sections((DEPLOY / "pusherpy.service").read_text())
    service = {key: values[-1] for key, values in unit["Service"].items()}  # the last assignment wins
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["User"] == service["Group"] == "pusherpy"
    assert service["LimitNOFILE"] == "1048576"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert int(service["WatchdogSec"]) > 0
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert "AF_UNIX" in service["RestrictAddressFamilies"].split()  # $NOTIFY_SOCKET is a Unix socket
    accepted_by_pusherpy(service["ExecStart"])
    assert "--config" in service["ExecStart"] or "--env-file" in service["ExecStart"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_supervisor_program_restarts_pusherpy_and_stops_it_with_sigterm() -> None:
    config = configparser.ConfigParser(inline_comment_prefixes=None)
    config.read_string((DEPLOY / "supervisor.conf").read_text())
    program = config["program:pusherpy"]
    accepted_by_pusherpy(program["command"])
    assert program["autorestart"] == "true" and program["stopsignal"] == "TERM"
    assert int(program["stopwaitsecs"]) > 5  # more than pusherpy's default shutdown_timeout
