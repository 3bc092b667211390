"""Queries about sources: their fetch validators and health."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..models import SourceResult, SourceStatus


class SourcesMixin:
    db: sqlite3.Connection

    def update_source(self, result: SourceResult, kind: str, now: datetime) -> int:
        """Record one run's outcome for a source; returns its id."""
        ok = result.status is not SourceStatus.FAILED
        row = self.db.execute(
            """
            INSERT INTO sources (url, kind, name, etag, last_modified, last_status, last_error,
                                 last_attempt_at, last_success_at)
            VALUES (:url, :kind, :name, :etag, :lm, :status, :error, :now, :success)
            ON CONFLICT (url) DO UPDATE SET
                name = excluded.name,
                etag = CASE WHEN :ok THEN excluded.etag ELSE sources.etag END,
                last_modified = CASE WHEN :ok THEN excluded.last_modified ELSE sources.last_modified END,
                last_status = excluded.last_status,
                last_error = excluded.last_error,
                last_attempt_at = excluded.last_attempt_at,
                last_success_at = COALESCE(excluded.last_success_at, sources.last_success_at)
            RETURNING id
            """,
            {
                "url": result.url,
                "kind": kind,
                "name": result.name,
                "etag": result.etag,
                "lm": result.last_modified,
                "status": result.status.value,
                "error": result.error,
                "now": now.isoformat(),
                "success": now.isoformat() if ok else None,
                "ok": ok,
            },
        ).fetchone()
        return int(row[0])

    def get_validators(self) -> dict[str, tuple[str | None, str | None]]:
        """ETag and Last-Modified per feed URL, for conditional GET."""
        rows = self.db.execute("SELECT url, etag, last_modified FROM sources WHERE kind = 'feed'")
        return {r["url"]: (r["etag"], r["last_modified"]) for r in rows}
