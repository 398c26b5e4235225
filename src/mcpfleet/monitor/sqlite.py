"""The default history: a SQLite file (WAL mode), nothing to install."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from mcpfleet.monitor.sqlstore import SqlHistory


class SQLiteDialect:
    name = "sqlite"
    id_column = "INTEGER PRIMARY KEY"
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def sql(self, text: str) -> str:
        return text

    def lock_migrations(self, db: Any) -> None:
        db.execute("BEGIN IMMEDIATE")  # the write lock: a second monitor waits here


class SQLiteStore(SqlHistory):
    """``HistoryStore`` in a SQLite file."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(SQLiteDialect(path))
