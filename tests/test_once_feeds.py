"""`digest once` with real feeds from a real HTTP server on 127.0.0.1: one good, three broken."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http_server import Response, http_server

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-24"

GOOD_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Good Feed</title><link>http://127.0.0.1/</link><description>d</description>
<item><title>Labs publish safety cases</title><link>http://127.0.0.1/a</link><guid>a</guid>
<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>
<description>&lt;p&gt;Three frontier labs published written safety cases for their newest models this week, each
arguing with evidence why a specific catastrophic misuse is unlikely before deployment.&lt;/p&gt;
&lt;p&gt;Subscribe to our newsletter&lt;/p&gt;</description></item>
<item><title>Compute prices fall</title><link>http://127.0.0.1/b</link><guid>b</guid>
<pubDate>Mon, 23 Nov 2026 09:00:00 GMT</pubDate>
<description>&lt;p&gt;Rental prices for H100 accelerators fell by forty percent over twelve months, which puts
training runs of mid-sized open-weight models within reach of university labs.&lt;/p&gt;</description></item>
</channel></rss>"""


@pytest.fixture
def feed_server() -> Iterator[str]:
    """One good feed and three broken ones on 127.0.0.1 (tests/http_server.py)."""
    rss = {"Content-Type": "application/rss+xml"}
    with http_server() as site:
        site.add("/good.xml", Response(body=GOOD_FEED.encode(), headers=rss))
        site.add("/error.xml", Response(500, b"boom"))
        site.add("/slow.xml", Response(body=GOOD_FEED.encode(), headers=rss, delay=4))  # the config's timeout is 1 s
        site.add("/malformed.xml", Response(body=b"\x00\x01 this is <<< not a feed at all {{{", headers=rss))
        yield site.base


def test_broken_feeds_are_named_and_the_issue_comes_from_the_good_feed_and_seeds(
    tmp_path: Path, feed_server: str
) -> None:
    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir()
    feeds = "".join(
        f'[[feeds]]\nurl = "{feed_server}/{name}.xml"\nname = "{name}"\nweight = {weight}\n'
        for name, weight in (("good", 3.0), ("error", 1.0), ("slow", 1.0), ("malformed", 1.0))
    )
    config.write_text(
        f'[paths]\nseeds = "{ROOT / "seeds"}"\n[email]\nto = ["ann@example.org"]\n'
        f"[fetch]\ntimeout_seconds = 1\nallow_private_networks = true\n{feeds}",
        encoding="utf-8",
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "once", "--config", str(config), "--date", DAY, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 30  # the slow feed cost its timeout, not the run
    issue = json.loads(proc.stdout)
    stats = issue["stats"]
    assert stats["sources_ok"] == 5 and stats["sources_failed"] == 3  # 4 seeds + good; 3 broken
    assert stats["items"] == 6
    failed = {f["name"]: f["reason"] for f in stats["failures"]}
    assert set(failed) == {"error", "slow", "malformed"}
    assert "500" in failed["error"]
    assert "timed out" in failed["slow"].lower() or "timeout" in failed["slow"].lower()
    assert failed["malformed"]
    for name in ("error", "slow", "malformed"):
        assert f"failed: {name} (" in proc.stderr
    assert "sources: 5 ok, 0 not modified, 3 failed" in proc.stderr
    # the weighted good feed made it into the picks, with its link
    good = [p for p in issue["insights"] if p["source"] == "good"]
    assert good and good[0]["url"].startswith("http://127.0.0.1/")
    assert not any("Subscribe" in p["text"] for p in issue["insights"])
    page = (tmp_path / "archive" / "issues" / f"{DAY}.html").read_text()
    assert "malformed" in page and "slow" in page  # the closing note on failed sources


HOSTILE_FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>
<item><title>&lt;script&gt;window.pwned=1&lt;/script&gt;Payload &lt;img src=x onerror=window.pwned=1&gt;</title>
<link>javascript:window.pwned=1</link><guid>h1</guid>
<description>&lt;p onmouseover="window.pwned=1"&gt;Attackers hide script in feed titles and bodies, hoping that a
reader renders them as markup &lt;script&gt;window.pwned=1&lt;/script&gt; in an email or a public archive page.&lt;/p&gt;</description></item>
</channel></rss>"""


def test_hostile_feed_content_is_inert_in_pages_and_mail(tmp_path: Path) -> None:
    from tests.http_server import Response, http_server

    with http_server() as site:
        site.add("/hostile.xml", Response(body=HOSTILE_FEED.encode(), headers={"Content-Type": "application/rss+xml"}))
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        config.write_text(
            f'[paths]\nseeds = "{tmp_path / "no-seeds"}"\n[email]\nto = ["ann@example.org"]\n'
            f"[fetch]\nallow_private_networks = true\n[rank]\nmax_per_source = 5\n"
            f'[[feeds]]\nurl = "{site.base}/hostile.xml"\nname = "Hostile <b onclick=x>"\n',
            encoding="utf-8",
        )
        proc = subprocess.run(
            [sys.executable, "-m", "digest", "once", "--config", str(config), "--date", DAY],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    # JSON carries text as data (nothing renders it); every page, feed and mail must be inert.
    outputs = [p.read_text() for p in (tmp_path / "archive").rglob("*") if p.is_file() and p.suffix != ".json"]
    import email
    import email.policy

    for eml in (tmp_path / "outbox").glob("*.eml"):  # the plain-text part is inert by nature
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        outputs.append(msg.get_body(("html",)).get_content())  # type: ignore[union-attr]
        assert "\nBcc" not in str(msg["Subject"])
    assert any("Attackers hide script" in o for o in outputs)
    for text in outputs:
        for live in ("<script>window", "<img src=x", "onmouseover=", "javascript:", "<b onclick"):
            assert live not in text
