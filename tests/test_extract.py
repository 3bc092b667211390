"""Extraction: candidates are whole claims; chrome, CTAs, metadata and fragments stay out."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from digest.extract import count_words, extract_insights, is_chrome, normalize_text
from digest.models import InsightKind, ItemData
from digest.sources.seeds import read_markdown, read_seeds, read_text

ROOT = Path(__file__).resolve().parents[1]
CLAIM = "Open-weight models from three labs now match closed ones on coding benchmarks, at a tenth of the cost."


def item(text: str, source: str = "s", guid: str = "g") -> ItemData:
    return ItemData(source=source, source_url=source, guid=guid, title="t", text=text)


def test_paragraphs_bullets_and_key_points_become_candidates() -> None:
    text = "\n\n".join(
        [
            "Key Points",
            "• Developing countries may face pressure to choose between rival AI ecosystems and standards",
            "# Body",
            CLAIM,
        ]
    )
    found = extract_insights([item(text)])
    assert [i.kind for i in found] == [InsightKind.KEY_POINT, InsightKind.PARAGRAPH]
    assert found[1].text == CLAIM
    assert [i.position for i in found] == [0, 1]


def test_chrome_is_dropped() -> None:
    chrome = [
        "Skip to content",
        "Home",
        "Get your free personalized podcast brief",
        "We scan new podcasts and send you the top 5 insights daily.",
        "Subscribe to our newsletter to get the latest stories delivered to your inbox every day.",
        "Published on China-US Focus, a platform associated with the exchange foundation and its programs.",
        "Importance: 42/100opinion pieceanalysis",
        "HTTP 200Fetched Apr 9, 202611 KB",
        "... (truncated, 11 KB total)",
        "Both strategies are globally ambitious, but this is where their differences become clear. The U.S. sof",
        "Expert in Geopolitics and International Business, the Future of Work, and Emerging Technologies",
        "AI Structural Risk CruxesCrux66.0 12 34 56 78 90 11 22 33 44",
        "Resource ID: e9935ef386bdfb23 | Stable ID: sid_Dw8oNUnY4D",
    ]
    for line in chrome:
        assert is_chrome(line), line
    assert extract_insights([item("\n\n".join([*chrome, CLAIM]))])[0].text == CLAIM
    assert len(extract_insights([item("\n\n".join([*chrome, CLAIM]))])) == 1


def test_metadata_sections_are_skipped_until_the_next_label() -> None:
    text = "\n\n".join(
        [
            "Cited by 1 page",
            "This page is cited by a crux about structural risks in AI development, rated 66.",
            "Cached Content Preview",
            CLAIM,
        ]
    )
    assert [i.text for i in extract_insights([item(text)])] == [CLAIM]


def test_repeats_within_an_item_and_short_lines_shared_across_items_are_dropped() -> None:
    banner = "Join thousands of readers who get our five best ideas every morning."
    a = item("\n\n".join([banner, CLAIM, CLAIM]), source="a")
    b = item(
        "\n\n".join([banner, "Regulators in the EU published the final text of the AI Act code of practice today."]),
        source="b",
    )
    texts = [i.text for i in extract_insights([a, b])]
    assert texts.count(CLAIM) == 1
    assert banner not in texts
    # ...but a long paragraph on two pages is content: both keep it, ranking merges them.
    assert len(extract_insights([item(CLAIM, "a"), item(CLAIM, "b")])) == 2


def test_long_paragraphs_are_cut_into_sentence_groups() -> None:
    sentence = "The committee reviewed twelve proposals for national compute reserves over the summer."
    found = extract_insights([item(" ".join([sentence] * 14))])
    assert len(found) >= 2
    assert all(i.text.endswith(".") for i in found)
    assert all(len(i.text.split()) <= 110 for i in found)


def test_normalize_text_folds_case_punctuation_and_space() -> None:
    assert normalize_text("China isn’t  giving—away AI!") == normalize_text("china isn t giving away ai")


def test_seed_readers_keep_structure() -> None:
    _, text, _ = read_text("Title line\n  • first bullet point here\nA paragraph.\n")
    assert text.split("\n\n") == ["Title line", "• first bullet point here", "A paragraph."]
    title, md, _ = read_markdown("# Notes\n\nSome *wrapped*\nparagraph [link](http://x).\n\n- item one\n- item two\n")
    assert title == "Notes"
    assert md.split("\n\n") == ["# Notes", "Some wrapped paragraph link.", "• item one", "• item two"]


def test_bundled_seeds_give_content_not_chrome() -> None:
    items = [it for r in read_seeds(ROOT / "seeds") for it in r.items]
    assert len(items) == 4
    texts = [i.text for i in extract_insights(items)]
    assert len(texts) >= 30
    for banned in ("We scan new podcasts", "Skip to content", "Resource ID", "truncated", "Longterm Wiki"):
        assert not any(banned in t for t in texts), banned
    assert all(len(t.split()) >= 8 for t in texts)
    # 002 and 003 repeat their opening paragraphs as a preview: each survives once per document.
    for it in items:
        own = [i.text for i in extract_insights([it])]
        assert len(own) == len(set(own))


@given(st.text(max_size=2000))
def test_extraction_never_raises(text: str) -> None:
    for insight in extract_insights([item(text)]):
        assert insight.text.strip()


def test_languages_without_spaces_are_read_too() -> None:
    zh = "国际货币基金组织警告说，尽管各国政府采取措施刺激经济，但全球经济恢复速度正在减弱。"
    menu = "首页 新闻 体育"
    found = extract_insights([item("\n\n".join([menu, zh]))])
    assert [i.text for i in found] == [zh]
    assert count_words(zh) >= 8 and count_words(menu) < 8
    long_zh = "".join([zh] * 12)
    chunks = extract_insights([item(long_zh)])
    assert len(chunks) > 1 and all(c.text.endswith("。") for c in chunks)


def test_long_articles_offer_their_most_informative_passages() -> None:
    filler = [f"This is body paragraph number {n} of a long article, with words but nothing much." for n in range(20)]
    strong = "In 2025 the EU AI Office fined three providers a total of 41 million euros under the AI Act."
    found = extract_insights([item("\n\n".join([*filler[:10], strong, *filler[10:]]))])
    assert len(found) == 12
    assert strong in [i.text for i in found]
    assert [i.position for i in found] == list(range(12))
