"""The protocol core is sans-I/O: importing it must not pull in an event loop or a web framework."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import importlib, json, pkgutil, sys
import pusherpy.protocol as core
for module in pkgutil.iter_modules(core.__path__):
    importlib.import_module(f"pusherpy.protocol.{module.name}")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in {"asyncio", "aiohttp", "pusherpy"})
print(json.dumps(loaded))
"""


def test_importing_every_protocol_module_loads_no_asyncio_aiohttp_or_server_code() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(result.stdout)
    assert "pusherpy.protocol.connection" in loaded
    assert [name for name in loaded if name.split(".")[0] in {"asyncio", "aiohttp"}] == []
    assert [name for name in loaded if name.startswith(("pusherpy.server", "pusherpy.publisher"))] == []
