"""Cut items into candidate insights and leave site chrome out (pure: no I/O).

An item's text arrives as blocks separated by blank lines ("• " marks a list
item, "# " a heading; see ItemData). A block becomes a candidate when it reads
like a complete claim; menus, calls to action, metadata lines, truncated
fragments and lines repeated across documents are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

from .models import Insight, InsightKind, ItemData

MIN_WORDS = 8  # shorter blocks are labels, menu entries or buttons, not claims
MAX_WORDS = 110  # longer paragraphs are cut into sentence groups of about half that
CHUNK_WORDS = 60
BOILERPLATE_MAX_WORDS = 15  # a block this short seen in two or more items is boilerplate
CTA_MAX_WORDS = 25  # a call to action is short; a long paragraph that mentions "subscribe" is content
MIN_LETTER_RATIO = 0.6  # tables and IDs glued together ("CruxesCrux66.0") fall below
MAX_PER_ITEM = 12  # a long article offers its most informative passages, not every line

# Section labels whose content is a summary of the item (worth more than body text).
SUMMARY_HEADINGS = re.compile(r"^(summary|tl;?dr|abstract|overview|in brief)\b", re.I)
KEY_POINT_HEADINGS = re.compile(r"^(key (points|takeaways|insights|findings)|takeaways|highlights|main points)\b", re.I)
# Sections that hold metadata or link lists rather than claims.
SKIP_HEADINGS = re.compile(
    r"^(metadata|cited by|tags|categories|share|comments|references|related (posts|articles))\b",
    re.I,
)
TERMINAL = tuple(".!?\"'”’»)]:;。！？」』）…")
TRUNCATION = re.compile(r"(\(truncated\b|\[\s*(…|\.\.\.)\s*\]|(…|\.\.\.)\s*$|\bread more\b\W*$)", re.I)
METADATA = re.compile(
    r"^(published (on|in|by)|posted (on|in|by)|updated( on)?|by [A-Z]|resource id|stable id|"
    r"importance:|http \d{3}|fetched\b|tags?:|filed under|categories?:|photo:|image:|source:|"
    r"copyright|©|all rights reserved|last (updated|modified)|reading time|\d+ min read)",
    re.I,
)
CALL_TO_ACTION = re.compile(
    r"\b(subscribe|sign up|sign in|log in|get (your|the|our) free|download (the|our) app|"
    r"click here|follow us|join (our|the) (newsletter|community)|we scan new|send you the top|"
    r"accept (all )?cookies|cookie (policy|settings)|privacy policy|terms of (service|use)|"
    r"share (this|on)|leave a comment|support us|donate|buy now|free trial|unsubscribe)\b",
    re.I,
)
# Han, kana and the like: no spaces between words, about 1.6 characters a word.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CJK_CHARS_PER_WORD = 1.6
_CJK_SENTENCE_END = re.compile(r"(?<=[。！？])")
IDEAL_WORDS = (25, 70)  # long enough to stand alone, short enough to read in a glance
_META = re.compile(
    r"^(this|the) (article|post|episode|piece|report|paper|video)\b|^in this (article|post|episode)\b",
    re.I,
)
_SPECIFIC = re.compile(r"\d|[A-Z][a-z]+[A-Z]|\b[A-Z]{2,}\b")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’)]))\s+(?=[\"“‘(]?[A-Z0-9])")
_SPACE = re.compile(r"\s+")


def extract_insights(items: Sequence[ItemData]) -> list[Insight]:
    """All candidate insights of a run's items, boilerplate shared across items removed."""
    blocks_per_item = [list(_iter_blocks(item.text)) for item in items]
    boilerplate = _repeated_short_blocks(blocks_per_item)
    out: list[Insight] = []
    for item, blocks in zip(items, blocks_per_item, strict=True):
        out.extend(_item_insights(item, blocks, boilerplate))
    return out


def normalize_text(text: str) -> str:
    """Case, accents, punctuation and spacing folded away: the key for exact duplicates."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c if c.isalnum() else " " for c in text)
    return _SPACE.sub(" ", text).strip()


def count_words(text: str) -> int:
    """Words, counting runs of CJK characters (which have no spaces) at about 1.6 characters a word."""
    cjk = len(_CJK.findall(text))
    if not cjk:
        return len(text.split())
    return len(_CJK.sub(" ", text).split()) + round(cjk / CJK_CHARS_PER_WORD)


def informativeness(text: str) -> float:
    """Specific, complete statements score high; questions, teasers and meta-talk low."""
    words = text.split()
    n = count_words(text)
    low, high = IDEAL_WORDS
    length = min(1.0, n / low) if n < low else max(0.4, 1 - (n - high) / (2 * high)) if n > high else 1.0
    capitals = sum(1 for w in words[1:] if w[:1].isupper())
    specificity = min(1.0, 0.4 + 0.15 * capitals + (0.2 if _SPECIFIC.search(text) else 0.0))
    penalty = 0.5 if text.rstrip().endswith("?") else 1.0
    penalty *= 0.6 if _META.match(text) else 1.0
    return round(penalty * (0.6 * length + 0.4 * specificity), 4)


def is_chrome(text: str, *, bullet: bool = False) -> bool:
    """True for blocks that are site furniture rather than content."""
    words = count_words(text)
    if words < MIN_WORDS:
        return True
    if METADATA.match(text) or TRUNCATION.search(text):
        return True
    if words <= CTA_MAX_WORDS and CALL_TO_ACTION.search(text):
        return True
    letters = sum(c.isalpha() or c.isspace() for c in text)
    if letters / len(text) < MIN_LETTER_RATIO:
        return True
    # Bullet points often omit the full stop; body text without one is a title,
    # a byline or a fragment cut off mid-sentence.
    return not bullet and not text.rstrip().endswith(TERMINAL)


def _iter_blocks(text: str) -> Iterable[tuple[str, str]]:
    """(kind, text) for each block: kind is 'heading', 'bullet' or 'para'."""
    for raw in re.split(r"\n\s*\n", text):
        block = _SPACE.sub(" ", raw).strip()
        if not block:
            continue
        if block.startswith("# "):
            yield "heading", block[2:].strip()
        elif block.startswith(("• ", "· ", "- ", "* ")):
            yield "bullet", block[2:].strip()
        else:
            yield "para", block


def _repeated_short_blocks(blocks_per_item: Sequence[list[tuple[str, str]]]) -> set[str]:
    counts: Counter[str] = Counter()
    for blocks in blocks_per_item:
        short = {normalize_text(t) for _, t in blocks if count_words(t) <= BOILERPLATE_MAX_WORDS}
        counts.update(short)
    return {key for key, n in counts.items() if n >= 2 and key}


def _item_insights(item: ItemData, blocks: list[tuple[str, str]], boilerplate: set[str]) -> list[Insight]:
    out: list[Insight] = []
    seen: set[str] = set()
    section = InsightKind.PARAGRAPH
    skipping = False
    for kind, text in blocks:
        if kind == "heading" or _looks_like_label(kind, text):
            section, skipping = _section_for(text)
            continue
        if skipping:
            # A skipped section (metadata, "cited by") ends at the next label-like line.
            skipping = not (kind == "para" and count_words(text) <= 6 and not text.endswith(TERMINAL))
            continue
        key = normalize_text(text)
        if key in seen or key in boilerplate or is_chrome(text, bullet=kind == "bullet"):
            continue
        seen.add(key)
        insight_kind = _kind_for(kind, section)
        for chunk in _chunks(text):
            out.append(Insight(text=chunk, item=item, position=len(out), kind=insight_kind))
    if len(out) > MAX_PER_ITEM:
        keep = sorted(out, key=lambda i: (-informativeness(i.text), i.position))[:MAX_PER_ITEM]
        out = [replace(i, position=n) for n, i in enumerate(sorted(keep, key=lambda i: i.position))]
    return out


def _looks_like_label(kind: str, text: str) -> bool:
    """Short unpunctuated lines such as 'Summary' or 'Key Points' open a section."""
    if kind != "para" or count_words(text) > 4 or text.endswith(TERMINAL):
        return False
    return bool(SUMMARY_HEADINGS.match(text) or KEY_POINT_HEADINGS.match(text) or SKIP_HEADINGS.match(text))


def _section_for(heading: str) -> tuple[InsightKind, bool]:
    if SUMMARY_HEADINGS.match(heading):
        return InsightKind.SUMMARY, False
    if KEY_POINT_HEADINGS.match(heading):
        return InsightKind.KEY_POINT, False
    return InsightKind.PARAGRAPH, bool(SKIP_HEADINGS.match(heading))


def _kind_for(block_kind: str, section: InsightKind) -> InsightKind:
    if section is not InsightKind.PARAGRAPH:
        return section
    return InsightKind.BULLET if block_kind == "bullet" else InsightKind.PARAGRAPH


def _chunks(text: str) -> list[str]:
    """A long paragraph becomes groups of whole sentences of about CHUNK_WORDS words."""
    if count_words(text) <= MAX_WORDS:
        return [text]
    cjk = bool(_CJK.search(text))
    joiner = "" if cjk else " "
    chunks: list[str] = []
    current: list[str] = []
    for sentence in (_CJK_SENTENCE_END if cjk else _SENTENCE_END).split(text):
        if not sentence.strip():
            continue
        current.append(sentence)
        if sum(count_words(s) for s in current) >= CHUNK_WORDS:
            chunks.append(joiner.join(current))
            current = []
    if current:
        tail = joiner.join(current)
        if chunks and count_words(tail) < MIN_WORDS * 2:
            chunks[-1] = f"{chunks[-1]}{joiner}{tail}"
        else:
            chunks.append(tail)
    return chunks
