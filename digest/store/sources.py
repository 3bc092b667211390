"""Queries about sources: their fetch validators and health."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from ..models import FeedSpec, SourceResult, SourceStatus

BACKOFF_FIRST_HOURS = 6  # a second failure in a row waits this long; each more one doubles it
BACKOFF_MAX_HOURS = 7 * 24


def backoff_seconds(failures: int) -> float:
    """No wait after one failure (tomorrow's run tries again), then 6 h, 12 h, 24 h … up to a week."""
    if failures < 2:
        return 0.0
    return float(min(BACKOFF_FIRST_HOURS * 2 ** (failures - 2), BACKOFF_MAX_HOURS) * 3600)


class SourcesMixin:
    db: sqlite3.Connection

    def update_source(self, result: SourceResult, kind: str, now: datetime) -> int:
        """Record one run's outcome for a source, with its back-off; returns its id."""
        if result.status is SourceStatus.DEFERRED:  # not fetched: nothing learnt
            row = self.db.execute("SELECT id FROM sources WHERE url = ?", (result.url,)).fetchone()
            return int(row[0])
        ok = result.status is not SourceStatus.FAILED
        previous = self.db.execute("SELECT failures FROM sources WHERE url = ?", (result.url,)).fetchone()
        failures = 0 if ok else (previous["failures"] if previous else 0) + 1
        wait = result.retry_after if result.retry_after is not None else backoff_seconds(failures)
        next_attempt = (now + timedelta(seconds=wait)).isoformat() if not ok and wait > 0 else None
        row = self.db.execute(
            """
            INSERT INTO sources (url, kind, name, etag, last_modified, last_status, last_error,
                                 last_attempt_at, last_success_at, body_hash, failures, next_attempt_at, disabled)
            VALUES (:url, :kind, :name, :etag, :lm, :status, :error, :now, :success, :hash, :failures, :next, :gone)
            ON CONFLICT (url) DO UPDATE SET
                name = excluded.name,
                etag = CASE WHEN :ok THEN excluded.etag ELSE sources.etag END,
                last_modified = CASE WHEN :ok THEN excluded.last_modified ELSE sources.last_modified END,
                body_hash = CASE WHEN :ok THEN excluded.body_hash ELSE sources.body_hash END,
                last_status = excluded.last_status,
                last_error = excluded.last_error,
                last_attempt_at = excluded.last_attempt_at,
                last_success_at = COALESCE(excluded.last_success_at, sources.last_success_at),
                failures = excluded.failures,
                next_attempt_at = excluded.next_attempt_at,
                disabled = MAX(sources.disabled, excluded.disabled)
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
                "hash": result.body_hash,
                "failures": failures,
                "next": next_attempt,
                "gone": 1 if result.gone else 0,
            },
        ).fetchone()
        return int(row[0])

    def get_deferred(self, now: datetime) -> dict[str, str]:
        """Feeds not to fetch this run, with the reason: gone (410), or backing off until a time."""
        rows = self.db.execute(
            "SELECT url, disabled, failures, next_attempt_at, last_error FROM sources "
            "WHERE kind = 'feed' AND (disabled = 1 OR next_attempt_at > ?)",
            (now.isoformat(),),
        )
        return {
            r["url"]: (
                "disabled after HTTP 410 Gone; remove it from your sources"
                if r["disabled"]
                else f"backing off after {r['failures']} failure(s) until {r['next_attempt_at'][:16]}Z "
                f"(last: {r['last_error']})"
            )
            for r in rows
        }

    def get_body_hashes(self) -> dict[str, str]:
        rows = self.db.execute("SELECT url, body_hash FROM sources WHERE body_hash IS NOT NULL")
        return {r["url"]: r["body_hash"] for r in rows}

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
            INSERT INTO sources (url, kind, name, subscribed, weight, full_text) VALUES (?, 'feed', ?, 1, ?, ?)
            ON CONFLICT (url) DO UPDATE SET
                subscribed = 1, name = excluded.name, weight = excluded.weight, full_text = excluded.full_text
            """,
            (spec.url, spec.name or "", spec.weight, int(spec.full_text)),  # "" = use the feed's own title
        )
        return True

    def remove_subscription(self, url: str) -> bool:
        """Stop fetching a feed added with `sources add`; its items and history stay."""
        return (
            self.db.execute("UPDATE sources SET subscribed = 0 WHERE url = ? AND subscribed = 1", (url,)).rowcount > 0
        )

    def get_subscriptions(self) -> list[FeedSpec]:
        rows = self.db.execute("SELECT url, name, weight, full_text FROM sources WHERE subscribed = 1 ORDER BY url")
        return [
            FeedSpec(url=r["url"], name=r["name"] or None, weight=r["weight"], full_text=bool(r["full_text"]))
            for r in rows
        ]

    def iter_source_health(self) -> list[dict[str, object]]:
        """Every source with its last outcome and item counts, for `digest sources list`."""
        rows = self.db.execute(
            """
            SELECT s.url, s.kind, s.name, s.subscribed, s.weight, s.last_status, s.last_error,
                   s.last_attempt_at, s.last_success_at, s.failures, s.next_attempt_at, s.disabled,
                   COUNT(i.id) AS items, COUNT(i.id) - COUNT(i.used_by_date) AS unused
            FROM sources s LEFT JOIN items i ON i.source_id = s.id
            GROUP BY s.id ORDER BY s.kind, s.url
            """
        )
        return [dict(r) for r in rows]

    def move_subscription(self, old: str, new: str) -> bool:
        """Follow a permanent redirect: the subscription (and its history) moves to the new URL."""
        if self.db.execute("SELECT 1 FROM sources WHERE url = ?", (new,)).fetchone():
            return False
        return self.db.execute("UPDATE sources SET url = ? WHERE url = ? AND subscribed = 1", (new, old)).rowcount > 0
