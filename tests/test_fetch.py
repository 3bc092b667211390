"""Fetching and parsing real feeds from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip

import pytest

from digest.config import FetchSettings
from digest.models import FeedSpec, SourceStatus
from digest.sources import gather_feeds
from tests.http_server import Response, http_server

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Loopback News</title>
<item><title>First</title><link>https://example.org/1</link><guid>1</guid>
<description>&lt;p&gt;Alpha beta gamma delta epsilon zeta eta theta iota kappa.&lt;/p&gt;</description></item>
<item><title>Second</title><guid isPermaLink="false">2</guid>
<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/">&lt;p&gt;Long body.&lt;/p&gt;</content:encoded></item>
</channel></rss>"""
HOSTILE = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>
<item><title>&lt;script&gt;window.pwned=1&lt;/script&gt;Title</title><link>javascript:alert(1)</link><guid>h</guid>
<description>&lt;p onmouseover="window.pwned=1"&gt;Text &lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;svg onload="x()"&gt;&lt;/svg&gt;&lt;iframe src="http://evil"&gt;&lt;/iframe&gt;&lt;img src="https://ok.example/i.png" onerror="x()"&gt;&lt;/p&gt;</description></item>
</channel></rss>"""
JSON_FEED = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "JSON News",
 "items": [{"id": "j1", "url": "https://example.org/j1", "title": "Hello", "content_html": "<p>Body of the item.</p>",
 "date_published": "2026-11-23T08:00:00Z"}]}"""
LOOPBACK = FetchSettings(timeout_seconds=2, allow_private_networks=True)


def gather(*urls: str, settings: FetchSettings = LOOPBACK, validators=None):  # type: ignore[no-untyped-def]
    return gather_feeds([FeedSpec(url=u, name=u.rsplit("/", 1)[-1]) for u in urls], settings, validators or {})


def test_good_feed_gives_items_and_validators() -> None:
    with http_server() as site:
        site.add(
            "/rss",
            Response(
                body=RSS,
                headers={
                    "Content-Type": "application/rss+xml",
                    "ETag": '"abc"',
                    "Last-Modified": "Mon, 23 Nov 2026 10:00:00 GMT",
                },
            ),
        )
        (result,) = gather(f"{site.base}/rss")
    assert result.status is SourceStatus.OK
    assert [i.title for i in result.items] == ["First", "Second"]
    assert result.items[0].url == "https://example.org/1" and result.items[1].url is None
    assert "Alpha beta" in result.items[0].text and result.items[1].text == "Long body."
    assert (result.etag, result.last_modified) == ('"abc"', "Mon, 23 Nov 2026 10:00:00 GMT")


def test_conditional_get_answers_not_modified() -> None:
    def conditional(handler):  # type: ignore[no-untyped-def]
        if handler.headers.get("If-None-Match") == '"abc"':
            return Response(304)
        return Response(body=RSS, headers={"ETag": '"abc"'})

    with http_server() as site:
        site.add("/rss", conditional)
        (result,) = gather(f"{site.base}/rss", validators={f"{site.base}/rss": ('"abc"', None)})
    assert result.status is SourceStatus.NOT_MODIFIED and result.items == ()
    assert site.hits[0][1]["if-none-match"] == '"abc"'
    assert site.hits[0][1]["user-agent"].startswith("digest/")


def test_each_failure_is_a_value_with_a_reason_and_others_succeed() -> None:
    with http_server() as site:
        site.add("/good", Response(body=RSS))
        site.add("/e500", Response(500, b"oops"))
        site.add("/e404", Response(404, b"gone"))
        site.add("/slow", Response(body=RSS, delay=3))
        site.add(
            "/html", Response(body=b"<html><body><p>Welcome!</p></body></html>", headers={"Content-Type": "text/html"})
        )
        site.add("/big", Response(body=b"<rss>" + b"x" * 50_000))
        site.add("/loop", Response(302, headers={"Location": "/loop"}))
        settings = FetchSettings(timeout_seconds=1, allow_private_networks=True, max_bytes=20_000)
        results = gather(
            *(f"{site.base}/{p}" for p in ("good", "e500", "e404", "slow", "html", "big", "loop")), settings=settings
        )
    by_name = {r.name: r for r in results}
    assert by_name["good"].status is SourceStatus.OK
    reasons = {n: r.error or "" for n, r in by_name.items() if r.status is SourceStatus.FAILED}
    assert set(reasons) == {"e500", "e404", "slow", "html", "big", "loop"}
    assert reasons["e500"] == "HTTP 500 Internal Server Error"
    assert "404" in reasons["e404"]
    assert "timed out after 1 s" in reasons["slow"]
    assert reasons["html"].startswith("not a feed")
    assert "larger than 20000 bytes" in reasons["big"]
    assert "redirects" in reasons["loop"]


def test_redirect_and_gzip_are_followed() -> None:
    with http_server() as site:
        site.add("/old", Response(301, headers={"Location": "/new"}))
        site.add("/new", Response(body=gzip.compress(RSS), headers={"Content-Encoding": "gzip"}))
        (result,) = gather(f"{site.base}/old")
    assert result.status is SourceStatus.OK and len(result.items) == 2
    assert result.final_url == f"{site.base}/new"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_refused_unless_allowed(host: str) -> None:
    with http_server() as site:
        site.add("/rss", Response(body=RSS))
        url = site.base.replace("127.0.0.1", host) + "/rss"
        (result,) = gather(url, settings=FetchSettings(timeout_seconds=2))
    assert result.status is SourceStatus.FAILED
    assert "loopback" in (result.error or "") and "allow_private_networks" in (result.error or "")
    assert site.hits == []  # refused before any request


def test_redirect_to_a_private_address_is_refused_on_that_hop() -> None:
    # No packet may leave loopback, so the public first hop is answered by httpx's MockTransport.
    import asyncio

    import httpx

    from digest.errors import FetchError
    from digest.sources.fetch import fetch_feed

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await fetch_feed(client, FeedSpec(url="http://93.184.215.14/feed"), FetchSettings(timeout_seconds=2))

    with pytest.raises(FetchError, match="169.254.169.254, a link-local address"):
        asyncio.run(run())
    assert seen == ["http://93.184.215.14/feed"]  # the internal address was never requested


def test_non_http_schemes_are_refused() -> None:
    (result,) = gather("ftp://127.0.0.1/feed")
    assert result.status is SourceStatus.FAILED and "only http and https" in (result.error or "")


def test_hostile_html_is_sanitised_at_the_edge() -> None:
    with http_server() as site:
        site.add("/h", Response(body=HOSTILE))
        (result,) = gather(f"{site.base}/h")
    item = result.items[0]
    for bad in ("<script", "onmouseover", "onerror", "javascript:", "<svg", "<iframe", "onload"):
        assert bad not in item.html, bad
    assert 'src="https://ok.example/i.png"' in item.html
    assert item.url is None  # a javascript: link is no link
    assert item.title == "Title"  # markup in a title is dropped; what is left is plain text


def test_json_feed() -> None:
    with http_server() as site:
        site.add("/j", Response(body=JSON_FEED, headers={"Content-Type": "application/feed+json"}))
        (result,) = gather(f"{site.base}/j")
    assert result.status is SourceStatus.OK
    (item,) = result.items
    assert (item.guid, item.title, item.text) == ("j1", "Hello", "Body of the item.")
    assert item.published is not None and item.published.isoformat() == "2026-11-23T08:00:00+00:00"


def test_a_web_page_names_its_feed() -> None:
    page = b"""<!doctype html><html><head><title>Blog</title>
    <link rel="stylesheet" href="/s.css"><link rel="alternate" type="application/atom+xml" href="/feeds/all.atom.xml">
    </head><body><p>Hello</p></body></html>"""
    with http_server() as site:
        site.add("/", Response(body=page, headers={"Content-Type": "text/html"}))
        (result,) = gather(f"{site.base}/")
    assert result.status is SourceStatus.FAILED
    assert result.error == f"not a feed but a web page; its feed is probably {site.base}/feeds/all.atom.xml"


def test_far_future_dates_are_not_believed() -> None:
    body = RSS.replace(b"<guid>1</guid>", b"<guid>1</guid><pubDate>Mon, 01 Jan 2091 00:00:00 GMT</pubDate>")
    body = body.replace(
        b'<guid isPermaLink="false">2</guid>',
        b'<guid isPermaLink="false">2</guid><pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>',
    )
    with http_server() as site:
        site.add("/rss", Response(body=body))
        (result,) = gather(f"{site.base}/rss")
    first, second = result.items
    assert first.published is None
    assert second.published is not None and second.published.year == 2026


def test_one_host_is_never_asked_more_than_four_at_a_time() -> None:
    import threading

    active, peak, lock = [0], [0], threading.Lock()

    def slow(handler):  # type: ignore[no-untyped-def]
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        import time

        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return Response(body=RSS)

    with http_server() as site:
        for i in range(12):
            site.add(f"/f{i}", slow)
        results = gather(*(f"{site.base}/f{i}" for i in range(12)))
    assert all(r.status is SourceStatus.OK for r in results)
    assert peak[0] == 4
