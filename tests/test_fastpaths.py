"""feedparser with digest's fast paths gives exactly what it gives without them."""

from __future__ import annotations

import copy
import sys
import xml.sax
import xml.sax.handler
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from feedparser.util import FeedParserDict

from digest.sources import fastpaths
from digest.sources.parse import FEEDPARSER_OPTIONS

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "feeds"
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file()) if CORPUS.is_dir() else []


@pytest.fixture
def fast() -> Iterator[None]:
    """Fast paths on for the test, and afterwards as they were before it."""
    was_on = "_digest_original" in FeedParserDict.__dict__
    assert fastpaths.install(feedparser)
    yield
    if was_on:
        fastpaths.install(feedparser)
    else:
        fastpaths.uninstall(feedparser)


def _outcome(body: bytes, options: dict[str, Any]) -> dict[str, Any]:
    result = feedparser.parse(body, response_headers={"content-type": "application/xml"}, **options)
    plain = dict(result)
    problem = plain.pop("bozo_exception", None)  # an exception object: equal by identity only
    plain["bozo_exception"] = (type(problem).__name__, str(problem)) if problem else None
    return plain


def _both(body: bytes, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    fastpaths.uninstall(feedparser)
    assert "_digest_original" not in FeedParserDict.__dict__
    slow = _outcome(body, options)
    assert fastpaths.install(feedparser)
    return slow, _outcome(body, options)


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared corpus is not at {CORPUS}")
@pytest.mark.usefixtures("fast")
@pytest.mark.parametrize("options", [FEEDPARSER_OPTIONS, {}], ids=["digest-options", "feedparser-defaults"])
def test_every_corpus_feed_parses_identically_with_the_fast_paths(options: dict[str, Any]) -> None:
    differing = []
    for path in FILES:
        slow, quick = _both(path.read_bytes(), options)
        if slow != quick:
            differing.append(path.relative_to(CORPUS).as_posix())
    assert not differing, differing
    assert len(FILES) > 100


@pytest.mark.corpus
@pytest.mark.skipif(not (SHARED / "bench").is_dir(), reason=f"the shared bench is not at {SHARED / 'bench'}")
@pytest.mark.usefixtures("fast")
def test_benchmark_feeds_parse_identically_with_the_fast_paths() -> None:
    sys.path.insert(0, str(SHARED / "bench"))
    try:
        from feedserver import make_feed  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SHARED / "bench"))
    for i in range(5):
        body = make_feed(i)
        slow, quick = _both(body[0] if isinstance(body, tuple) else body, FEEDPARSER_OPTIONS)
        assert slow["entries"] and slow == quick


@pytest.mark.usefixtures("fast")
def test_aliases_and_computed_keys_still_answer_through_feedparser() -> None:
    entry = FeedParserDict()
    entry["summary"] = "s"
    entry["tags"] = [FeedParserDict(term="t")]
    entry["links"] = [FeedParserDict(rel="license", href="https://l.example/")]
    entry["published"] = "p"
    assert entry.get("description") == "s" and "description" in entry  # alias of summary
    assert entry.get("category") == "t" and "category" in entry
    assert entry.get("license") == "https://l.example/"
    assert entry.get("url") is None and "url" not in entry
    assert "updated" not in entry  # feedparser's own rule: "in" does not follow the updated -> published fallback
    with pytest.warns(DeprecationWarning):
        assert entry.get("updated") == "p"
    assert entry.get("summary") == "s" and entry.get("missing", 3) == 3 and "missing" not in entry
    assert entry["description"] == "s" and entry["category"] == "t" and entry.description == "s"
    with pytest.raises(KeyError):
        entry["missing"]
    entry["guid"] = "g"  # an alias: stored under the key it stands for
    entry["plain"] = "v"
    assert dict.get(entry, "id") == "g" and "guid" not in dict.keys(entry) and entry["plain"] == "v"


@pytest.mark.usefixtures("fast")
def test_deepcopy_is_deep_and_keeps_the_type() -> None:
    params = FeedParserDict(type="text/html", base="https://b.example/", nested=[FeedParserDict(a="x")])
    params.note = "attribute state"
    duplicate = copy.deepcopy(params)
    assert type(duplicate) is FeedParserDict and duplicate == params
    assert duplicate["nested"] is not params["nested"] and duplicate["nested"][0] is not params["nested"][0]
    assert duplicate.__dict__ == {"note": "attribute state"}
    loop = FeedParserDict(name="loop")
    loop["self"] = loop
    copied = copy.deepcopy(loop)
    assert copied["self"] is copied


def test_only_feedparser_versions_it_was_read_against_are_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    was_on = "_digest_original" in FeedParserDict.__dict__
    fastpaths.uninstall(feedparser)
    try:
        monkeypatch.setattr(feedparser, "__version__", "7.0.0")
        assert fastpaths.install(feedparser) is False
        assert "_digest_original" not in FeedParserDict.__dict__
        assert FeedParserDict.__dict__["get"].__module__ == "feedparser.util"
        monkeypatch.undo()
        assert fastpaths.install(feedparser) is True
        assert FeedParserDict.__dict__["get"].__module__ == "digest.sources.fastpaths"
        assert feedparser.mixin._urljoin.__module__ == "digest.sources.fastpaths"
        fastpaths.uninstall(feedparser)
        assert FeedParserDict.__dict__["get"].__module__ == "feedparser.util"
        assert FeedParserDict.__dict__["__setitem__"].__module__ == "feedparser.util"
        assert feedparser.mixin._urljoin.__module__ == "feedparser.urls"
        assert feedparser.mixin._cp1252 is feedparser.html._cp1252
        assert feedparser.api.PREFERRED_XML_PARSERS == ["drv_libxml2"]
        assert "__deepcopy__" not in FeedParserDict.__dict__  # put back as feedparser had it: absent
    finally:
        if was_on:
            fastpaths.install(feedparser)


@pytest.mark.usefixtures("fast")
def test_joining_base_urls_gives_what_feedparser_gives() -> None:
    original = FeedParserDict.__dict__["_digest_original"]["_urljoin"]
    cases = [("", ""), ("", "https://a.example//x"), ("https://a.example/", ""), ("https://a.example/b/", "c")]
    assert [feedparser.mixin._urljoin(b, u) for b, u in cases] == [original(b, u) for b, u in cases]
    fastpaths.uninstall(feedparser)
    assert feedparser.mixin._urljoin is original


@pytest.mark.usefixtures("fast")
def test_the_sax_reader_hands_over_each_run_of_text_at_once() -> None:
    assert feedparser.api.PREFERRED_XML_PARSERS[0] == "digest.sources.fastpaths"
    reader = xml.sax.make_parser(feedparser.api.PREFERRED_XML_PARSERS)
    texts: list[str] = []

    class Texts(xml.sax.handler.ContentHandler):
        def characters(self, content: str) -> None:
            texts.append(content)

    reader.setContentHandler(Texts())
    reader.feed(b"<a>one\ntwo &amp; three<![CDATA[ <four> ]]></a>")
    reader.close()
    assert texts == ["one\ntwo & three <four> "]  # unbuffered expat: five pieces


@pytest.mark.usefixtures("fast")
def test_the_cp1252_table_translates_every_character_as_feedparser_does() -> None:
    table = feedparser.mixin._cp1252
    assert table is not feedparser.html._cp1252
    text = "".join(map(chr, [*range(0xD800), *range(0xE000, 0x10000), 0x1F600, 0x10FFFF]))
    assert text.translate(table) == text.translate(feedparser.html._cp1252)
    assert "\x93quoted\x94".translate(table) == "\u201cquoted\u201d"  # the fix-ups are still made
