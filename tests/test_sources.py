"""`digest sources`: OPML in and out (real exports from the shared corpus), add, list, remove."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from digest.models import FeedSpec
from digest.sources.opml import export_opml, parse_opml
from tests.http_server import Response, http_server

ROOT = Path(__file__).resolve().parents[1]
OPML = ROOT.parent / "shared" / "corpus" / "opml"
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Subscribed Feed</title>
<item><title>T</title><link>https://example.org/s1</link><guid>s1</guid>
<description>A subscribed feed reports that regional grids added eleven gigawatts of storage in one year.</description></item>
</channel></rss>"""


def digest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args, "--config", str(config)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "digest.toml"
    path.parent.mkdir()
    path.write_text(f'[paths]\nseeds = "{ROOT / "seeds"}"\n[fetch]\nallow_private_networks = true\n', encoding="utf-8")
    return path


def test_unescaped_ampersands_duplicates_and_bad_urls() -> None:
    data = b"""<?xml version="1.0"?><opml version="2.0"><body>
    <outline text="News & Views" xmlUrl="https://a.example/feed"/>
    <outline text="Folder"><outline text="Again" xmlUrl="https://a.example/feed"/></outline>
    <outline text="Local" xmlUrl="file:///etc/passwd"/>
    <outline text="Empty" type="rss"/>
    <outline text="Sub" xmlUrl="http://b.example/rss?x=1&y=2"/>
    </body></opml>"""
    with pytest.raises(ET.ParseError):
        ET.fromstring(data)  # what a strict parser does with it
    result = parse_opml(data)
    assert [(f.url, f.name) for f in result.feeds] == [
        ("https://a.example/feed", "News & Views"),
        ("http://b.example/rss?x=1&y=2", "Sub"),
    ]
    assert result.skipped == [
        ("https://a.example/feed", "duplicate"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("Empty", "no xmlUrl"),
    ]


def test_export_is_well_formed_and_round_trips() -> None:
    feeds = [FeedSpec("https://a.example/feed?a=1&b=2", 'Q&A <weekly> "quotes"'), FeedSpec("http://b.example/")]
    text = export_opml(feeds, "My & digest")
    ET.fromstring(text)  # strict XML accepts it
    assert parse_opml(text.encode()).feeds == [
        FeedSpec("https://a.example/feed?a=1&b=2", 'Q&A <weekly> "quotes"'),
        FeedSpec("http://b.example/", "http://b.example/"),
    ]


@pytest.mark.corpus
@pytest.mark.skipif(not OPML.is_dir(), reason=f"the shared OPML files are not at {OPML}")
def test_every_real_opml_export_imports() -> None:
    total = 0
    for path in sorted(OPML.glob("*.opml")):
        result = parse_opml(path.read_bytes())
        assert result.feeds, path.name
        assert all(f.url.startswith(("http://", "https://")) for f in result.feeds)
        assert len({f.url for f in result.feeds}) == len(result.feeds)
        total += len(result.feeds)
    assert total > 1000
    malformed = parse_opml((OPML / "programming_malformed_feeder.opml").read_bytes())
    assert len(malformed.feeds) == 49


@pytest.mark.corpus
@pytest.mark.skipif(not OPML.is_dir(), reason=f"the shared OPML files are not at {OPML}")
def test_cli_import_list_export_remove(config: Path) -> None:
    imported = digest(config, "sources", "import", str(OPML / "google-reader-export_2009_feedjira.opml"))
    assert imported.returncode == 0, imported.stderr
    assert "imported 287 feeds; 0 already subscribed; 13 skipped" in imported.stderr
    assert "duplicate" in imported.stderr
    again = digest(config, "sources", "import", str(OPML / "google-reader-export_2009_feedjira.opml"))
    assert "imported 0 feeds; 287 already subscribed" in again.stderr
    rows = [json.loads(line) for line in digest(config, "sources", "list", "--json").stdout.splitlines()]
    assert len(rows) == 287
    exported = digest(config, "sources", "export").stdout
    assert len(parse_opml(exported.encode()).feeds) == 287
    url = rows[0]["url"]
    assert digest(config, "sources", "remove", url).returncode == 0
    gone = digest(config, "sources", "remove", url)
    assert gone.returncode == 1 and "not subscribed" in gone.stderr
    assert len(digest(config, "sources", "list", "--json").stdout.splitlines()) == 287  # kept, no longer fetched
    assert url not in digest(config, "sources", "export").stdout


def test_added_feed_is_fetched_and_listed_with_its_health(config: Path) -> None:
    with http_server() as site:
        site.add("/rss", Response(body=RSS, headers={"Content-Type": "application/rss+xml"}))
        site.add("/bad", Response(500, b"no"))
        assert digest(config, "sources", "add", f"{site.base}/rss", "--weight", "2").returncode == 0
        refused = digest(config, "sources", "add", f"{site.base}/bad", "--name", "Bad One")
        assert refused.returncode == 1 and "HTTP 500" in refused.stderr and "--no-check" in refused.stderr
        assert digest(config, "sources", "add", f"{site.base}/bad", "--name", "Bad One", "--no-check").returncode == 0
        assert "already subscribed" in digest(config, "sources", "add", f"{site.base}/rss").stderr
        once = subprocess.run(
            [sys.executable, "-m", "digest", "once", "--config", str(config), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert once.returncode == 0, once.stderr
    issue = json.loads(once.stdout)
    assert any(p["source"] == "Subscribed Feed" for p in issue["insights"])
    assert "failed: Bad One (" in once.stderr
    listing = digest(config, "sources", "list").stdout
    assert "ok" in listing and "Subscribed Feed" in listing
    assert "failed" in listing and "HTTP 500" in listing
    assert digest(config, "sources", "add", "ftp://x.example/feed", "--no-check").returncode == 2


def test_adding_a_web_page_subscribes_to_the_feed_it_names(config: Path) -> None:
    page = b"""<html><head><title>A blog</title>
    <link rel="alternate" type="application/rss+xml" title="Posts" href="/posts.xml"></head><body>Hi</body></html>"""
    with http_server() as site:
        site.add("/blog", Response(body=page, headers={"Content-Type": "text/html"}))
        site.add("/posts.xml", Response(body=RSS))
        added = digest(config, "sources", "add", f"{site.base}/blog")
        exported = digest(config, "sources", "export").stdout
    assert added.returncode == 0, added.stderr
    assert f"the page names its feed {site.base}/posts.xml" in added.stderr and "1 entries" in added.stderr
    assert f'xmlUrl="{site.base}/posts.xml"' in exported and "/blog" not in exported
