"""Relative links in entry HTML resolve against the xml:base in force, else the feed's own URL.

feedparser's own URI resolver is off (FEEDPARSER_OPTIONS); nh3 resolves against the base
feedparser records for each piece of content.
"""

from __future__ import annotations

from digest.models import FeedSpec, RawFeed
from digest.sources.parse import FEEDPARSER_OPTIONS, parse_feed

FEED_URL = "https://feeds.example.net/mirror/atom.xml"

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/">
<title>Based</title><id>urn:based</id><updated>2026-11-23T09:00:00Z</updated>
<entry><title>One</title><id>urn:based:1</id><updated>2026-11-23T09:00:00Z</updated>
<content type="html">&lt;p&gt;See &lt;a href="/posts/one"&gt;the post&lt;/a&gt; and &lt;img src="img/one.png" alt="x"&gt;.&lt;/p&gt;</content></entry>
<entry xml:base="notes/"><title>Two</title><id>urn:based:2</id><updated>2026-11-23T09:00:00Z</updated>
<summary type="html">&lt;p&gt;Read &lt;a href="two.html"&gt;the note&lt;/a&gt;.&lt;/p&gt;</summary></entry>
</feed>"""

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Plain</title>
<item><title>Three</title><guid>3</guid><description>&lt;a href="/about"&gt;about&lt;/a&gt; &lt;a href="https://elsewhere.example/x"&gt;x&lt;/a&gt;</description></item>
</channel></rss>"""


def parse(body: bytes) -> list[str]:
    _, items = parse_feed(RawFeed(url=FEED_URL, content=body, headers={}), FeedSpec(url=FEED_URL))
    return [i.html for i in items]


def test_feedparser_leaves_resolving_to_us() -> None:
    assert FEEDPARSER_OPTIONS == {"sanitize_html": False, "resolve_relative_uris": False}


def test_xml_base_of_the_feed_and_of_an_entry_is_honoured() -> None:
    one, two = parse(ATOM)
    assert 'href="https://blog.example.org/posts/one"' in one
    assert 'src="https://blog.example.org/img/one.png"' in one
    assert 'href="https://blog.example.org/notes/two.html"' in two  # a relative xml:base nests


def test_without_xml_base_the_feed_url_is_the_base() -> None:
    (three,) = parse(RSS)
    assert 'href="https://feeds.example.net/about"' in three
    assert 'href="https://elsewhere.example/x"' in three
