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

    with pytest.raises(FetchError, match="refused: 169.254.169.254 is a link-local address"):
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


# --- on the standard feed site (tests/feedserver.py, the `feedserver` fixture) -------------

FAST = FetchSettings(timeout_seconds=0.5, max_bytes=16 * 1024, allow_private_networks=True)


def gather_paths(site, *paths: str, settings: FetchSettings = FAST, validators=None):  # type: ignore[no-untyped-def]
    specs = [FeedSpec(url=f"{site.base}{p}", name=p) for p in paths]
    return {r.name: r for r in gather_feeds(specs, settings, validators or {})}


def test_second_fetch_with_the_stored_validators_is_not_modified(feedserver) -> None:  # type: ignore[no-untyped-def]
    from tests.feedserver import GOOD_ETAG, GOOD_LAST_MODIFIED

    first = gather_paths(feedserver, "/good.xml")["/good.xml"]
    assert first.status is SourceStatus.OK and len(first.items) == 3
    assert (first.etag, first.last_modified) == (GOOD_ETAG, GOOD_LAST_MODIFIED)
    stored = {first.url: (first.etag, first.last_modified)}
    second = gather_paths(feedserver, "/good.xml", validators=stored)["/good.xml"]
    assert second.status is SourceStatus.NOT_MODIFIED and second.items == ()
    assert (second.etag, second.last_modified) == (GOOD_ETAG, GOOD_LAST_MODIFIED)  # kept for the next run
    (_, plain), (_, conditional) = feedserver.hits
    assert "if-none-match" not in plain
    assert conditional["if-none-match"] == GOOD_ETAG and conditional["if-modified-since"] == GOOD_LAST_MODIFIED


def test_failures_are_values_beside_a_good_feed_in_one_call(feedserver) -> None:  # type: ignore[no-untyped-def]
    import time

    started = time.perf_counter()
    results = gather_paths(feedserver, "/good.xml", "/error500", "/slow", "/malformed", "/big", "/missing")
    elapsed = time.perf_counter() - started
    assert results["/good.xml"].status is SourceStatus.OK and len(results["/good.xml"].items) == 3
    failed = {name: r.error for name, r in results.items() if r.status is SourceStatus.FAILED}
    assert failed == {
        "/error500": "HTTP 500 Internal Server Error",
        "/slow": "timed out after 0.5 s",
        "/malformed": failed["/malformed"],
        "/big": failed["/big"],
        "/missing": "HTTP 404 Not Found",
    }
    assert (failed["/malformed"] or "").startswith("not a feed")
    assert (failed["/big"] or "").startswith("response larger than 16384 bytes")
    assert elapsed < 2  # the slow server costs its deadline, not its 3 s


def test_a_compressed_body_is_cut_off_by_what_it_inflates_to(feedserver) -> None:  # type: ignore[no-untyped-def]
    # Content-Length counts the small gzip body, so only counting inflated bytes while streaming stops it.
    body = gzip.compress(b"<rss>" + b"x" * 50_000)
    feedserver.add("/packed", Response(body=body, headers={"Content-Encoding": "gzip"}))
    result = gather_paths(feedserver, "/packed")["/packed"]
    assert len(body) < 16 * 1024
    assert result.status is SourceStatus.FAILED and result.error == "response larger than 16384 bytes; cut off"


def test_loopback_refusal_names_the_address_and_the_setting(feedserver) -> None:  # type: ignore[no-untyped-def]
    strict = FetchSettings(timeout_seconds=0.5)
    result = gather_paths(feedserver, "/good.xml", settings=strict)["/good.xml"]
    assert result.status is SourceStatus.FAILED
    assert result.error == (
        "refused: 127.0.0.1 is a loopback address; set [fetch] allow_private_networks = true to allow"
    )
    assert feedserver.hits == []


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://[::ffff:127.0.0.1]/feed", "loopback"),  # IPv4-mapped: Python 3.11 alone would not call it loopback
        ("http://10.0.0.8/feed", "private"),
        ("http://[fe80::1]/feed", "link-local"),
        ("http://100.64.0.1/feed", "non-public"),
        ("http://224.0.0.1/feed", "reserved"),
    ],
)
def test_every_non_public_address_kind_is_refused_before_connecting(url: str, kind: str) -> None:
    # The address check alone: nothing here may ever send a packet off loopback, even if it regressed.
    import asyncio

    from digest.errors import FetchError
    from digest.sources.fetch import check_address

    with pytest.raises(FetchError, match=f"a {kind} address"):
        asyncio.run(check_address(url, allow_private=False))


def test_a_redirect_is_followed_to_the_feed(feedserver) -> None:  # type: ignore[no-untyped-def]
    result = gather_paths(feedserver, "/redirect")["/redirect"]
    assert result.status is SourceStatus.OK and len(result.items) == 3
    assert result.final_url == f"{feedserver.base}/good.xml"
    assert result.moved_to is None  # a 302 is temporary: the subscription keeps its URL
    assert [path for path, _ in feedserver.hits] == ["/redirect", "/good.xml"]


def test_the_hostile_feed_arrives_sanitised(feedserver) -> None:  # type: ignore[no-untyped-def]
    import re

    (item,) = gather_paths(feedserver, "/hostile.xml")["/hostile.xml"].items
    html = item.html.lower()
    for bad in ("<script", "javascript:", "<iframe", "<svg", "<form", "data:"):
        assert bad not in html, bad
    assert not re.search(r"<[^>]*\son\w+\s*=", html)
    assert item.url is None and item.title == "Harmless title"


@pytest.mark.parametrize("url", ["http://[::1/feed", "http://" + "a" * 70 + ".example/feed", "http://h:99999/"])
def test_an_unusable_url_fails_alone(feedserver, url: str) -> None:  # type: ignore[no-untyped-def]
    specs = [FeedSpec(url=url, name="bad"), FeedSpec(url=f"{feedserver.base}/good.xml", name="good")]
    bad, good = gather_feeds(specs, FetchSettings(timeout_seconds=0.5), {})
    assert bad.status is SourceStatus.FAILED and (bad.error or "").startswith("invalid URL")
    assert good.status is SourceStatus.FAILED and "loopback" in (good.error or "")  # reached, and judged, on its own


def test_a_busy_host_does_not_hold_slots_other_hosts_need(feedserver) -> None:  # type: ignore[no-untyped-def]
    import time

    started, seen = time.monotonic(), {}

    def slow(handler):  # type: ignore[no-untyped-def]
        time.sleep(0.4)
        return Response(body=RSS)

    def stamp(handler):  # type: ignore[no-untyped-def]
        seen["other"] = time.monotonic() - started
        return Response(body=RSS)

    for i in range(8):
        feedserver.add(f"/busy{i}", slow)
    feedserver.add("/other", stamp)
    # 127.0.0.1 and localhost are two hosts to the fetcher; 8 feeds on one, 1 on the other, 5 slots.
    specs = [FeedSpec(url=f"{feedserver.base}/busy{i}") for i in range(8)]
    specs.append(FeedSpec(url=f"{feedserver.base.replace('127.0.0.1', 'localhost')}/other"))
    results = gather_feeds(specs, FetchSettings(concurrency=5, timeout_seconds=3, allow_private_networks=True), {})
    assert all(r.status is SourceStatus.OK for r in results)
    assert seen["other"] < 0.3  # not queued behind the busy host's first round


@pytest.mark.parametrize("wrap", [True, False], ids=["zlib-wrapped", "raw"])
def test_a_deflate_body_is_inflated(wrap: bool) -> None:
    import zlib

    # RFC 9110 says deflate is zlib-wrapped; some servers send raw deflate. Both must read.
    packer = zlib.compressobj(wbits=15 if wrap else -15)
    body = packer.compress(RSS) + packer.flush()
    with http_server() as site:
        site.add("/deflated", Response(body=body, headers={"Content-Encoding": "deflate"}))
        (result,) = gather(f"{site.base}/deflated")
        (accept,) = {h.get("accept-encoding", "") for path, h in site.hits if path == "/deflated"}
    assert "deflate" in accept and "gzip" in accept
    assert result.status is SourceStatus.OK and [i.guid for i in result.items] == ["1", "2"]
