"""The default history: a SQLite file (WAL mode), nothing to install."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from mcpfleet.monitor.sqlstore import SqlHistory

LOCK_SECONDS = 10.0  # how long a connection waits for another's lock


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL mode. The switch takes no turns: while another connection
    (a second monitor starting) holds the file, it fails at once with "database is locked"
    instead of waiting, so it is tried again, for as long as any lock is waited for. Runs on
    the history's worker thread, never on the event loop."""
    deadline = time.monotonic() + LOCK_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SQLiteDialect:
    name = "sqlite"
    id_column = "INTEGER PRIMARY KEY"
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=LOCK_SECONDS)
        _use_wal(db)
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
