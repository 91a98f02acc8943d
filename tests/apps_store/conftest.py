"""The machine's real databases, each test on a throw-away database of its own (dropped after it).

PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) and MariaDB at 127.0.0.1:3306 (root, no password) must be
running, as they are in CI (the URLs can be moved with ``PUSHERPY_TEST_POSTGRESQL`` / ``PUSHERPY_TEST_MYSQL``); a
database that cannot be reached fails the test, it is not skipped. SQLite is a file in the test's tmp_path.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

POSTGRESQL = os.environ.get("PUSHERPY_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432")
MYSQL = os.environ.get("PUSHERPY_TEST_MYSQL", "mysql://root@127.0.0.1:3306")


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database (no table yet) on one of the three kinds."""
    if request.param == "sqlite":
        path = tmp_path / "apps.db"
        sqlite3.connect(path).close()  # an empty database, as the others are
        yield f"sqlite:///{path}"  # tmp_path is absolute: sqlite:////tmp/...
        return
    database = _postgresql_database if request.param == "postgresql" else _mysql_database
    async with database(f"pusherpy_test_{secrets.token_hex(6)}") as url:
        yield url


@asynccontextmanager
async def _postgresql_database(name: str) -> AsyncIterator[str]:
    import asyncpg

    admin = await asyncpg.connect(f"{POSTGRESQL}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRESQL}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def _mysql_database(name: str) -> AsyncIterator[str]:
    import aiomysql

    from pusherpy.server.apps_store.drivers import MysqlDriver

    options = MysqlDriver(f"{MYSQL}/")._options  # the URL read as the driver reads it
    options.pop("db")
    admin = await aiomysql.connect(**options, autocommit=True)
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE `{name}`")
        try:
            yield f"{MYSQL}/{name}"
        finally:
            async with admin.cursor() as cursor:
                await cursor.execute(f"DROP DATABASE `{name}`")
    finally:
        admin.close()
