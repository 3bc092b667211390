"""The static archive: pages, index by month, Atom feed, search index, atomic writes, local serving."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import feedparser

from digest.archive import publish_issue, rebuild_archive
from digest.render import make_environment
from tests.sample import BRAND, make_pick, sample_issue
from tests.smtp_server import free_port


def three_issues():  # type: ignore[no-untyped-def]
    return [
        sample_issue(day=date(2026, 10, 31), number=1),
        sample_issue(
            make_pick(1, "A claim for November with <b>markup</b> & an ampersand."), day=date(2026, 11, 1), number=2
        ),
        sample_issue(day=date(2026, 11, 2), number=3),
    ]


def test_publishing_links_neighbours_and_lists_each_issue_once(tmp_path: Path) -> None:
    env, issues = make_environment(), three_issues()
    published: list = []  # type: ignore[type-arg]
    for issue in issues:
        publish_issue(tmp_path, env, BRAND, issue, published)
        published.append(issue)
    publish_issue(tmp_path, env, BRAND, issues[1], published)  # re-made: replaces, never duplicates
    index = (tmp_path / "index.html").read_text()
    for issue in issues:
        assert index.count(f'href="issues/{issue.date.isoformat()}.html"') == 1
    assert index.index("November 2026") < index.index("October 2026")  # newest first, by month
    middle = (tmp_path / "issues" / "2026-11-01.html").read_text()
    assert 'href="2026-10-31.html"' in middle and 'href="2026-11-02.html"' in middle
    first = (tmp_path / "issues" / "2026-10-31.html").read_text()
    assert 'rel="next" href="2026-11-01.html"' in first  # rewritten when its neighbour appeared
    data = json.loads((tmp_path / "issues" / "2026-11-01.json").read_text())
    assert set(data) >= {"date", "number", "title", "generated_at", "insights", "stats"}
    assert not list(tmp_path.rglob(".*.tmp"))


def test_atom_feed_is_valid_and_has_one_entry_per_issue(tmp_path: Path) -> None:
    rebuild_archive(tmp_path, make_environment(), BRAND, three_issues())
    parsed = feedparser.parse((tmp_path / "feed.xml").read_bytes())
    assert parsed.bozo == 0 and parsed.version == "atom10"
    assert len(parsed.entries) == 3 and len({e.id for e in parsed.entries}) == 3
    assert all(e.get("updated") for e in parsed.entries)


def test_search_index_is_data_that_cannot_open_markup(tmp_path: Path) -> None:
    rebuild_archive(tmp_path, make_environment(), BRAND, three_issues())
    script = (tmp_path / "search-index.js").read_text()
    assert script.startswith("window.DIGEST_SEARCH = ") and script.rstrip().endswith(";")
    assert "<" not in script and ">" not in script and "&" not in script
    entries = json.loads(script[len("window.DIGEST_SEARCH = ") : script.rstrip().rindex(";")])
    assert any(e["d"] == "2026-11-01" and e["r"] == 1 and "<b>markup</b> & an" in e["t"] for e in entries)
    assert len(entries) == 2 + 1 + 2


def test_archive_serve_answers_on_loopback(tmp_path: Path) -> None:
    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir()
    config.write_text("", encoding="utf-8")
    rebuild_archive(tmp_path / "archive", make_environment(), BRAND, three_issues())
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "digest", "archive", "serve", "--config", str(config), "--port", str(port)],
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/issues/2026-11-02.html", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("archive serve did not answer")
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert b"Open-weight models" in page


def test_about_page_draws_charts_and_source_health(tmp_path: Path) -> None:
    from digest.models import SourceHealth

    health = [
        SourceHealth("Good Feed", "ok", 12, None, "2026-11-02T07:00"),
        SourceHealth("Broken <Feed>", "failed", 0, "HTTP 500 Internal Server Error", None),
    ]
    rebuild_archive(tmp_path, make_environment(), BRAND, three_issues(), health)
    about = (tmp_path / "about.html").read_text()
    assert about.count("<svg") == 2 and about.count('class="bar-items"') == 3
    assert "Broken &lt;Feed&gt;" in about and "HTTP 500" in about and "never" in about
    assert "Example Feed: 3" in about and "Café Notes: 2" in about  # the per-source tally
    assert "<script" not in about
    assert 'href="about.html"' in (tmp_path / "index.html").read_text()


def test_atom_feed_has_what_the_atom_spec_requires(tmp_path: Path) -> None:
    import re
    import xml.etree.ElementTree as ET

    rebuild_archive(tmp_path, make_environment(), BRAND, three_issues())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.parse(tmp_path / "feed.xml").getroot()
    rfc3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    for required in ("a:id", "a:title", "a:updated", "a:author/a:name"):
        assert feed.find(required, ns) is not None and (feed.find(required, ns).text or "").strip(), required
    assert rfc3339.match(feed.find("a:updated", ns).text)  # type: ignore[union-attr, arg-type]
    entries = feed.findall("a:entry", ns)
    assert len(entries) == 3
    for entry in entries:
        for required in ("a:id", "a:title", "a:updated", "a:content"):
            assert entry.find(required, ns) is not None, required
        assert rfc3339.match(entry.find("a:updated", ns).text)  # type: ignore[union-attr, arg-type]
        assert entry.find("a:content", ns).get("type") == "html"  # type: ignore[union-attr]
        assert ":" in entry.find("a:id", ns).text  # an IRI  # type: ignore[union-attr, operator]
    alternate = feed.find("a:link[@rel='self']", ns)
    assert alternate is not None and alternate.get("href", "").endswith("feed.xml")


def test_a_theme_that_overrides_one_block_keeps_the_rest_of_the_site(tmp_path: Path) -> None:
    theme = tmp_path / "theme"
    theme.mkdir()
    (theme / "issue.html.j2").write_text(
        '{% extends "_base.html.j2" %}{% block main %}<h1>My theme: {{ issue.title }}</h1>{% endblock %}\n',
        encoding="utf-8",
    )
    (theme / "style.css").write_text("body { color: rebeccapurple; }\n", encoding="utf-8")
    archive = tmp_path / "archive"
    rebuild_archive(archive, make_environment(theme), BRAND, three_issues())
    page = (archive / "issues" / "2026-11-02.html").read_text()
    assert "My theme: Daily Insights" in page
    assert 'rel="stylesheet"' in page and "Content-Security-Policy" in page and "About this digest" in page
    assert "<title>Daily Insights</title>" in page  # the left-out title block falls back to the base
    assert "rebeccapurple" in (archive / "style.css").read_text()
    assert "Open-weight models" in (archive / "index.html").read_text()  # untouched templates still used


def test_issue_json_has_the_contract_keys(tmp_path: Path) -> None:
    issue = sample_issue()
    publish_issue(tmp_path, make_environment(), BRAND, issue, [])
    raw = (tmp_path / "issues" / "2026-11-24.json").read_text(encoding="utf-8")
    assert "Zürich" in raw  # ensure_ascii=False: readable as written
    data = json.loads(raw)
    assert {"date", "number", "title", "generated_at", "insights", "stats"} <= set(data)
    assert (data["date"], data["number"], data["generated_at"]) == ("2026-11-24", 7, "2026-11-24T07:00:03+00:00")
    pick = data["insights"][0]
    assert set(pick) >= {"rank", "text", "title", "source", "url", "published", "score", "why", "sources", "related"}
    assert pick["published"] == "2026-11-23T08:00:00+00:00" and pick["score"] == 0.49
    assert set(pick["why"]) >= {"corroboration", "informativeness", "novelty", "recency", "source_weight", "interest"}
    assert pick["sources"][0] == {"name": "Example Feed", "url": "https://example.org/a"}
    assert set(pick["related"][0]) == {"text", "source", "url"}
    assert data["insights"][1]["url"] is None
    stats = data["stats"]
    assert set(stats) >= {"sources_ok", "sources_failed", "items", "candidates", "clusters"}
    assert stats["failures"] == [
        {"name": "Broken Feed", "url": "https://broken.example.org/feed", "reason": "HTTP 500 Internal Server Error"}
    ]


def test_two_issues_and_a_remade_one_give_two_feed_entries_and_readable_files(tmp_path: Path) -> None:
    env = make_environment()
    first, second = sample_issue(day=date(2026, 11, 23), number=6), sample_issue(number=7)
    publish_issue(tmp_path, env, BRAND, first, [])
    publish_issue(tmp_path, env, BRAND, second, [first])
    remade = sample_issue(make_pick(1, "A re-made lead insight."), number=7)
    page = publish_issue(tmp_path, env, BRAND, remade, [first, second])
    assert page == tmp_path / "issues" / "2026-11-24.html"
    parsed = feedparser.parse((tmp_path / "feed.xml").read_bytes())
    assert parsed.bozo == 0 and len(parsed.entries) == 2
    assert "A re-made lead insight." in parsed.entries[0].content[0].value
    index = (tmp_path / "index.html").read_text()
    assert index.count('href="issues/2026-11-24.html"') == 1 and "A re-made lead insight." in index
    assert 'rel="next" href="2026-11-24.html"' in (tmp_path / "issues" / "2026-11-23.html").read_text()
    for path in (tmp_path / "index.html", tmp_path / "feed.xml", tmp_path / "style.css", page):
        assert path.stat().st_mode & 0o777 == 0o644, path  # a web server running as someone else can read it
