"""Queries about items: what was seen, and what is still unused by an issue."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from ..models import ItemData

GUIDS_PER_QUERY = 500  # one feed's entries (parse.MAX_ENTRIES) in one query, well under SQLite's variable limit


def content_hash(item: ItemData) -> str:
    """Versioned, so a change in what we hash never looks like changed content."""
    digest = hashlib.sha1(f"{item.title}\0{item.text}".encode()).hexdigest()
    return f"v1:{digest}"


class ItemsMixin:
    db: sqlite3.Connection

    def add_items(self, source_id: int, items: Iterable[ItemData], now: datetime) -> int:
        """Insert new items, refresh changed ones (they count as unused again); returns how many changed."""
        rows = list(items)
        if not rows:
            return 0
        seen = now.isoformat()
        # One executemany: its rowcount is the sum over rows (an unchanged row is 0), as the loop's was.
        cur = self.db.executemany(
            """
            INSERT INTO items (source_id, guid, source_name, url, title, published, text, html,
                               weight, content_hash, first_seen_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (source_id, guid) DO UPDATE SET
                source_name = excluded.source_name, url = excluded.url, title = excluded.title,
                published = excluded.published, text = excluded.text, html = excluded.html,
                weight = excluded.weight, content_hash = excluded.content_hash,
                used_by_date = NULL
            WHERE items.content_hash != excluded.content_hash
            """,
            [
                (
                    source_id,
                    item.guid,
                    item.source,
                    item.url,
                    item.title,
                    item.published.isoformat() if item.published else None,
                    item.text,
                    item.html,
                    item.weight,
                    content_hash(item),
                    seen,
                )
                for item in rows
            ],
        )
        return cur.rowcount

    def get_item_bodies(self, source_url: str, guids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(text, html) by guid for the items of one source already stored, among `guids`."""
        wanted = list(dict.fromkeys(guids))
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(wanted), GUIDS_PER_QUERY):
            chunk = wanted[start : start + GUIDS_PER_QUERY]
            rows = self.db.execute(
                f"""
                SELECT i.guid, i.text, i.html FROM items i JOIN sources s ON s.id = i.source_id
                WHERE s.url = ? AND i.guid IN ({", ".join("?" * len(chunk))})
                """,  # noqa: S608 (only placeholders are interpolated)
                (source_url, *chunk),
            )
            found.update((r["guid"], (r["text"], r["html"])) for r in rows)
        return found

    def get_unused_items(self, issue_date: str) -> list[ItemData]:
        """Items no other issue consumed (those this date's issue consumed included)."""
        return self._items_where("i.used_by_date IS NULL OR i.used_by_date = ?", issue_date)

    def get_items_used_by(self, issue_date: str) -> list[ItemData]:
        """The items the issue of this date was made from."""
        return self._items_where("i.used_by_date = ?", issue_date)

    def _items_where(self, condition: str, issue_date: str) -> list[ItemData]:
        rows = self.db.execute(
            f"""
            SELECT i.*, s.url AS source_url FROM items i JOIN sources s ON s.id = i.source_id
            WHERE {condition}
            ORDER BY s.url, i.guid
            """,  # noqa: S608 (condition is one of two literals above)
            (issue_date,),
        )
        return [
            ItemData(
                source=r["source_name"],
                source_url=r["source_url"],
                guid=r["guid"],
                title=r["title"],
                text=r["text"],
                url=r["url"],
                published=datetime.fromisoformat(r["published"]) if r["published"] else None,
                html=r["html"],
                weight=r["weight"],
            )
            for r in rows
        ]

    def mark_items_used(self, items: Iterable[ItemData], issue_date: str) -> None:
        self.db.executemany(
            """
            UPDATE items SET used_by_date = ?
            WHERE guid = ? AND source_id = (SELECT id FROM sources WHERE url = ?)
              AND used_by_date IS NULL
            """,
            [(issue_date, it.guid, it.source_url) for it in items],
        )
