"""Hostile and broken feeds, served for real on 127.0.0.1 beside a healthy one.

Each case asserts: the healthy feed still comes through, the bad one fails (or is
tamed) with a reason, nothing leaks, and time and memory stay small.
"""

from __future__ import annotations

import gzip
import resource
import time

from digest.config import FetchSettings
from digest.models import FeedSpec, SourceStatus
from digest.sources import gather_feeds
from tests.http_server import Response, http_server

HEALTHY = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Healthy</title>
<item><title>Fine</title><guid>ok-1</guid><description>A healthy item that says something.</description></item>
</channel></rss>"""
LOL = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY l1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY l2 "&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;"><!ENTITY l3 "&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;">
<!ENTITY l4 "&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;"><!ENTITY l5 "&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;">
<!ENTITY l6 "&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;"><!ENTITY l7 "&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;">
<!ENTITY l8 "&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;"><!ENTITY l9 "&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;">]>
<rss version="2.0"><channel><title>&l9;</title><item><title>x</title><description>&l9;</description></item></channel></rss>"""


def xxe(target: str) -> bytes:
    return f"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "{target}">]>
<rss version="2.0"><channel><title>t</title><item><title>x</title><guid>x</guid>
<description>leak: &x;</description></item></channel></rss>""".encode()


def gather_with_healthy(site, path: str, **settings: object):  # type: ignore[no-untyped-def]
    site.add("/healthy.xml", Response(body=HEALTHY))
    fetch = FetchSettings(**{"timeout_seconds": 5, "allow_private_networks": True, **settings})  # type: ignore[arg-type]
    specs = [FeedSpec(url=f"{site.base}/healthy.xml", name="healthy"), FeedSpec(url=f"{site.base}{path}", name="bad")]
    started = time.perf_counter()
    healthy, bad = gather_feeds(specs, fetch, {})
    elapsed = time.perf_counter() - started
    assert healthy.status is SourceStatus.OK and healthy.items[0].title == "Fine"
    return bad, elapsed


def test_billion_laughs_is_not_expanded() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with http_server() as site:
        site.add("/lol.xml", Response(body=LOL))
        bad, elapsed = gather_with_healthy(site, "/lol.xml")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert elapsed < 2 and grown_mib < 50
    assert all(len(i.text) < 1000 for i in bad.items)
    assert "lollol" not in " ".join(i.text + i.title for i in bad.items)


def test_external_entities_read_no_file_and_fetch_no_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    with http_server() as site:
        site.add("/steal", Response(body=b"INTERNAL-SERVICE-DATA"))
        site.add("/file.xml", Response(body=xxe(secret.as_uri())))
        site.add("/url.xml", Response(body=xxe(f"{site.base}/steal")))
        file_case, _ = gather_with_healthy(site, "/file.xml")
        url_case, _ = gather_with_healthy(site, "/url.xml")
        requested = [path for path, _ in site.hits]
    for case in (file_case, url_case):
        text = " ".join(i.text + i.html + i.title for i in case.items)
        assert "TOP-SECRET-VALUE" not in text and "INTERNAL-SERVICE-DATA" not in text
    assert "/steal" not in requested


def test_gzip_bomb_is_cut_off_after_decompression() -> None:
    bomb = gzip.compress(b"<rss>" + b" " * (60 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with http_server() as site:
        site.add("/bomb.xml", Response(body=bomb, headers={"Content-Encoding": "gzip"}))
        bad, elapsed = gather_with_healthy(site, "/bomb.xml", max_bytes=2 * 1024 * 1024)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert bad.status is SourceStatus.FAILED and "larger than 2097152 bytes" in (bad.error or "")
    assert elapsed < 3 and grown_mib < 40


def test_a_server_dribbling_one_byte_a_second_costs_only_the_deadline() -> None:
    with http_server() as site:
        site.add("/drip.xml", Response(body=HEALTHY, dribble=1.0))
        bad, elapsed = gather_with_healthy(site, "/drip.xml", timeout_seconds=2)
    assert bad.status is SourceStatus.FAILED and "timed out after 2 s" in (bad.error or "")
    assert elapsed < 4


def test_broken_bodies_fail_or_recover_with_a_reason() -> None:
    invalid_utf8 = HEALTHY.replace(b"says something", b"says \xff\xfe something")
    cut = HEALTHY[: HEALTHY.index(b"</description>") + 5]
    with http_server() as site:
        site.add("/empty.xml", Response(body=b""))
        site.add(
            "/utf8.xml", Response(body=invalid_utf8, headers={"Content-Type": "application/rss+xml; charset=utf-8"})
        )
        site.add("/cut.xml", Response(body=cut))
        empty, _ = gather_with_healthy(site, "/empty.xml")
        utf8, _ = gather_with_healthy(site, "/utf8.xml")
        truncated, _ = gather_with_healthy(site, "/cut.xml")
    assert empty.status is SourceStatus.FAILED and (empty.error or "").startswith("not a feed")
    assert utf8.status is SourceStatus.OK and "says" in utf8.items[0].text  # the stray bytes cost nothing else
    assert truncated.status is SourceStatus.OK and truncated.items[0].title == "Fine"  # what could be recovered


def test_ten_thousand_entries_are_capped_quickly() -> None:
    items = b"".join(
        b"<item><title>T%d</title><guid>g%d</guid><description>Entry number %d says a thing.</description></item>"
        % (i, i, i)
        for i in range(10_000)
    )
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Huge</title>' + items + b"</channel></rss>"
    with http_server() as site:
        site.add("/huge.xml", Response(body=body))
        bad, elapsed = gather_with_healthy(site, "/huge.xml", max_bytes=20 * 1024 * 1024)
    assert bad.status is SourceStatus.OK and len(bad.items) == 500
    assert elapsed < 15
