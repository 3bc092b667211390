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


def test_billion_laughs_costs_milliseconds_and_megabytes_in_the_parser() -> None:
    # ru_maxrss above only grows, so after a bigger test it shows nothing: measure the parse alone.
    import tracemalloc

    from digest.models import RawFeed
    from digest.sources.parse import parse_feed

    assert len(LOL) < 1024  # the classic 1 KB file that expands to 3 GB
    raw, spec = (
        RawFeed(url="http://127.0.0.1/lol.xml", content=LOL, headers={}),
        FeedSpec(url="http://127.0.0.1/lol.xml"),
    )
    parse_feed(raw, spec)  # imports and caches out of the way
    tracemalloc.start()
    try:
        started = time.perf_counter()
        _, items = parse_feed(raw, spec)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5 and peak < 8 * 1024 * 1024, (elapsed, peak)
    assert all("lollol" not in i.text + i.title + i.source for i in items)


def test_the_entry_cap_holds_for_json_feed_too() -> None:
    import json

    from digest.models import RawFeed
    from digest.sources.parse import MAX_ENTRIES, parse_feed

    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Huge", "items": []}
    doc["items"] = [{"id": f"g{i}", "content_text": f"Entry number {i} says a thing."} for i in range(10_000)]
    raw = RawFeed(url="http://127.0.0.1/huge.json", content=json.dumps(doc).encode(), headers={})
    started = time.perf_counter()
    _, items = parse_feed(raw, FeedSpec(url=raw.url))
    assert len(items) == MAX_ENTRIES and items[0].guid == "g0"  # newest first as served
    assert time.perf_counter() - started < 5


def test_failed_sources_are_named_in_the_mail_the_archive_and_sources_list(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Guarantee 2: a failure is named in the run summary, `digest sources list` and the issue's note."""
    import email
    import email.policy
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    with http_server() as site:
        site.add("/healthy.xml", Response(body=HEALTHY))
        site.add("/down.xml", Response(503, b"maintenance"))
        site.add("/lol.xml", Response(body=b"<html><body>no feed here</body></html>"))
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        config.write_text(
            f'[paths]\nseeds = "{root / "seeds"}"\n[email]\nto = ["ann@example.org"]\n'
            "[fetch]\nallow_private_networks = true\ntimeout_seconds = 5\n"
            f'[[feeds]]\nurl = "{site.base}/healthy.xml"\nname = "Healthy"\n'
            f'[[feeds]]\nurl = "{site.base}/down.xml"\nname = "Down Feed"\n'
            f'[[feeds]]\nurl = "{site.base}/lol.xml"\nname = "Page Not Feed"\n',
            encoding="utf-8",
        )
        run = [sys.executable, "-m", "digest"]
        once = subprocess.run(
            [*run, "once", "--config", str(config), "--date", "2026-11-24"], capture_output=True, text=True, timeout=120
        )
        listed = subprocess.run(
            [*run, "sources", "list", "--config", str(config)], capture_output=True, text=True, timeout=60
        )
    assert once.returncode == 0, once.stderr
    assert "Down Feed" in once.stderr and "Page Not Feed" in once.stderr  # the run summary
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    page = (tmp_path / "archive" / "issues" / "2026-11-24.html").read_text()
    for where, body in (("text mail", text), ("html mail", html), ("archive page", page)):
        note = body[body.index("Sources with problems") :]
        assert "Down Feed" in note and "503" in note, where
        assert "Page Not Feed" in note and "not a feed" in note, where
        assert "Healthy" not in note, where
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    down = next(n for n, line in enumerate(rows) if "Down Feed" in line)
    assert rows[down].startswith("failed") and "503" in rows[down + 1]
    assert any(line.startswith("ok") and "Healthy" in line for line in rows)
