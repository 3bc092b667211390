"""[fetch] run_deadline_seconds: what is not fetched and parsed in time fails with that reason; the rest is used.

Real slow and healthy feeds on 127.0.0.1 (tests/http_server.py); `digest once` as a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digest.config import FetchSettings, load_settings
from digest.errors import ConfigError
from digest.models import FeedSpec, SourceStatus
from digest.sources import gather_feeds
from digest.sources.fetch import fetch_all
from tests.feedserver import GOOD_RSS
from tests.http_server import Response, http_server
from tests.test_once_feeds import GOOD_FEED
from tests.test_pool import rss_with, worker_pids

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-24"


@pytest.mark.parametrize("workers", [0, 2], ids=["parse-here", "parse-in-workers"])
def test_a_feed_still_loading_at_the_deadline_fails_and_the_healthy_one_is_kept(workers: int) -> None:
    with http_server() as site:
        site.add("/slow.xml", Response(body=GOOD_RSS, delay=5))  # within its own 10 s timeout
        site.add("/good.xml", Response(body=GOOD_RSS))
        specs = [FeedSpec(url=f"{site.base}/slow.xml", name="slow"), FeedSpec(url=f"{site.base}/good.xml", name="good")]
        settings = FetchSettings(
            timeout_seconds=10, run_deadline_seconds=1, allow_private_networks=True, parse_workers=workers
        )
        started = time.monotonic()
        slow, good = gather_feeds(specs, settings, {})
        elapsed = time.monotonic() - started
    assert slow.status is SourceStatus.FAILED and slow.error == "run deadline of 1 s reached"
    assert (slow.name, slow.url) == ("slow", specs[0].url)
    assert good.status is SourceStatus.OK and len(good.items) == 3
    assert elapsed < 3  # the deadline, not the slow server, ended the run
    assert worker_pids() == []


def test_fetch_all_keeps_the_deadline_too() -> None:
    # Another feature (full text) fetches pages with fetch_all: it is bounded the same way.
    with http_server() as site:
        site.add("/slow", Response(body=b"late", delay=5))
        site.add("/fast", Response(body=b"soon"))
        settings = FetchSettings(timeout_seconds=10, run_deadline_seconds=0.5, allow_private_networks=True)
        slow, fast = fetch_all([FeedSpec(url=f"{site.base}/slow"), FeedSpec(url=f"{site.base}/fast")], settings, {})
    assert getattr(slow, "reason", None) == "run deadline of 0.5 s reached"
    assert getattr(fast, "content", None) == b"soon"


@pytest.mark.slow
def test_a_body_still_parsing_at_the_deadline_fails_and_its_worker_is_stopped() -> None:
    with http_server() as site:
        site.add("/huge.xml", Response(body=rss_with(40_000, "Huge")))  # several seconds of feedparser
        site.add("/good.xml", Response(body=GOOD_RSS))
        specs = [FeedSpec(url=f"{site.base}/huge.xml", name="huge"), FeedSpec(url=f"{site.base}/good.xml", name="good")]
        settings = FetchSettings(
            run_deadline_seconds=2, max_bytes=50_000_000, allow_private_networks=True, parse_workers=2
        )
        started = time.monotonic()
        huge, good = gather_feeds(specs, settings, {})
        elapsed = time.monotonic() - started
    assert huge.status is SourceStatus.FAILED and huge.error == "run deadline of 2 s reached"
    assert good.status is SourceStatus.OK
    assert elapsed < 4
    assert worker_pids() == []


def test_once_makes_the_issue_from_what_arrived_before_the_deadline(tmp_path: Path) -> None:
    rss = {"Content-Type": "application/rss+xml"}
    with http_server() as site:
        site.add("/good.xml", Response(body=GOOD_FEED.encode(), headers=rss))
        site.add("/slow.xml", Response(body=GOOD_FEED.encode(), headers=rss, delay=6))
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        feeds = "".join(f'[[feeds]]\nurl = "{site.base}/{n}.xml"\nname = "{n}"\n' for n in ("good", "slow"))
        config.write_text(
            f'[paths]\nseeds = "{tmp_path / "no-seeds"}"\n[email]\nto = ["ann@example.org"]\n'
            f"[fetch]\ntimeout_seconds = 20\nrun_deadline_seconds = 1.5\nallow_private_networks = true\n{feeds}",
            encoding="utf-8",
        )
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "digest", "once", "--config", str(config), "--date", DAY, "--json", "--dry-run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 6  # the slow feed cost the deadline, not its 6 s
    issue = json.loads(proc.stdout)
    assert issue["stats"]["sources_ok"] == 1 and issue["stats"]["sources_failed"] == 1
    assert {f["name"]: f["reason"] for f in issue["stats"]["failures"]} == {"slow": "run deadline of 1.5 s reached"}
    assert issue["insights"] and {p["source"] for p in issue["insights"]} == {"good"}
    assert "failed: slow (" in proc.stderr and "run deadline of 1.5 s reached" in proc.stderr


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("run_deadline_seconds = 0", "fetch.run_deadline_seconds"),
        ("run_deadline_seconds = -5", "fetch.run_deadline_seconds"),
        ('run_deadline_seconds = "10"', "fetch.run_deadline_seconds"),
        ("per_host_concurrency = 0", "fetch.per_host_concurrency"),
        ("parse_workers = -1", "fetch.parse_workers"),
        ("parse_workers = 1.5", "fetch.parse_workers"),
    ],
)
def test_fetch_limits_are_checked(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(f"[fetch]\n{text}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == key


def test_fetch_limits_have_defaults_and_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text("", encoding="utf-8")
    default = load_settings(path).fetch
    assert (default.run_deadline_seconds, default.per_host_concurrency, default.parse_workers) == (600.0, 4, None)
    path.write_text(
        "[fetch]\nrun_deadline_seconds = 90\nper_host_concurrency = 8\nparse_workers = 0\n", encoding="utf-8"
    )
    fetch = load_settings(path).fetch
    assert (fetch.run_deadline_seconds, fetch.per_host_concurrency, fetch.parse_workers) == (90.0, 8, 0)
    assert isinstance(fetch.run_deadline_seconds, float)
