"""The database drivers are optional extras: pusherpy imports, serves and reads SQLite without them, and asking for
PostgreSQL or MariaDB without the driver names the extra to install."""

from __future__ import annotations

import subprocess
import sys

WITHOUT_DRIVERS = """
import sys
for name in ("asyncpg", "aiomysql", "pymysql"):
    sys.modules[name] = None  # an import of it now fails, as where the extra is not installed
import pusherpy, pusherpy.cli, pusherpy.server.app
from pusherpy.protocol.errors import ConfigError
from pusherpy.server.settings import load_settings
load_settings(environ={"PUSHERPY_APPS_SOURCE": "sqlite:///apps.db"})
for url in ("postgresql://db/apps", "mysql://db/apps"):
    try:
        load_settings(environ={"PUSHERPY_APPS_SOURCE": url})
    except ConfigError as error:
        print(error)
print(sorted(name for name in ("asyncpg", "aiomysql", "pymysql") if sys.modules.get(name) is not None))
"""


def test_pusherpy_works_without_the_drivers_and_names_the_missing_extra() -> None:
    ran = subprocess.run([sys.executable, "-c", WITHOUT_DRIVERS], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "apps_source is PostgreSQL: install pusherpy[postgresql] (asyncpg)",
        "apps_source is MySQL/MariaDB: install pusherpy[mysql] (aiomysql)",
        "[]",
    ]


def test_importing_pusherpy_loads_no_driver() -> None:
    code = (
        "import sys, pusherpy.cli, pusherpy.server.app; print([m for m in ('asyncpg', 'aiomysql') if m in sys.modules])"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == "[]", ran.stderr
