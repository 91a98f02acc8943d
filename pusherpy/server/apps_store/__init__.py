"""Apps kept in a database (``apps_source``): the table, its drivers, and the operations of ``pusherpy apps``.

``schema.py`` holds the table and turns a row into an ``AppConfig`` with the parser of a TOML ``[[apps]]`` table;
``store.py`` holds every SQL statement (one ``AppStore`` for all databases); ``drivers.py`` speaks to PostgreSQL
(asyncpg), MariaDB/MySQL (aiomysql) and SQLite (the standard library's ``sqlite3`` in a thread). The drivers are
optional extras, imported only when a store of their kind is opened, so ``import pusherpy`` never needs them.
The server reads the table through ``server/apps_refresh.py``; nothing here knows about sockets.
"""

from __future__ import annotations

from .schema import StoredApp, app_from_row, new_credentials
from .store import AppsSourceError, AppStore, open_store, read_apps

__all__ = ["AppStore", "AppsSourceError", "StoredApp", "app_from_row", "new_credentials", "open_store", "read_apps"]
