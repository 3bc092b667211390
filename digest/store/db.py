"""Open the SQLite file: pragmas, migrations, transactions, and sqlite3 errors -> StorageError.

The only module (with its siblings in store/) that speaks SQL; a server database
can stand behind the same Store methods later.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StorageError
from .schema import MIGRATIONS, VERSION

BUSY_TIMEOUT_MS = 10_000  # a second process (serve + once) waits this long for the write lock
FULL_BELOW_BYTES = 256 * 1024  # SQLite says "disk I/O error" when it cannot create its -wal/-shm files


def connect(path: Path) -> sqlite3.Connection:
    """A connection with WAL, foreign keys and a busy timeout, migrated to VERSION."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db)
    except sqlite3.DatabaseError as e:
        raise StorageError(f"cannot open database {path}: {e}{_if_disk_full(path)}") from e
    except OSError as e:
        raise StorageError(f"cannot create database folder for {path}: {e.strerror or e}") from e
    return db


def _if_disk_full(path: Path) -> str:
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ""
    return f" (disk full: {free // 1024} KiB free)" if free < FULL_BELOW_BYTES else ""


def migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise StorageError(f"database schema {version} is newer than this digest ({VERSION}); upgrade digest")
    if version == VERSION:
        return
    with transaction(db):
        while version < VERSION:
            MIGRATIONS[version](db)
            version += 1
        db.execute(f"PRAGMA user_version = {VERSION}")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error; SQLite errors become StorageError."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as e:
        raise StorageError(f"database is busy or unreadable: {e}") from e
    try:
        yield db
    except sqlite3.Error as e:
        db.execute("ROLLBACK")
        raise StorageError(f"database error: {e}") from e
    except BaseException:
        db.execute("ROLLBACK")
        raise
    else:
        try:
            db.execute("COMMIT")
        except sqlite3.Error as e:
            raise StorageError(f"cannot commit to the database: {e}") from e
