"""The delivery ledger: one row per issue and recipient, claimed before sending."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

DONE = ("sent", "written")


class DeliveriesMixin:
    db: sqlite3.Connection

    def claim_delivery(self, issue_date: date, recipient: str, message_id: str, now: datetime) -> str | None:
        """Mark a delivery 'sending' and return None, or return the status that forbids sending.

        A row left 'sending' by a crash is never resent blindly: the message may have
        gone out before the crash.
        """
        day = issue_date.isoformat()
        row = self.db.execute(
            "SELECT status FROM deliveries WHERE issue_date = ? AND recipient = ?", (day, recipient)
        ).fetchone()
        if row and row["status"] != "failed":
            return str(row["status"])
        self.db.execute(
            """
            INSERT INTO deliveries (issue_date, recipient, status, message_id, updated_at)
            VALUES (?, ?, 'sending', ?, ?)
            ON CONFLICT (issue_date, recipient) DO UPDATE SET
                status = 'sending', message_id = excluded.message_id, updated_at = excluded.updated_at
            """,
            (day, recipient, message_id, now.isoformat()),
        )
        return None

    def finish_delivery(self, issue_date: date, recipient: str, status: str, detail: str, now: datetime) -> None:
        self.db.execute(
            "UPDATE deliveries SET status = ?, detail = ?, updated_at = ? WHERE issue_date = ? AND recipient = ?",
            (status, detail, now.isoformat(), issue_date.isoformat(), recipient),
        )

    def get_deliveries(self, issue_date: date) -> dict[str, str]:
        rows = self.db.execute(
            "SELECT recipient, status FROM deliveries WHERE issue_date = ?", (issue_date.isoformat(),)
        )
        return {r["recipient"]: r["status"] for r in rows}
