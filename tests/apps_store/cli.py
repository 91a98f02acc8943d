"""Run ``pusherpy apps ...`` as a user does: a real process, its exit status and its output."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from pusherpy.protocol.apps import AppConfig


@dataclass(frozen=True)
class Ran:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def pusherpy(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> Ran:
    """``python -m pusherpy ARGS``, with PUSHERPY_* of this process left out unless given."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHERPY_", "PUSHER_", "REVERB_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pusherpy",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**environ, **(env or {})},
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def new_app(store_url: str, name: str = "shop") -> AppConfig:
    """``pusherpy apps new --store URL --json``: the app it made."""
    ran = await pusherpy("apps", "new", "--name", name, "--store", store_url, "--json")
    assert ran.status == 0, ran
    made = ran.json()
    return AppConfig(id=made["id"], key=made["key"], secret=made["secret"], name=made["name"])


async def ok(*args: str) -> Ran:
    ran = await pusherpy(*args)
    assert ran.status == 0, ran
    return ran
