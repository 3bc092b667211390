"""Full text for feeds that carry only summaries (`full_text = true`): each new item's article
page is fetched, and its main text, found by trafilatura, replaces the summary.

Pages go through `fetch_all`, so a feed's limits hold for its articles too: http(s) only,
private addresses refused on every hop (unless allowed), the byte cap, the deadline, a few
per host, our User-Agent. Extracted HTML is as untrusted as feed HTML: it is sanitised and
turned into block text the same way, once, here.

A page that cannot be fetched, or has no main text longer than the summary, leaves its item
as the feed gave it: the source stays ok and its result carries a note saying how many were
not read. An item already stored keeps the text stored with it, so an article is read once,
not every run, and a changed feed never puts the summary back over the article.
trafilatura loads only when there is a page to read.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..config import FULL_TEXT_MISSING, FetchSettings, has_full_text_extractor
from ..errors import ConfigError, FetchError, ParseError, SourceError
from ..htmltext import html_to_text, sanitize_html
from ..models import FeedSpec, ItemData, RawFeed, SourceResult, SourceStatus
from .fetch import FetchOutcome, fetch_all

log = logging.getLogger("digest.sources.fulltext")

# A feed's first run (or one that renames every guid) must not turn into a crawl: with fetch.PER_HOST
# (4) pages of one host at a time this is five rounds of one deadline each, at worst. Items past it keep
# their summary.
MAX_ARTICLES_PER_FEED = 20
# Shorter "main text" is a cookie wall, a login prompt or an error page served as 200: keep the summary.
MIN_ARTICLE_CHARS = 100
# trafilatura's time grows faster than the page: 20,000 elements take about 1.4 s, 40,000 about 8 s and
# 150,000 (a 6 MB page of empty paragraphs, within the byte cap) over 100 s. Article pages have a few thousand.
MAX_PAGE_ELEMENTS = 20_000
HTML_TYPES = ("text/html", "application/xhtml+xml", "")  # "": no Content-Type, try it as HTML

StoredBodies = Callable[[str, Sequence[str]], Mapping[str, tuple[str, str]]]
"""(feed URL, guids) -> {guid: (text, html)} of the items already stored (Store.get_item_bodies)."""


@dataclass(slots=True)
class _Plan:
    """One feed's items, and which article pages to read for them."""

    items: list[ItemData]
    fetch: list[int] = field(default_factory=list)  # indexes into items
    over_cap: int = 0


def add_full_texts(
    results: Sequence[SourceResult],
    specs: Sequence[FeedSpec],
    settings: FetchSettings,
    stored: StoredBodies,
) -> list[SourceResult]:
    """`results` with the new items of full_text feeds carrying their article's main text.

    Results are matched to specs by URL; feeds without full_text come back as they went in.
    Raises ConfigError, before fetching a page, when a feed wants full text and trafilatura
    is not installed.
    """
    wanted = {s.url for s in specs if s.full_text}
    todo = [r for r in results if r.url in wanted and r.status is SourceStatus.OK and r.items]
    if not todo:
        return list(results)
    if not has_full_text_extractor():
        raise ConfigError(f"{todo[0].url} asks for full text, {FULL_TEXT_MISSING}")
    plans = {r.url: _plan(r, stored(r.url, [i.guid for i in r.items])) for r in todo}
    urls = list(dict.fromkeys(str(p.items[i].url) for p in plans.values() for i in p.fetch))
    pages = dict(zip(urls, _fetch_pages(urls, settings), strict=True))
    return [_apply(r, plans[r.url], pages) if r.url in plans else r for r in results]


def _plan(result: SourceResult, known: Mapping[str, tuple[str, str]]) -> _Plan:
    plan = _Plan(items=[])
    for item in result.items:
        if item.guid in known:  # read on an earlier run (or kept its summary then): as stored
            text, html = known[item.guid]
            plan.items.append(replace(item, text=text, html=html))
            continue
        plan.items.append(item)
        if not item.url:
            continue
        if len(plan.fetch) < MAX_ARTICLES_PER_FEED:
            plan.fetch.append(len(plan.items) - 1)
        else:
            plan.over_cap += 1
    return plan


def _fetch_pages(urls: Sequence[str], settings: FetchSettings) -> list[FetchOutcome]:
    return fetch_all([FeedSpec(url=u) for u in urls], settings, {}) if urls else []


def _apply(result: SourceResult, plan: _Plan, pages: Mapping[str, FetchOutcome]) -> SourceResult:
    items = plan.items
    failures: list[str] = []
    thin = 0
    for i in plan.fetch:
        item = items[i]
        page = pages[str(item.url)]
        try:
            text, html = _read(page)
        except SourceError as e:
            log.debug("full text of %s not read: %s", item.url, e.reason)
            failures.append(e.reason)
            continue
        if len(text) < MIN_ARTICLE_CHARS or len(text) <= len(item.text):
            log.debug("full text of %s: no main text longer than the summary", item.url)
            thin += 1
            continue
        items[i] = replace(item, text=text, html=html)
    note = _note(len(plan.fetch) + plan.over_cap, failures, thin, plan.over_cap)
    if note:
        log.warning("%s (%s): %s", result.name, result.url, note)
    return replace(result, items=tuple(items), note=note)


def _read(page: FetchOutcome) -> tuple[str, str]:
    if isinstance(page, RawFeed):
        return extract_article(page)
    if isinstance(page, FetchError):
        raise page
    raise FetchError(page.url, "not modified")  # impossible: no validators are sent for pages


def extract_article(page: RawFeed) -> tuple[str, str]:
    """(block text, sanitised HTML) of a page's main text; ("", "") when it has none.

    Raises ParseError for a page that is not HTML or that the extractor fails on.
    """
    headers = {k.lower(): v for k, v in page.headers.items()}
    ctype, _, params = headers.get("content-type", "").partition(";")
    ctype = ctype.strip().lower()
    if ctype not in HTML_TYPES:
        raise ParseError(page.url, f"not a web page but {ctype}")
    import trafilatura  # about 0.1 s to load; only runs with full_text feeds pay it

    try:
        tree = trafilatura.load_html(_decoded(page.content, params))
    except Exception as e:  # whatever a hostile page does to the extractor costs one article, never the run
        raise ParseError(page.url, f"not readable as HTML: {type(e).__name__}: {e}") from e
    if tree is None:  # not HTML after all
        return "", ""
    size = sum(1 for _ in tree.iter())
    if size > MAX_PAGE_ELEMENTS:
        raise ParseError(page.url, f"page too big to extract ({size} elements; at most {MAX_PAGE_ELEMENTS})")
    try:
        found = trafilatura.extract(
            tree,
            url=page.url,
            output_format="html",
            favor_precision=True,  # leave out what might be chrome: a shorter article beats a menu in the digest
            include_comments=False,
            include_images=False,  # article images are often trackers or need the page's own CSS
            include_links=True,
            include_tables=True,
        )
    except Exception as e:  # as above
        raise ParseError(page.url, f"extraction failed: {type(e).__name__}: {e}") from e
    if not found:
        return "", ""
    clean = sanitize_html(found, page.url)  # the article's final URL resolves its relative links
    return html_to_text(clean), clean


def _decoded(content: bytes, params: str) -> str | bytes:
    """The page as text when the server names its charset; else bytes, for trafilatura to detect."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            try:
                return content.decode(value.strip().strip("\"'"), errors="replace")
            except LookupError:  # an unknown charset name: let the extractor guess
                break
    return content


def _note(new: int, failures: Sequence[str], thin: int, over_cap: int) -> str | None:
    """'full text: 3 of 8 new articles kept the summary (HTTP 404 Not Found ×2; …)', or None."""
    reasons = Counter(failures)
    if thin:
        reasons["no main text longer than the summary"] = thin
    if over_cap:
        reasons[f"over the limit of {MAX_ARTICLES_PER_FEED} a run"] = over_cap
    if not reasons:
        return None
    why = "; ".join(reason + (f" ×{n}" if n > 1 else "") for reason, n in reasons.most_common())
    return f"full text: {reasons.total()} of {new} new articles kept the summary ({why})"
