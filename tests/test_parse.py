"""parse_feed on bytes: RSS, Atom and JSON Feed to ItemData; the bozo policy; hostile content."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from digest.errors import ParseError
from digest.models import FeedSpec, ItemData, RawFeed
from digest.sources.parse import parse_feed
from tests.feedserver import ATOM, GOOD_RSS, HOSTILE_RSS, MALFORMED

FEED_URL = "https://news.example/feeds/main.xml"


def parse(body: bytes, *, headers: dict[str, str] | None = None, **spec: object) -> tuple[str, list[ItemData]]:
    raw = RawFeed(url=FEED_URL, content=body, headers=headers or {})
    return parse_feed(raw, FeedSpec(url=FEED_URL, **spec))  # type: ignore[arg-type]


def rss(*items: str, title: str = "T") -> bytes:
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{"".join(items)}</channel></rss>'.encode()


def test_rss_items_carry_everything_downstream_needs() -> None:
    title, items = parse(GOOD_RSS, name="Daily", weight=2.0)
    assert title == "Loopback Daily"
    assert [i.title for i in items] == ["First story", "Second story", "Third story"]
    assert [i.guid for i in items] == ["good-1", "good-2", "good-3"]
    first, second, third = items
    assert first.url == "https://example.org/first"
    assert first.published == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert second.published is None
    assert first.text == "Grid storage grew by eleven gigawatts in one year."
    assert second.text == "• One point\n\n• Another point"
    assert {(i.source, i.source_url, i.weight) for i in items} == {("Daily", FEED_URL, 2.0)}
    # relative links resolve against the feed's own URL
    assert third.url == "https://news.example/relative/third"
    assert 'href="https://news.example/about"' in third.html


def test_atom_dates_are_utc_and_headings_are_marked() -> None:
    title, (entry, summary_only) = parse(ATOM)
    assert title == "Atom Notes"
    assert entry.published == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert entry.published.utcoffset() is not None and entry.published.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert entry.text == "# Heading\n\nBody of the atom entry."
    assert (summary_only.guid, summary_only.text) == ("urn:atom-notes:2", "Just a summary.")


@pytest.mark.parametrize(
    ("spec_name", "feed_title", "source"),
    [("Mine", "Theirs", "Mine"), (None, "Theirs", "Theirs"), (None, "", "news.example")],
)
def test_source_name_is_the_configured_name_then_the_feed_title_then_the_host(
    spec_name: str | None, feed_title: str, source: str
) -> None:
    _, (item,) = parse(rss("<item><title>x</title><guid>1</guid></item>", title=feed_title), name=spec_name)
    assert item.source == source


def test_guid_falls_back_to_link_then_a_stable_hash() -> None:
    body = rss(
        "<item><title>A</title><link>https://example.org/a</link></item>",
        "<item><title>B</title><description>body b</description></item>",
        "<item><title>C</title><description>body c</description></item>",
    )
    _, (a, b, c) = parse(body)
    assert a.guid == "https://example.org/a"
    assert b.guid.startswith("sha1:") and b.guid != c.guid
    assert parse(body)[1][1].guid == b.guid  # the same entry gets the same guid on every run


def test_an_entry_with_neither_title_nor_text_is_skipped() -> None:
    body = rss("<item><guid>empty</guid><description>&lt;script&gt;x()&lt;/script&gt;</description></item>",
               "<item><guid>kept</guid><description>Only a body.</description></item>")  # fmt: skip
    _, items = parse(body)
    assert [(i.guid, i.title, i.text) for i in items] == [("kept", "Only a body.", "Only a body.")]


def test_a_bozo_feed_still_yields_its_entries() -> None:
    body = rss("<item><title>Fish & chips</title><guid>1</guid><description>Unescaped & ampersand</description></item>")
    _, (item,) = parse(body)
    assert item.title == "Fish & chips" and "ampersand" in item.text


def test_response_headers_reach_feedparser() -> None:
    # No encoding in the XML declaration: only the HTTP header says latin-1.
    body = rss("<item><title>Café</title><guid>1</guid></item>").decode().encode("latin-1")
    _, (item,) = parse(body, headers={"Content-Type": "application/rss+xml; charset=iso-8859-1"})
    assert item.title == "Café"


@pytest.mark.parametrize(
    "body",
    [MALFORMED, b"", b"<html><head><title>Shop</title></head><body><p>Buy!</p></body></html>", b"plain words"],
)
def test_a_body_that_is_not_a_feed_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(body)
    assert info.value.reason.startswith("not a feed")
    assert info.value.url == FEED_URL


def test_hostile_entry_is_sanitised() -> None:
    _, (item,) = parse(HOSTILE_RSS)
    html = item.html.lower()
    for bad in ("<script", "<iframe", "<svg", "<style", "<form", "<input", "javascript:", "data:", "steal("):
        assert bad not in html, bad
    assert not re.search(r"<[^>]*\son\w+\s*=", html)
    (img,) = re.findall(r"<img[^>]*>", item.html)
    assert 'src="https://img.example/ok.png"' in img and 'alt="ok"' in img
    assert item.url is None  # a javascript: link is no link
    assert item.title == "Harmless title"
    assert "pwned" not in item.text and "svg text" not in item.text and "Log in" not in item.text


# --- JSON Feed -----------------------------------------------------------------


def json_feed(*items: object, **top: object) -> bytes:
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "J", **top, "items": list(items)}
    ).encode()


@pytest.mark.parametrize("headers", [{"Content-Type": "application/feed+json"}, {}])
def test_json_feed_by_content_type_or_by_its_first_byte(headers: dict[str, str]) -> None:
    body = json_feed(
        {"id": "j1", "url": "/posts/1", "title": "Hello", "content_html": "<p>Body <a href='/x'>x</a></p>",
         "date_published": "2026-11-23T10:00:00+02:00"},
        {"id": 2, "content_text": "Plain text only."},
    )  # fmt: skip
    title, (first, second) = parse(b"\n  " + body, headers=headers)
    assert title == "J"
    assert (first.guid, first.title, first.text) == ("j1", "Hello", "Body x")
    assert first.url == "https://news.example/posts/1"
    assert 'href="https://news.example/x"' in first.html
    assert first.published == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert (second.guid, second.text, second.html) == ("2", "Plain text only.", "")


def test_json_feed_with_hostile_values_gives_clean_strings() -> None:
    body = json_feed(
        {"id": "a", "title": {"not": "a string"}, "content_text": "text", "url": "javascript:alert(1)"},
        {"id": "b", "title": "bad \ud800 surrogate", "content_html": "<script>x()</script><p>ok</p>",
         "date_published": "0001-01-01T00:00:00+05:00"},
        "not an object",
    )  # fmt: skip
    _, (a, b) = parse(body)
    assert (a.title, a.url) == ("text", None)
    assert b.title == "bad \ufffd surrogate" and b.html == "<p>ok</p>" and b.published is None
    b.title.encode("utf-8")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not a feed: invalid JSON"),
        (
            b'{"version": "https://jsonfeed.org/version/1", "title": "no items"}',
            "not a feed: JSON without an items list",
        ),
        (b"[" * 100_000, "not a feed"),
        (b'{"items": ' + b"[" * 100_000, "not a feed"),
    ],
)
def test_broken_json_is_a_parse_error(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=re.escape(reason)):
        parse(body, headers={"Content-Type": "application/feed+json"})


def test_unreadable_and_future_dates_fall_back_to_undated_and_are_flagged() -> None:
    _, items = parse(
        rss(
            "<item><guid>ok</guid><title>ok</title><pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>",
            "<item><guid>garbage</guid><title>garbage</title><pubDate>the day after tomorrow</pubDate></item>",
            "<item><guid>future</guid><title>future</title><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>",
            "<item><guid>none</guid><title>none</title></item>",
        )
    )
    by_guid = {i.guid: i for i in items}
    assert by_guid["ok"].published == datetime(2026, 11, 23, 8, 0, tzinfo=UTC) and by_guid["ok"].date_note == ""
    assert by_guid["garbage"].published is None
    assert by_guid["garbage"].date_note == "unreadable date 'the day after tomorrow'"
    assert by_guid["future"].published is None
    assert by_guid["future"].date_note == "date in the future (2100-01-01)"
    assert by_guid["none"].published is None and by_guid["none"].date_note == ""  # no date is not an error


def test_a_readable_updated_date_wins_over_an_unreadable_published_one() -> None:
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
    <entry><id>e1</id><title>t</title><published>yesterday-ish</published>
    <updated>2026-11-20T10:00:00Z</updated><summary>s</summary></entry></feed>"""
    _, (item,) = parse(atom)
    assert item.published == datetime(2026, 11, 20, 10, 0, tzinfo=UTC) and item.date_note == ""


def test_json_feed_dates_are_flagged_the_same_way() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [
            {"id": "a", "content_text": "a", "date_published": "not a date"},
            {"id": "b", "content_text": "b", "date_published": "2100-01-01T00:00:00Z"},
            {"id": "c", "content_text": "c", "date_published": 12345},
            {"id": "d", "content_text": "d"},
        ],
    }
    _, items = parse(json.dumps(doc).encode(), headers={"Content-Type": "application/feed+json"})
    assert [(i.guid, i.published, i.date_note) for i in items] == [
        ("a", None, "unreadable date 'not a date'"),
        ("b", None, "date in the future (2100-01-01)"),
        ("c", None, "unreadable date '12345'"),
        ("d", None, ""),
    ]
