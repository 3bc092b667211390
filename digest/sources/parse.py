"""Feed bytes -> ItemData (the only feedparser importer), plus a small JSON Feed reader.

A feed that is not well-formed still yields what feedparser recovers; a body with
no feed in it at all is a ParseError. Entry HTML is sanitised here, once.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import html
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..errors import ParseError
from ..htmltext import html_to_text, sanitize_html, scrub_text
from ..models import FeedSpec, ItemData, RawFeed
from ..urls import join

MAX_ENTRIES = 500  # a feed with more entries than this is truncated, newest first as served
FUTURE_SLACK = timedelta(days=1)  # clocks and time zones differ; further ahead is not believed
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json")
# feedparser's own sanitiser and URI resolver are about half its time (shared/bench): nh3 does
# both below, against the xml:base feedparser records for each piece of content.
FEEDPARSER_OPTIONS = {"sanitize_html": False, "resolve_relative_uris": False}
_SPACE = re.compile(r"\s+")
_LINK = re.compile(r"<link\b[^>]*>", re.I)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(["'])(.*?)\2""", re.S)
# feedparser's loose parser calls chr() on numeric character references: &#xD800; or &#1114112; raised.
_CHARREF = re.compile(rb"&#([xX][0-9a-fA-F]+|[0-9]+)")
_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # a link with these is broken or a trick


def parse_feed(raw: RawFeed, spec: FeedSpec) -> tuple[str, list[ItemData]]:
    """(feed title, items) of one fetched body."""
    if _looks_like_json_feed(raw):
        return _parse_json_feed(raw, spec)
    feedparser = _feedparser()
    try:
        parsed = feedparser.parse(
            _defuse_charrefs(raw.content),
            response_headers={k.lower(): v for k, v in raw.headers.items()},
            **FEEDPARSER_OPTIONS,
        )
    except (UnicodeError, ValueError, OverflowError) as e:  # what _defuse_charrefs cannot see (UTF-16)
        raise ParseError(raw.url, f"not a feed: {_short(str(e))}") from e
    if not parsed.entries and not parsed.get("version"):
        found = discover_feeds(raw.content, raw.url)
        if found:
            raise ParseError(raw.url, f"not a feed but a web page; its feed is probably {found[0]}")
        problem = parsed.get("bozo_exception")
        detail = f": {_short(str(problem))}" if problem else ""
        raise ParseError(raw.url, f"not a feed{detail}")
    title = " ".join(scrub_text(str(parsed.feed.get("title") or "")).split())
    source = spec.name or title or urlsplit(spec.url).hostname or spec.url
    items = [item for e in parsed.entries[:MAX_ENTRIES] if (item := _entry_item(e, spec, source, raw.url))]
    return title, items


@functools.cache
def _feedparser() -> Any:
    import feedparser

    from .fastpaths import install

    install(feedparser)
    return feedparser


def discover_feeds(body: bytes, base_url: str) -> list[str]:
    """Feed URLs a web page names with <link rel="alternate" type="application/rss+xml|atom+xml|feed+json">."""
    found = []
    for tag in _LINK.findall(body[:500_000].decode("utf-8", errors="replace")):
        attrs = {k.lower(): v for k, _, v in _ATTR.findall(tag)}
        if "alternate" in attrs.get("rel", "").lower().split() and attrs.get("type", "").lower() in FEED_TYPES:
            url = urljoin(base_url, html.unescape(attrs.get("href", "")))
            if url.lower().startswith(("http://", "https://")) and url not in found:
                found.append(url)
    return found


def _entry_item(entry: Any, spec: FeedSpec, source: str, feed_url: str) -> ItemData | None:
    body, base = _entry_body(entry)
    # Given bytes, feedparser has no base URL (only xml:base): relative links are resolved here.
    # Not via Content-Location, which would also rewrite RSS guids and so change every item's key.
    link = _absolute_link(_get(entry, "link"), feed_url)
    clean = sanitize_html(body, _base_url(feed_url, base)) if body else ""
    text = html_to_text(clean)
    title = _title_text(_get(entry, "title", ""))
    if not text and not title:
        return None
    # as served: keys stay stable
    guid = scrub_text(str(_get(entry, "id") or _get(entry, "link") or _hash(title, text)))
    published, date_note = _entry_date(entry)
    return ItemData(
        source=source,
        source_url=spec.url,
        guid=guid,
        title=title or _first_words(text),
        text=text or title,
        url=link,
        published=published,
        html=clean,
        weight=spec.weight,
        date_note=date_note,
    )


def _defuse_charrefs(content: bytes) -> bytes:
    """Character references chr() refuses (NUL, surrogates, past U+10FFFF) become U+FFFD, as in HTML5."""
    return _CHARREF.sub(_safe_charref, content)


def _safe_charref(match: re.Match[bytes]) -> bytes:
    ref = match.group(1)
    digits = ref[1:].lstrip(b"0") if ref[:1] in b"xX" else ref.lstrip(b"0")
    if len(digits) > 7:  # past U+10FFFF in any base (and int() of a huge string is slow)
        return b"&#xFFFD"
    code = int(ref[1:], 16) if ref[:1] in b"xX" else int(ref)
    return match.group(0) if 0 < code < 0xD800 or 0xDFFF < code <= 0x10FFFF else b"&#xFFFD"


# dict.get on feedparser's dicts: its own get() goes through __getitem__'s alias table and
# special keys, none of which is a key read here (link, title, id, content, value, base,
# summary, summary_detail, itunes_summary), so the value is the same, for ~3x less time.
_get = dict.get


def _title_text(title: str) -> str:
    if "<" not in title and "&" not in title:  # plain text, as most titles are: what html_to_text gives, faster
        return _SPACE.sub(" ", scrub_text(title)).strip()
    return html_to_text(title).replace("\n", " ").strip()


def _entry_body(entry: Any) -> tuple[str, str]:
    """The longest content, else the summary, with the xml:base in force where it stood."""
    content = _get(entry, "content")
    if content:
        best = max(content, key=lambda c: len(_get(c, "value", "")))
        if _get(best, "value"):
            return best["value"], _get(best, "base", "")
    summary = _get(entry, "summary")
    if summary:
        return summary, _get(_get(entry, "summary_detail", {}), "base", "")
    return _get(entry, "itunes_summary", ""), ""


def _base_url(feed_url: str, xml_base: str) -> str:
    # The document is the base, as for xml:base; a relative xml:base resolves against it.
    if not xml_base:
        return feed_url
    try:
        return urljoin(feed_url, scrub_text(xml_base))
    except ValueError:
        return feed_url


def _looks_like_json_feed(raw: RawFeed) -> bool:
    ctype = {k.lower(): v for k, v in raw.headers.items()}.get("content-type", "")
    return "json" in ctype or raw.content[:200].lstrip().removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")


def _parse_json_feed(raw: RawFeed, spec: FeedSpec) -> tuple[str, list[ItemData]]:
    try:
        doc = json.loads(raw.content)
    except (ValueError, UnicodeDecodeError) as e:
        raise ParseError(raw.url, f"not a feed: invalid JSON ({_short(str(e))})") from e
    except RecursionError:  # thousands of nested brackets: hostile, not a feed
        raise ParseError(raw.url, "not a feed: JSON nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ParseError(raw.url, "not a feed: JSON without an items list")
    title = _json_str(doc.get("title"))
    source = spec.name or title or urlsplit(spec.url).hostname or spec.url
    return title, list(_json_items(doc["items"][:MAX_ENTRIES], spec, source, raw.url))


def _json_items(entries: Iterable[Any], spec: FeedSpec, source: str, feed_url: str) -> Iterable[ItemData]:
    for e in entries:
        if not isinstance(e, dict):
            continue
        link = _absolute_link(e.get("url"), feed_url)
        body = _json_str(e.get("content_html"))
        clean = sanitize_html(body, feed_url) if body else ""  # the document is the base, as for xml:base
        text = html_to_text(clean) if clean else _json_str(e.get("content_text") or e.get("summary"))
        title = _json_str(e.get("title"))
        if not text and not title:
            continue
        published, date_note = _iso_date(e.get("date_published") or e.get("date_modified"))
        yield ItemData(
            source=source,
            source_url=spec.url,
            guid=_json_str(e.get("id")) or _json_str(e.get("url")) or _hash(title, text),
            title=title or _first_words(text),
            text=text or title,
            url=link,
            published=published,
            html=clean,
            weight=spec.weight,
            date_note=date_note,
        )


def _json_str(value: Any) -> str:
    # JSON Feed fields are plain strings, but a hostile feed may put anything there.
    if value is None or isinstance(value, (dict, list)):
        return ""
    return scrub_text(str(value)).strip()


def _absolute_link(value: Any, feed_url: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        url = join(feed_url, scrub_text(value.strip()))
    except ValueError:
        return None
    return url if _is_web_url(url) and not _URL_CONTROL.search(url) else None


# A bad date falls back to "undated" (neutral recency in ranking) and says why, so the
# run summary can name the feed: a date we cannot read, or one days ahead of our clock
# (a broken clock, or a trick to stay on top).


def _entry_date(entry: Any) -> tuple[datetime | None, str]:
    # dict.get skips feedparser's deprecated updated->published key mapping (and its warning)
    unread = None
    for key in ("published", "updated"):
        raw = dict.get(entry, key)
        struct = dict.get(entry, f"{key}_parsed")
        if struct:
            return _checked(_from_struct(struct), raw)
        unread = unread or raw
    return (None, f"unreadable date {_short(scrub_text(str(unread)), 40)!r}") if unread else (None, "")


def _from_struct(struct: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def _checked(when: datetime | None, raw: Any) -> tuple[datetime | None, str]:
    if when is None:
        return None, f"unreadable date {_short(scrub_text(str(raw or '')), 40)!r}"
    if when > datetime.now(UTC) + FUTURE_SLACK:
        return None, f"date in the future ({when.date().isoformat()})"
    return when, ""


def _iso_date(value: Any) -> tuple[datetime | None, str]:
    if value is None or value == "":
        return None, ""
    if not isinstance(value, str):
        return None, f"unreadable date {_short(scrub_text(str(value)), 40)!r}"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        when = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # not ISO 8601, or out of range once in UTC (year 1, +05:00)
        when = None
    return _checked(when, value)


def _is_web_url(url: Any) -> bool:
    return isinstance(url, str) and url.lower().startswith(("http://", "https://"))


def _hash(*parts: str) -> str:
    return "sha1:" + hashlib.sha1("\0".join(parts).encode()).hexdigest()


def _first_words(text: str, n: int = 12) -> str:
    words = text.split()
    return " ".join(words[:n]) + ("…" if len(words) > n else "")


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
