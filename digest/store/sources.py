"""Queries about sources: their fetch validators and health."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..models import FeedSpec, SourceResult, SourceStatus


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

    def add_subscription(self, spec: FeedSpec) -> bool:
        """Subscribe to a feed; False when it is already subscribed."""
        row = self.db.execute("SELECT subscribed FROM sources WHERE url = ?", (spec.url,)).fetchone()
        if row and row["subscribed"]:
            return False
        self.db.execute(
            """
            INSERT INTO sources (url, kind, name, subscribed, weight) VALUES (?, 'feed', ?, 1, ?)
            ON CONFLICT (url) DO UPDATE SET subscribed = 1, name = excluded.name, weight = excluded.weight
            """,
            (spec.url, spec.name or "", spec.weight),  # "" = use the feed's own title
        )
        return True

    def remove_subscription(self, url: str) -> bool:
        """Stop fetching a feed added with `sources add`; its items and history stay."""
        return (
            self.db.execute("UPDATE sources SET subscribed = 0 WHERE url = ? AND subscribed = 1", (url,)).rowcount > 0
        )

    def get_subscriptions(self) -> list[FeedSpec]:
        rows = self.db.execute("SELECT url, name, weight FROM sources WHERE subscribed = 1 ORDER BY url")
        return [FeedSpec(url=r["url"], name=r["name"] or None, weight=r["weight"]) for r in rows]

    def iter_source_health(self) -> list[dict[str, object]]:
        """Every source with its last outcome and item counts, for `digest sources list`."""
        rows = self.db.execute(
            """
            SELECT s.url, s.kind, s.name, s.subscribed, s.weight, s.last_status, s.last_error,
                   s.last_attempt_at, s.last_success_at,
                   COUNT(i.id) AS items, COUNT(i.id) - COUNT(i.used_by_date) AS unused
            FROM sources s LEFT JOIN items i ON i.source_id = s.id
            GROUP BY s.id ORDER BY s.kind, s.url
            """
        )
        return [dict(r) for r in rows]
