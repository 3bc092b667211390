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


def test_entries_per_feed_match_the_golden_file() -> None:
    """Regressions in parsing show up as a changed count (refresh with UPDATE_GOLDEN=1 when intended)."""
    import json
    import os

    counts: dict[str, int | str] = {}
    for path in FILES:
        raw = RawFeed(url="https://example.org/f", content=path.read_bytes(), headers={})
        try:
            counts[path.relative_to(CORPUS).as_posix()] = len(parse_feed(raw, FeedSpec(url=raw.url))[1])
        except ParseError:
            counts[path.relative_to(CORPUS).as_posix()] = "not a feed"
    golden = Path(__file__).parent / "golden" / "corpus_entries.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert counts == json.loads(golden.read_text(encoding="utf-8"))
