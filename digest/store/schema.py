"""Tables and numbered migrations, applied in one transaction when the store opens.

PRAGMA user_version holds the schema version; each step is `migrate_N_to_M`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

VERSION = 4


def _run(db: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the surrounding migration transaction, so run statements one by one.
    for statement in script.split(";\n"):
        if statement.strip():
            db.execute(statement)


def migrate_0_to_1(db: sqlite3.Connection) -> None:
    _run(
        db,
        """
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,          -- feed URL, or seed path relative to the seeds folder
            kind TEXT NOT NULL,                -- 'feed' | 'seed'
            name TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            last_status TEXT,
            last_error TEXT,
            last_attempt_at TEXT,
            last_success_at TEXT
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            guid TEXT NOT NULL,
            source_name TEXT NOT NULL,
            url TEXT,
            title TEXT NOT NULL,
            published TEXT,
            text TEXT NOT NULL,
            html TEXT NOT NULL DEFAULT '',
            weight REAL NOT NULL DEFAULT 1.0,
            content_hash TEXT NOT NULL,        -- 'v1:' + sha1 of title and text
            first_seen_at TEXT NOT NULL,
            used_by_date TEXT,                 -- the issue that consumed it; NULL while unused
            UNIQUE (source_id, guid)
        );
        CREATE INDEX items_unused ON items (used_by_date);
        CREATE TABLE issues (
            issue_date TEXT PRIMARY KEY,
            number INTEGER NOT NULL UNIQUE,
            json TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE sent_insights (
            issue_date TEXT NOT NULL REFERENCES issues(issue_date) ON DELETE CASCADE,
            rank INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (issue_date, rank)
        );
        CREATE TABLE deliveries (
            issue_date TEXT NOT NULL REFERENCES issues(issue_date),
            recipient TEXT NOT NULL,
            status TEXT NOT NULL,              -- 'sending' | 'sent' | 'written' | 'failed' (retried) | 'rejected'
            message_id TEXT,
            detail TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (issue_date, recipient)
        );
        """,
    )


def migrate_1_to_2(db: sqlite3.Connection) -> None:
    # Feeds added with `digest sources add|import` live here, beside those in the config.
    _run(
        db,
        """
        ALTER TABLE sources ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sources ADD COLUMN weight REAL NOT NULL DEFAULT 1.0
        """,
    )


def migrate_2_to_3(db: sqlite3.Connection) -> None:
    # Politeness: the last body parsed, consecutive failures, when to try again, and 410 Gone.
    _run(
        db,
        """
        ALTER TABLE sources ADD COLUMN body_hash TEXT;
        ALTER TABLE sources ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sources ADD COLUMN next_attempt_at TEXT;
        ALTER TABLE sources ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0
        """,
    )


def migrate_3_to_4(db: sqlite3.Connection) -> None:
    # `digest sources add --full-text`: read each new item's article page (sources/fulltext.py).
    _run(db, "ALTER TABLE sources ADD COLUMN full_text INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: migrate_0_to_1,
    1: migrate_1_to_2,
    2: migrate_2_to_3,
    3: migrate_3_to_4,
}
