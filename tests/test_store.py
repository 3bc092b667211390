"""The SQLite store, on a real file: migrations, items seen, issues per date, the delivery ledger."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.errors import StorageError
from digest.models import ItemData, SourceResult, SourceStatus
from digest.store import open_store
from digest.store.schema import VERSION

NOW = datetime(2026, 11, 24, 7, tzinfo=UTC)
DAY = date(2026, 11, 24)


def feed_result(*items: ItemData, status: SourceStatus = SourceStatus.OK, error: str | None = None) -> SourceResult:
    return SourceResult(
        name="Feed",
        url="https://example.org/feed",
        status=status,
        items=items,
        error=error,
        etag='"v1"',
        last_modified="Mon, 23 Nov 2026 10:00:00 GMT",
    )


def an_item(guid: str, text: str = "Some text that says something.") -> ItemData:
    return ItemData(
        source="Feed", source_url="https://example.org/feed", guid=guid, title=f"Title {guid}", text=text, published=NOW
    )


def test_empty_database_is_migrated(tmp_path: Path) -> None:
    with open_store(tmp_path / "state" / "db.sqlite3") as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == VERSION
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"sources", "items", "issues", "sent_insights", "deliveries"} <= tables


def test_items_are_unique_per_source_and_guid_and_consumed_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with open_store(path) as store, store.transaction():
        sid = store.update_source(feed_result(), "feed", NOW)
        assert store.add_items(sid, [an_item("a"), an_item("b")], NOW) == 2
        assert store.add_items(sid, [an_item("a")], NOW) == 0  # seen before, unchanged
    with open_store(path) as store:  # a new connection sees what was committed
        items = store.get_unused_items("2026-11-24")
        assert [i.guid for i in items] == ["a", "b"]
        assert items[0].published == NOW
        with store.transaction():
            store.mark_items_used(items, "2026-11-24")
        assert len(store.get_unused_items("2026-11-24")) == 2  # re-making the date sees them again
        assert store.get_unused_items("2026-11-25") == []  # tomorrow does not
        with store.transaction():  # an item whose content changed is new again
            store.add_items(sid, [an_item("a", "Different text now, with a new claim.")], NOW)
        assert [i.guid for i in store.get_unused_items("2026-11-25")] == ["a"]


def test_failed_fetch_keeps_the_last_good_validators(tmp_path: Path) -> None:
    with open_store(tmp_path / "db.sqlite3") as store, store.transaction():
        store.update_source(feed_result(), "feed", NOW)
        store.update_source(feed_result(status=SourceStatus.FAILED, error="HTTP 500"), "feed", NOW)
        assert store.get_validators() == {"https://example.org/feed": ('"v1"', "Mon, 23 Nov 2026 10:00:00 GMT")}
        row = store.db.execute("SELECT last_status, last_error, last_success_at FROM sources").fetchone()
        assert tuple(row) == ("failed", "HTTP 500", NOW.isoformat())


def test_one_issue_per_date_and_sent_texts_for_novelty(tmp_path: Path) -> None:
    with open_store(tmp_path / "db.sqlite3") as store:
        with store.transaction():
            store.save_issue(DAY, 1, "{}", [(1, "fp1", "first text")], NOW)
            store.save_issue(DAY, 1, '{"again": 1}', [(1, "fp2", "second text")], NOW)
        assert store.next_issue_number() == 2
        assert store.get_issue_number(DAY) == 1
        assert store.iter_issue_json() == ['{"again": 1}']
        assert store.get_sent_texts(date(2026, 11, 25), 30) == ["second text"]
        assert store.get_sent_texts(DAY, 30) == []  # an issue never competes with itself
        assert store.get_sent_texts(date(2027, 1, 30), 30) == []  # outside the window
        with pytest.raises(StorageError), store.transaction():
            store.db.execute("INSERT INTO issues VALUES ('2026-11-25', 1, '{}', 'x', 'x')")  # number reused


def test_delivery_ledger_never_allows_a_second_send(tmp_path: Path) -> None:
    with open_store(tmp_path / "db.sqlite3") as store:
        with store.transaction():
            store.save_issue(DAY, 1, "{}", [], NOW)
            assert store.claim_delivery(DAY, "a@example.org", "<m1>", NOW) is None
        # crash here: the row stays 'sending' and is not claimed again
        with store.transaction():
            assert store.claim_delivery(DAY, "a@example.org", "<m1>", NOW) == "sending"
            assert store.claim_delivery(DAY, "b@example.org", "<m2>", NOW) is None
            store.finish_delivery(DAY, "b@example.org", "failed", "451 try later", NOW)
            assert store.claim_delivery(DAY, "b@example.org", "<m2>", NOW) is None  # failed may be retried
            store.finish_delivery(DAY, "b@example.org", "sent", "250 OK", NOW)
            assert store.claim_delivery(DAY, "b@example.org", "<m2>", NOW) == "sent"
        assert store.get_deliveries(DAY) == {"a@example.org": "sending", "b@example.org": "sent"}


def test_corrupt_database_is_a_clear_error_and_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    garbage = b"this is not a database" * 100
    path.write_bytes(garbage)
    with pytest.raises(StorageError, match="cannot open database"):
        open_store(path)
    assert path.read_bytes() == garbage


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer"):
        open_store(path)


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from digest.store.lock import hold_lock

    db = tmp_path / "db.sqlite3"
    with hold_lock(db, "run"):
        with pytest.raises(StorageError, match=f"pid {os.getpid()}"), hold_lock(db, "run"):
            pass
        # another process is refused too, and a different purpose is not blocked
        code = (
            "import sys; from pathlib import Path; from digest.store.lock import hold_lock\n"
            "from digest.errors import StorageError\n"
            "try:\n    with hold_lock(Path(sys.argv[1]), 'run'): print('GOT')\n"
            "except StorageError as e: print('REFUSED', e)\n"
            "with hold_lock(Path(sys.argv[1]), 'serve'): print('SERVE OK')\n"
        )
        out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True).stdout
        assert "REFUSED" in out and "another digest run" in out and "SERVE OK" in out
    with hold_lock(db, "run"):  # released on exit
        pass
