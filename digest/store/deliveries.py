"""The delivery ledger: one row per issue and recipient, written before any SMTP talk.

A row moves through these states (`status`):

    pending ──claim──► sending ──250 / file written──► sent | written
       ▲                  │ └──4xx, dropped before the end of the message──► failed ──(next run)──► sending
       │                  │ └──5xx──────────────────────────────────────────► rejected
       │                  └──the process died here, or the connection was lost after the
       │                     whole message went out and before the server's reply──► unknown
       └─ written for every recipient before the first message goes out

`sending` means "a live run is talking to the server now". A later run (runs hold the
run lock, so none is concurrent) that finds a row `sending` turns it `unknown`: the
message may or may not have gone out. `unknown` is never resent automatically; only
`digest send --resend` (send again) or `--mark-sent` (it arrived) resolves it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable
from datetime import date, datetime

from ..models import DeliveryRecord

DONE = ("sent", "written")  # the recipient has the issue: never sent again
RETRIED = ("pending", "failed")  # sent by the next run of the date without being asked
RESENDABLE = ("unknown", "rejected")  # sent again only when `digest send --resend` names the recipient


class DeliveriesMixin:
    db: sqlite3.Connection

    def add_pending_deliveries(self, issue_date: date, recipients: Iterable[str], now: datetime) -> None:
        """A 'pending' row for each recipient that has no row for this issue yet."""
        self.db.executemany(
            """
            INSERT INTO deliveries (issue_date, recipient, status, detail, updated_at)
            VALUES (?, ?, 'pending', '', ?)
            ON CONFLICT (issue_date, recipient) DO NOTHING
            """,
            [(issue_date.isoformat(), r, now.isoformat()) for r in recipients],
        )

    def mark_interrupted_deliveries(self, issue_date: date, now: datetime) -> list[str]:
        """Turn rows left 'sending' by a run that died into 'unknown'; returns their recipients.

        Call it only while holding the run lock: then no live run is sending.
        """
        day = issue_date.isoformat()
        rows = self.db.execute(
            "SELECT recipient FROM deliveries WHERE issue_date = ? AND status = 'sending' ORDER BY recipient", (day,)
        ).fetchall()
        self.db.execute(
            """
            UPDATE deliveries SET status = 'unknown', updated_at = ?,
                detail = 'the run sending it stopped before recording the outcome (claimed at ' || updated_at || ')'
            WHERE issue_date = ? AND status = 'sending'
            """,
            (now.isoformat(), day),
        )
        return [str(r["recipient"]) for r in rows]

    def claim_delivery(
        self,
        issue_date: date,
        recipient: str,
        message_id: str,
        now: datetime,
        *,
        allowed: Collection[str] = RETRIED,
    ) -> str | None:
        """Mark a delivery 'sending' and return None, or return the status that forbids sending.

        A recipient without a row is claimed too (a reader added to the config since the
        issue was made). Only rows whose status is in `allowed` are claimed.
        """
        day = issue_date.isoformat()
        row = self.db.execute(
            "SELECT status FROM deliveries WHERE issue_date = ? AND recipient = ?", (day, recipient)
        ).fetchone()
        if row and row["status"] not in allowed:
            return str(row["status"])
        self.db.execute(
            """
            INSERT INTO deliveries (issue_date, recipient, status, message_id, detail, updated_at)
            VALUES (?, ?, 'sending', ?, '', ?)
            ON CONFLICT (issue_date, recipient) DO UPDATE SET
                status = 'sending', message_id = excluded.message_id, updated_at = excluded.updated_at
            """,
            (day, recipient, message_id, now.isoformat()),
        )
        return None

    def finish_delivery(self, issue_date: date, recipient: str, status: str, detail: str, now: datetime) -> None:
        """Record the outcome of a claimed delivery."""
        self.db.execute(
            "UPDATE deliveries SET status = ?, detail = ?, updated_at = ? WHERE issue_date = ? AND recipient = ?",
            (status, detail, now.isoformat(), issue_date.isoformat(), recipient),
        )

    def mark_delivery_sent(self, issue_date: date, recipient: str, how: str, now: datetime) -> bool:
        """An 'unknown' row becomes 'sent' on the user's word; False when the row is not 'unknown'."""
        cursor = self.db.execute(
            """
            UPDATE deliveries SET status = 'sent', updated_at = ?, detail = ? || ' (was unknown: ' || detail || ')'
            WHERE issue_date = ? AND recipient = ? AND status = 'unknown'
            """,
            (now.isoformat(), how, issue_date.isoformat(), recipient),
        )
        return cursor.rowcount == 1

    def get_deliveries(self, issue_date: date) -> dict[str, str]:
        """recipient -> status for one issue."""
        rows = self.db.execute(
            "SELECT recipient, status FROM deliveries WHERE issue_date = ?", (issue_date.isoformat(),)
        )
        return {r["recipient"]: r["status"] for r in rows}

    def get_delivery_records(self, issue_date: date) -> list[DeliveryRecord]:
        """Every ledger row of one issue, by recipient."""
        rows = self.db.execute(
            """
            SELECT recipient, status, COALESCE(detail, '') AS detail, updated_at, COALESCE(message_id, '') AS mid
            FROM deliveries WHERE issue_date = ? ORDER BY recipient
            """,
            (issue_date.isoformat(),),
        )
        return [
            DeliveryRecord(
                recipient=str(r["recipient"]),
                status=str(r["status"]),
                detail=str(r["detail"]),
                updated_at=str(r["updated_at"]),
                message_id=str(r["mid"]),
            )
            for r in rows
        ]
