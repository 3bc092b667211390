"""Full text for summary-only feeds (`full_text = true`), against real pages on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.config import FetchSettings, Settings, load_settings
from digest.errors import ConfigError
from digest.models import FeedSpec, ItemData, RunReport, SourceResult, SourceStatus
from digest.pipeline import gather
from digest.sources.fetch import USER_AGENT
from digest.sources.fulltext import MAX_ARTICLES_PER_FEED, MAX_PAGE_ELEMENTS, add_full_texts
from digest.store import Store, open_store
from digest.summary import format_summary
from tests.http_server import Response, Site

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
HTML = {"Content-Type": "text/html; charset=utf-8"}
RSS = {"Content-Type": "application/rss+xml"}

# Page furniture every article page carries; none of it may reach an item.
CHROME = (
    "Cookie consent: we use cookies to personalise adverts",
    "Accept every cookie",
    "Newsroom Careers Advertise",
    "Subscribe to the Loopback Gazette newsletter",
    "Copyright 2026 Loopback Gazette",
    "Trending elsewhere: ten celebrity diets",
)

STORIES = {
    "storage": (
        "Grid storage grows",
        [
            "Utility-scale battery storage grew by eleven gigawatts in one year, the largest annual increase on "
            "record, according to figures the national grid operator published on Monday morning.",
            "Most of the new capacity came from lithium iron phosphate cells paired with solar farms in the "
            "south-west, where evening demand peaks now meet stored midday sunshine instead of gas turbines.",
            "Analysts expect a further fifteen gigawatts next year if the connection reforms agreed in spring "
            "survive the coming review by the energy regulator.",
        ],
    ),
    "chips": (
        "Chip fabs slow down",
        [
            "Three new semiconductor fabrication plants in Arizona and Ohio have pushed their opening dates back "
            "by at least eighteen months, citing a shortage of trained technicians and delayed equipment.",
            "The companies say the delay will not affect supply of current chips, but analysts warn that the "
            "gap leaves advanced packaging capacity concentrated in two countries until the end of the decade.",
        ],
    ),
}


def article_page(title: str, paragraphs: list[str], extra: str = "") -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} | Loopback Gazette</title>
<script>window.tracker = "x";</script><style>.x {{ color: red }}</style></head><body>
<div class="cookie-banner" id="cookie-consent"><p>{CHROME[0]} and measure traffic.</p><button>{CHROME[1]}</button></div>
<header class="site-header"><a href="/">Loopback Gazette</a><nav class="menu"><ul><li><a href="/">Home</a></li>
<li><a href="/news">{CHROME[2]}</a></li></ul></nav></header>
<main><article><h1>{title}</h1><p class="byline">By A. Reporter, 23 November 2026</p>{body}{extra}</article></main>
<aside class="sidebar"><h3>Trending</h3><ul><li><a href="/diets">{CHROME[5]}</a></li></ul>
<div class="newsletter"><p>{CHROME[3]} for the best stories every morning.</p></div></aside>
<footer class="site-footer"><p>{CHROME[4]}. All rights reserved.</p><a href="/privacy">Privacy policy</a></footer>
</body></html>""".encode()


def rss(base: str, entries: list[tuple[str, str, str]]) -> bytes:
    """A summary-only feed: (guid, title, teaser) with a link to /articles/<guid>."""
    items = "".join(
        f"<item><title>{title}</title><link>{base}/articles/{guid}</link><guid>{guid}</guid>"
        f"<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate><description>{teaser}</description></item>"
        for guid, title, teaser in entries
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Gazette</title>{items}</channel></rss>'.encode()


def settings_for(
    tmp_path: Path, feed_url: str, *, full_text: str = "true", fetch: str = "allow_private_networks = true\n"
) -> Settings:
    (tmp_path / "seeds").mkdir(exist_ok=True)
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[paths]\nseeds = "seeds"\ndatabase = "state/digest.sqlite3"\n'
        f'[[feeds]]\nurl = "{feed_url}"\nname = "Gazette"\nfull_text = {full_text}\n'
        f"[fetch]\ntimeout_seconds = 2\n{fetch}",
        encoding="utf-8",
    )
    return load_settings(config)


@contextmanager
def store_of(settings: Settings) -> Iterator[Store]:
    with open_store(settings.paths.database) as store:
        yield store


def run_gather(settings: Settings) -> tuple[SourceResult, dict[str, ItemData]]:
    with store_of(settings) as store:
        (result,) = gather(settings, store, NOW, offline=False)
        stored = {i.guid: i for i in store.get_unused_items("2026-11-24")}
    return result, stored


def article_hits(site: Site) -> list[str]:
    return [path for path, _ in site.hits if path.startswith("/articles/")]


def serve_stories(site: Site, *guids: str) -> None:
    entries = [(g, STORIES[g][0], f"{STORIES[g][0]}: a short teaser…") for g in guids]
    site.add("/feed.xml", Response(body=rss(site.base, entries), headers=RSS))
    for g in guids:
        site.add(f"/articles/{g}", Response(body=article_page(*STORIES[g]), headers=HTML))


def test_items_carry_the_article_text_without_the_page_chrome(tmp_path: Path, feedserver: Site) -> None:
    serve_stories(feedserver, "storage", "chips")
    result, stored = run_gather(settings_for(tmp_path, f"{feedserver.base}/feed.xml"))
    assert result.status is SourceStatus.OK and result.note is None
    assert set(stored) == {"storage", "chips"}
    for guid, (_, paragraphs) in STORIES.items():
        item = stored[guid]
        for paragraph in paragraphs:
            assert paragraph in item.text
            assert paragraph in item.html
        for chrome in CHROME:
            assert chrome not in item.text and chrome not in item.html
        assert "teaser" not in item.text
    hits = {path: headers for path, headers in feedserver.hits}
    assert hits["/articles/storage"]["user-agent"] == USER_AGENT


def test_a_second_run_reads_only_new_articles_and_keeps_the_stored_ones(tmp_path: Path, feedserver: Site) -> None:
    settings = settings_for(tmp_path, f"{feedserver.base}/feed.xml")
    serve_stories(feedserver, "storage")
    run_gather(settings)
    assert article_hits(feedserver) == ["/articles/storage"]

    feedserver.hits.clear()  # the same feed body: not parsed again, no page fetched
    result, _ = run_gather(settings)
    assert result.status is SourceStatus.NOT_MODIFIED
    assert article_hits(feedserver) == []

    serve_stories(feedserver, "storage", "chips")  # a new entry changes the body: both entries parsed
    result, stored = run_gather(settings)
    assert result.status is SourceStatus.OK and len(result.items) == 2
    assert article_hits(feedserver) == ["/articles/chips"]
    assert STORIES["storage"][1][0] in stored["storage"].text  # not put back to the teaser
    assert STORIES["chips"][1][0] in stored["chips"].text


def test_unreadable_articles_keep_their_summary_and_are_counted(tmp_path: Path, feedserver: Site) -> None:
    base = feedserver.base
    entries = [
        ("ok", "Readable", "Readable: a teaser."),
        ("missing", "Gone", "The summary of a page that is gone, kept as it is."),
        ("slow", "Slow", "The summary of a page that never answers in time."),
        ("huge", "Huge", "The summary of a page larger than the byte cap."),
        ("pdf", "Paper", "The summary of a PDF."),
        ("thin", "Thin", "The summary of a page with less to say than this summary has, which is quite a lot."),
    ]
    feedserver.add("/feed.xml", Response(body=rss(base, entries), headers=RSS))
    feedserver.add("/articles/ok", Response(body=article_page(*STORIES["storage"]), headers=HTML))
    feedserver.add("/articles/missing", Response(404, b"not found", headers=HTML))
    feedserver.add("/articles/slow", Response(body=article_page(*STORIES["chips"]), headers=HTML, delay=3))
    padding = "<p>" + "Filler paragraph about nothing in particular. " * 2000 + "</p>"
    feedserver.add("/articles/huge", Response(body=article_page(*STORIES["chips"], extra=padding), headers=HTML))
    feedserver.add("/articles/pdf", Response(body=b"%PDF-1.7 ...", headers={"Content-Type": "application/pdf"}))
    feedserver.add("/articles/thin", Response(body=article_page("Thin", ["Short."]), headers=HTML))
    settings = settings_for(tmp_path, f"{base}/feed.xml", fetch="allow_private_networks = true\nmax_bytes = 32768\n")
    settings = replace(settings, fetch=replace(settings.fetch, timeout_seconds=0.5))  # the slow page takes 3 s

    result, stored = run_gather(settings)

    assert result.status is SourceStatus.OK and len(result.items) == 6
    assert STORIES["storage"][1][0] in stored["ok"].text
    for guid, _, teaser in entries[1:]:
        assert stored[guid].text == teaser, guid
    note = result.note or ""
    assert note.startswith("full text: 5 of 6 new articles kept the summary (")
    for reason in (
        "HTTP 404",
        "timed out after 0.5 s",
        "larger than 32768 bytes",
        "not a web page but application/pdf",
    ):
        assert reason in note, reason
    assert "no main text longer than the summary" in note
    summary = format_summary(RunReport(issue=None, sources=(result,)), 1.0)
    assert "full text: 5 of 6 new articles kept the summary" in summary


def test_a_page_too_big_to_extract_keeps_its_summary(tmp_path: Path, feedserver: Site) -> None:
    # Within the byte cap, but trafilatura's time grows faster than the page: refused before extracting.
    flood = "<div>" + "<br>" * (MAX_PAGE_ELEMENTS + 1000) + "</div>"
    feedserver.add("/feed.xml", Response(body=rss(feedserver.base, [("f", "Flood", "The teaser.")]), headers=RSS))
    feedserver.add("/articles/f", Response(body=article_page(*STORIES["storage"], extra=flood), headers=HTML))
    result, stored = run_gather(settings_for(tmp_path, f"{feedserver.base}/feed.xml"))
    assert stored["f"].text == "The teaser."
    assert "page too big to extract" in (result.note or "")


def test_articles_past_the_per_run_limit_keep_their_summary(tmp_path: Path, feedserver: Site) -> None:
    count = MAX_ARTICLES_PER_FEED + 2
    entries = [(f"s{n}", f"Story {n}", f"Teaser {n}.") for n in range(count)]
    feedserver.add("/feed.xml", Response(body=rss(feedserver.base, entries), headers=RSS))
    for n in range(count):
        feedserver.add(f"/articles/s{n}", Response(body=article_page(*STORIES["storage"]), headers=HTML))
    result, stored = run_gather(settings_for(tmp_path, f"{feedserver.base}/feed.xml"))
    assert len(article_hits(feedserver)) == MAX_ARTICLES_PER_FEED
    assert sum(item.text.startswith("Teaser") for item in stored.values()) == 2
    assert result.note == (
        f"full text: 2 of {count} new articles kept the summary (over the limit of {MAX_ARTICLES_PER_FEED} a run ×2)"
    )


def test_an_article_redirecting_to_a_private_address_is_refused_before_connecting(
    tmp_path: Path, feedserver: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The feed and its article sit at a public address, reached only through an HTTP proxy that is
    # our loopback server (no packet leaves 127.0.0.1); private networks are not allowed.
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", feedserver.base)
    assert urllib.request.getproxies() == {"http": feedserver.base}  # else the test would reach out
    public = "http://93.184.215.14"
    feedserver.add(f"{public}/feed.xml", Response(body=rss(public, [("x", "Story", "The teaser.")]), headers=RSS))
    feedserver.add(f"{public}/articles/x", Response(302, headers={"Location": "http://10.1.2.3/admin"}))
    settings = settings_for(tmp_path, f"{public}/feed.xml", fetch="")
    assert settings.fetch.allow_private_networks is False

    result, stored = run_gather(settings)

    assert [path for path, _ in feedserver.hits] == [f"{public}/feed.xml", f"{public}/articles/x"]
    assert result.status is SourceStatus.OK
    assert stored["x"].text == "The teaser."
    assert "refused: 10.1.2.3 is a private address" in (result.note or "")


def test_a_hostile_article_is_inert_in_the_stored_html(tmp_path: Path, feedserver: Site) -> None:
    hostile = (
        '<p onclick="steal()">Read <a href="javascript:alert(document.cookie)">the regulator\'s filing</a> and '
        '<a href="JaVaScRiPt:alert(2)">the appendix</a> before the vote on the grid connection reforms this week.</p>'
        '<img src="https://img.example/x.png" onerror="steal()" alt="chart">'
        "<script>document.write('pwned')</script><iframe src=\"https://evil.example/\"></iframe>"
        '<p>See <a href="data:text/html;base64,PHNjcmlwdD4=">the data</a> and '
        '<a href="/relative/report">the full report</a> for the numbers behind the eleven gigawatts.</p>'
    )
    feedserver.add("/feed.xml", Response(body=rss(feedserver.base, [("h", "Hostile", "Teaser.")]), headers=RSS))
    feedserver.add("/articles/h", Response(body=article_page(*STORIES["storage"], extra=hostile), headers=HTML))
    _, stored = run_gather(settings_for(tmp_path, f"{feedserver.base}/feed.xml"))
    html = stored["h"].html.lower()
    assert STORIES["storage"][1][0].lower() in html  # the article itself came through
    assert "regulator's filing" in stored["h"].text
    for bad in ("<script", "pwned", "onclick", "onerror", "javascript:", "data:text", "<iframe", "steal("):
        assert bad not in html, bad
    assert f'href="{feedserver.base}/relative/report"' in stored["h"].html  # relative to the article's URL


def test_feeds_without_full_text_fetch_no_pages(tmp_path: Path, feedserver: Site) -> None:
    serve_stories(feedserver, "storage")
    _, stored = run_gather(settings_for(tmp_path, f"{feedserver.base}/feed.xml", full_text="false"))
    assert article_hits(feedserver) == []
    assert stored["storage"].text.endswith("a short teaser…")


@pytest.mark.parametrize(
    ("value", "message"),
    [("'yes'", "must be true or false"), ("1", "must be true or false")],
)
def test_full_text_must_be_a_boolean(tmp_path: Path, value: str, message: str) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(f'[[feeds]]\nurl = "https://example.org/f"\nfull_text = {value}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"feeds\[0\]\.full_text: {message}"):
        load_settings(config)


def test_full_text_is_read_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(
        '[[feeds]]\nurl = "https://example.org/a"\nfull_text = true\n[[feeds]]\nurl = "https://example.org/b"\n',
        encoding="utf-8",
    )
    assert [f.full_text for f in load_settings(config).feeds] == [True, False]


def test_without_trafilatura_full_text_is_a_config_error_naming_the_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # what an install without the extra looks like
    config = tmp_path / "digest.toml"
    config.write_text('[[feeds]]\nurl = "https://example.org/a"\nfull_text = true\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"feeds\[0\]\.full_text: https://example.org/a asks for full text.*fulltext"):
        load_settings(config)
    # and a subscription asking for it fails the same way, before any page is fetched
    item = ItemData(
        source="A", source_url="https://example.org/a", guid="1", title="T", text="x", url="http://x.invalid/"
    )
    result = SourceResult(name="A", url="https://example.org/a", status=SourceStatus.OK, items=(item,))
    with pytest.raises(ConfigError, match="https://example.org/a asks for full text"):
        add_full_texts(
            [result], [FeedSpec(url="https://example.org/a", full_text=True)], FetchSettings(), lambda url, guids: {}
        )


def test_once_picks_its_insight_from_the_article(tmp_path: Path, feedserver: Site) -> None:
    serve_stories(feedserver, "storage", "chips")
    settings = settings_for(tmp_path, f"{feedserver.base}/feed.xml")
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "once", "--config", str(settings.path), "--date", "2026-11-24", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    texts = [pick["text"] for pick in json.loads(proc.stdout)["insights"]]
    article_sentences = [p for _, paragraphs in STORIES.values() for p in paragraphs]
    assert texts and all(any(t in p or p in t for p in article_sentences) for t in texts), texts
    assert not any(chrome in t for t in texts for chrome in CHROME)


def test_a_feed_added_with_full_text_gets_its_articles(tmp_path: Path, feedserver: Site) -> None:
    serve_stories(feedserver, "storage")
    (tmp_path / "seeds").mkdir()
    config = tmp_path / "digest.toml"
    config.write_text(
        '[paths]\nseeds = "seeds"\ndatabase = "state/digest.sqlite3"\n[fetch]\nallow_private_networks = true\n',
        encoding="utf-8",
    )
    add = [sys.executable, "-m", "digest", "sources", "add", "--config", str(config), f"{feedserver.base}/feed.xml"]
    proc = subprocess.run([*add, "--full-text"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    settings = load_settings(config)
    with store_of(settings) as store:
        assert [f.full_text for f in store.get_subscriptions()] == [True]
    feedserver.hits.clear()
    _, stored = run_gather(settings)
    assert article_hits(feedserver) == ["/articles/storage"]
    assert STORIES["storage"][1][0] in stored["storage"].text


def test_subscriptions_from_before_full_text_keep_summaries(tmp_path: Path) -> None:
    from digest.store.schema import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for version in (0, 1, 2):  # a version 3 database, as the release before full text made it
        MIGRATIONS[version](db)
    db.execute("PRAGMA user_version = 3")
    db.execute("INSERT INTO sources (url, kind, name, subscribed) VALUES ('https://example.org/f', 'feed', '', 1)")
    db.execute("COMMIT")
    db.close()
    with open_store(path) as store:
        assert store.get_subscriptions() == [FeedSpec(url="https://example.org/f")]
        with store.transaction():
            store.add_subscription(FeedSpec(url="https://example.org/g", full_text=True))
        assert [f.full_text for f in store.get_subscriptions()] == [False, True]


def test_a_full_text_feed_in_a_big_run_is_stored_once_with_its_articles(tmp_path: Path, feedserver: Site) -> None:
    """Results are stored in batches while the run goes on; a full_text feed waits for its articles."""
    from digest.sources import SETTLED_BATCH
    from tests.feedserver import GOOD_RSS

    serve_stories(feedserver, "storage", "chips")
    others = SETTLED_BATCH + 10
    for i in range(others):
        feedserver.add(
            f"/other{i}.xml", Response(body=GOOD_RSS.replace(b"good-", b"o%d-" % i), headers=RSS, delay=0.05)
        )
    settings_for(tmp_path, f"{feedserver.base}/feed.xml")  # writes digest.toml; the others are added to it
    config = tmp_path / "digest.toml"
    extra = "".join(f'[[feeds]]\nurl = "{feedserver.base}/other{i}.xml"\n' for i in range(others))
    config.write_text(config.read_text(encoding="utf-8") + extra, encoding="utf-8")
    settings = load_settings(config)
    with store_of(settings) as store:
        results = gather(settings, store, NOW, offline=False)
        stored = {i.guid: i for i in store.get_unused_items("2026-11-24")}
    assert [r.status for r in results] == [SourceStatus.OK] * (1 + others)
    assert len(stored) == 2 + 3 * others
    for guid, (_, paragraphs) in STORIES.items():
        assert all(paragraph in stored[guid].text for paragraph in paragraphs)
        assert "teaser" not in stored[guid].text
