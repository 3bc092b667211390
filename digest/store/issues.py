"""Queries about issues (one per date) and the insights each one sent."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, timedelta


class IssuesMixin:
    db: sqlite3.Connection

    def get_issue_number(self, issue_date: date) -> int | None:
        row = self.db.execute("SELECT number FROM issues WHERE issue_date = ?", (issue_date.isoformat(),)).fetchone()
        return int(row[0]) if row else None

    def next_issue_number(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM issues").fetchone()[0])

    def save_issue(
        self,
        issue_date: date,
        number: int,
        issue_json: str,
        picks: Sequence[tuple[int, str, str]],
        now: datetime,
    ) -> None:
        """Insert or replace the date's issue and the (rank, fingerprint, text) it sent."""
        day = issue_date.isoformat()
        self.db.execute(
            """
            INSERT INTO issues (issue_date, number, json, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (issue_date) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at
            """,
            (day, number, issue_json, now.isoformat(), now.isoformat()),
        )
        self.db.execute("DELETE FROM sent_insights WHERE issue_date = ?", (day,))
        self.db.executemany(
            "INSERT INTO sent_insights (issue_date, rank, fingerprint, text) VALUES (?, ?, ?, ?)",
            [(day, rank, fp, text) for rank, fp, text in picks],
        )

    def get_issue_json(self, issue_date: date) -> str | None:
        row = self.db.execute("SELECT json FROM issues WHERE issue_date = ?", (issue_date.isoformat(),)).fetchone()
        return str(row[0]) if row else None

    def get_latest_issue_date(self) -> date | None:
        row = self.db.execute("SELECT max(issue_date) FROM issues").fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def iter_issue_json(self) -> list[str]:
        """Every issue's JSON, oldest date first."""
        return [r[0] for r in self.db.execute("SELECT json FROM issues ORDER BY issue_date")]

    def get_sent_texts(self, issue_date: date, window_days: int) -> list[str]:
        """Texts sent by the issues of the `window_days` days before `issue_date`."""
        since = (issue_date - timedelta(days=window_days)).isoformat()
        rows = self.db.execute(
            "SELECT text FROM sent_insights WHERE issue_date < ? AND issue_date >= ? ORDER BY issue_date, rank",
            (issue_date.isoformat(), since),
        )
        return [r[0] for r in rows]
