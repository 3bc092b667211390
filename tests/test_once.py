"""`digest once` end to end, as a user runs it: a real process, real files, a real SQLite file."""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-24"


def make_config(tmp_path: Path, extra: str = "", recipients: str = "['ann@example.org', 'bob@example.org']") -> Path:
    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"""
title = "Test Digest"
[paths]
seeds = "{ROOT / "seeds"}"
[email]
from = "Test Digest <digest@example.org>"
to = {recipients}
{extra}
""",
        encoding="utf-8",
    )
    return config


def run_once(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", "once", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent.parent,
    )


def test_once_on_the_seeds_writes_archive_outbox_and_summary(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    proc = run_once(config, "--date", DAY, "--json")
    assert proc.returncode == 0, proc.stderr
    issue = json.loads(proc.stdout)
    assert issue["date"] == DAY and issue["number"] == 1 and issue["title"] == "Test Digest"
    assert len(issue["insights"]) == 5
    assert [p["rank"] for p in issue["insights"]] == [1, 2, 3, 4, 5]
    assert issue["stats"]["sources_ok"] == 4 and issue["stats"]["sources_failed"] == 0
    assert issue["stats"]["items"] == 4
    assert issue["stats"]["candidates"] > issue["stats"]["clusters"] >= 5
    for pick in issue["insights"]:
        assert set(pick) >= {
            "rank",
            "text",
            "title",
            "source",
            "url",
            "published",
            "score",
            "why",
            "sources",
            "related",
        }
        assert pick["why"]["novelty"] == 1.0

    archive = tmp_path / "archive"
    page = archive / "issues" / f"{DAY}.html"
    assert page.is_file() and (archive / "issues" / f"{DAY}.json").is_file()
    assert json.loads((archive / "issues" / f"{DAY}.json").read_text()) == issue
    assert (archive / "index.html").is_file() and (archive / "feed.xml").is_file()
    assert issue["insights"][0]["text"][:40] in html.unescape(page.read_text())

    emails = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(emails) == 2
    msg = email.message_from_bytes(emails[0].read_bytes(), policy=email.policy.default)
    assert msg["To"] in ("ann@example.org", "bob@example.org")
    assert msg.get_content_type() == "multipart/alternative"
    assert issue["insights"][0]["text"][:40] in msg.get_body(("plain",)).get_content()

    err = proc.stderr
    assert "sources: 4 ok, 0 not modified, 0 failed" in err
    assert re.search(r"items 4, candidates \d+, clusters \d+, picks 5", err)
    assert f"issues/{DAY}.html" in err


def test_same_date_twice_is_one_issue_and_no_second_email(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    first = run_once(config, "--date", DAY, "--json")
    second = run_once(config, "--date", DAY, "--json")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["number"] == 1
    assert [p["text"] for p in json.loads(second.stdout)["insights"]] == [
        p["text"] for p in json.loads(first.stdout)["insights"]
    ]
    index = (tmp_path / "archive" / "index.html").read_text()
    assert index.count(f"issues/{DAY}.html") == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    assert "already written" in second.stderr
    assert "re-made" in second.stderr


def test_next_day_does_not_repeat_and_says_why_when_nothing_is_new(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert run_once(config, "--date", DAY).returncode == 0
    nxt = run_once(config, "--date", "2026-11-25")
    # the seeds were read yesterday and nothing else came in: no empty issue
    assert nxt.returncode == 1
    assert "no issue" in nxt.stderr and "nothing new" in nxt.stderr
    assert not (tmp_path / "archive" / "issues" / "2026-11-25.html").exists()


def test_dry_run_writes_outbox_even_with_smtp_and_records_nothing(tmp_path: Path) -> None:
    # Port 9 on loopback: nothing listens, so a real send would fail loudly.
    config = make_config(tmp_path, "[smtp]\nhost = '127.0.0.1'\nport = 9\nsecurity = 'none'\n")
    proc = run_once(config, "--date", DAY, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_smtp_down_keeps_the_issue_and_reports_each_recipient(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        "[smtp]\nhost = '127.0.0.1'\nport = 9\nsecurity = 'none'\ntimeout_seconds = 2\nretry_seconds = [0.2]\n",
    )
    proc = run_once(config, "--date", DAY)
    assert proc.returncode == 0, proc.stderr  # the issue exists; delivery can be retried
    assert (tmp_path / "archive" / "issues" / f"{DAY}.html").is_file()
    assert proc.stderr.count("failed") >= 2
    assert "ann@example.org: failed" in proc.stderr


def test_help_lists_the_commands() -> None:
    proc = subprocess.run([sys.executable, "-m", "digest", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("once", "serve", "fetch", "send", "explain", "sources", "archive"):
        assert command in proc.stdout
    once = subprocess.run([sys.executable, "-m", "digest", "once", "--help"], capture_output=True, text=True)
    for option in ("--config", "--date", "--dry-run", "--json", "--offline"):
        assert option in once.stdout


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; sys.argv=['digest','--help']\n"
        "from digest import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('httpx', 'feedparser', 'jinja2', 'sqlite3', 'apscheduler', 'nh3') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in proc.stdout, proc.stdout


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday"])
def test_bad_date_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    proc = run_once(make_config(tmp_path), "--date", bad)
    assert proc.returncode == 2
    assert "--date" in proc.stderr


def test_archive_build_rewrites_every_page_from_state(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert run_once(config, "--date", DAY).returncode == 0
    archive = tmp_path / "archive"
    page = archive / "issues" / f"{DAY}.html"
    before = page.read_text()
    page.unlink()
    (archive / "index.html").write_text("broken")
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "archive", "build", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "rebuilt 1 issue" in proc.stderr
    assert page.read_text() == before
    assert f"issues/{DAY}.html" in (archive / "index.html").read_text()


def test_offline_skips_feeds(tmp_path: Path) -> None:
    from tests.smtp_server import free_port

    dead = f"http://127.0.0.1:{free_port()}/feed.xml"  # nothing listens there
    config = make_config(
        tmp_path, f'[fetch]\nallow_private_networks = true\n[[feeds]]\nurl = "{dead}"\nname = "dead"\n'
    )
    offline = run_once(config, "--date", DAY, "--offline")
    assert offline.returncode == 0, offline.stderr
    assert "sources: 4 ok, 0 not modified, 0 failed" in offline.stderr
    online = run_once(config, "--date", DAY)
    assert "sources: 4 ok, 0 not modified, 1 failed" in online.stderr
    assert "failed: dead (" in online.stderr and "connection refused" in online.stderr


def test_explain_shows_picks_runners_up_and_reasons(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    made = run_once(config, "--date", DAY, "--json")
    issue = json.loads(made.stdout)
    assert len(issue["runners_up"]) == 5
    assert all(r["note"] for r in issue["runners_up"])
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "explain", "--config", str(config), "--date", DAY],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "runners-up:" in out and "held back:" in out
    for pick in issue["insights"] + issue["runners_up"]:
        assert f"{pick['score']:6.3f}" in out
    assert out.count("ahead of the first runner-up") == 5
    none = subprocess.run(
        [sys.executable, "-m", "digest", "explain", "--config", str(config), "--date", "2020-01-01"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert none.returncode == 1 and "no issue for 2020-01-01" in none.stderr


def test_send_when_empty_sends_a_short_issue_on_a_day_with_nothing_new(tmp_path: Path) -> None:
    config = make_config(tmp_path, recipients="['ann@example.org']")
    config.write_text(
        config.read_text().replace("to = ['ann@example.org']", "to = ['ann@example.org']\nsend_when_empty = true")
    )
    assert run_once(config, "--date", DAY).returncode == 0
    quiet_day = run_once(config, "--date", "2026-11-25", "--json")
    assert quiet_day.returncode == 0, quiet_day.stderr
    issue = json.loads(quiet_day.stdout)
    assert issue["number"] == 2 and issue["insights"] == []
    mail = (tmp_path / "outbox" / "2026-11-25-ann@example.org.eml").read_bytes()
    msg = email.message_from_bytes(mail, policy=email.policy.default)
    assert "Nothing new today" in msg.get_body(("plain",)).get_content()
    assert "no new insights" in msg["Subject"]


def test_fetch_stores_items_for_the_next_issue(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    fetched = subprocess.run(
        [sys.executable, "-m", "digest", "fetch", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert fetched.returncode == 0, fetched.stderr
    assert "sources: 4 ok, 0 not modified, 0 failed" in fetched.stderr
    assert not (tmp_path / "archive").exists()  # no issue yet
    offline = run_once(config, "--date", DAY, "--offline", "--json")
    assert offline.returncode == 0 and json.loads(offline.stdout)["stats"]["items"] == 4


def test_a_clock_behind_the_newest_issue_makes_no_issue_without_an_explicit_date(tmp_path: Path) -> None:
    # cron's `digest once` after the clock went back (a restored VM, a bad NTP step): an issue dated
    # later than "today" exists, so today's run would be a second issue out of order.
    config = make_config(tmp_path)
    assert run_once(config, "--date", "2099-01-01").returncode == 0
    behind = run_once(config)
    assert behind.returncode == 1
    assert "the clock went back; no issue made" in behind.stderr and "2099-01-01" in behind.stderr
    assert "hint: check the system clock, or pass --date" in behind.stderr
    assert sorted(p.name for p in (tmp_path / "archive" / "issues").glob("*.html")) == ["2099-01-01.html"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2  # one per reader, from the first run only
