"""Real feeds saved from the web (../shared/corpus/feeds): every file parses or fails cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import ParseError
from digest.extract import extract_insights
from digest.models import FeedSpec, RawFeed
from digest.sources.parse import parse_feed

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared corpus is not at {CORPUS}"),
]
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file()) if CORPUS.is_dir() else []


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(CORPUS).as_posix() for p in FILES])
def test_every_saved_feed_parses_or_fails_with_a_reason(path: Path) -> None:
    raw = RawFeed(url=f"https://example.org/{path.name}", content=path.read_bytes(), headers={})
    try:
        _, items = parse_feed(raw, FeedSpec(url=raw.url))
    except ParseError as e:
        assert e.reason.startswith("not a feed")
        return
    for item in items:
        assert item.guid and (item.title or item.text)
        assert "<script" not in item.html.lower()
    extract_insights(items)  # real text through extraction without an exception


def test_most_saved_feeds_yield_entries() -> None:
    parsed = 0
    for path in FILES:
        try:
            _, items = parse_feed(
                RawFeed(url="https://example.org/f", content=path.read_bytes(), headers={}),
                FeedSpec(url="https://example.org/f"),
            )
        except ParseError:
            continue
        parsed += bool(items)
    assert parsed >= 0.85 * len(FILES), (parsed, len(FILES))
