"""Every hostile input at once, through a real `digest once`, beside a healthy feed (issue #7).

One loopback server serves the healthy feed and each hostile case as its own feed; digest
runs as a subprocess, as a person runs it. The run must still make the issue with the
healthy feed's insight, name each failing source with its reason, leave nothing from any
payload live in the archive or the mail, leak no local file or internal URL, and stay
within its time and memory caps. The cases are parser- and fetcher-level tests elsewhere
(test_hostile.py, test_fetch.py, test_politeness.py); here they meet the whole pipeline.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from html.parser import HTMLParser
from pathlib import Path

from tests.feedserver import HOSTILE_RSS
from tests.http_server import Response, http_server
from tests.test_hostile import LOL, xxe

DAY = "2026-11-24"
SECRET = "TOP-SECRET-7f3a"  # in a local file an external entity points at
INTERNAL = "INTERNAL-SERVICE-9c1d"  # at a loopback URL another entity points at
# Strings that only the payloads contain: none may reach a script, a style, an attribute or a URL.
MARKERS = ("alert(", "steal(", "pwned", "document.cookie", "evil.example", "display:none", "x()")
HEALTHY = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Healthy Daily</title>
<item><title>Grid storage doubled</title><guid>healthy-1</guid><link>https://example.org/grid</link>
<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate><description>&lt;p&gt;Grid-scale battery storage doubled
in one year as prices for lithium iron phosphate cells fell below sixty dollars per kilowatt-hour,
and utilities now plan storage before new peaker plants.&lt;/p&gt;</description></item>
</channel></rss>"""


def rss(title: str, items: str) -> bytes:
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'.encode()


TITLE_PAYLOADS = rss(
    "Payload Titles",
    '<item><title>&lt;img src=x onerror="steal()"&gt;Solar &lt;svg onload="alert(1)"&gt;&lt;/svg&gt;'
    "farms&lt;style&gt;body{display:none}&lt;/style&gt;</title><guid>t-1</guid>"
    '<link>javascript:alert(document.cookie)</link><description>&lt;a href="jAvAsCrIpT:alert(2)"&gt;Offshore'
    ' wind&lt;/a&gt; output rose &lt;span style="background:url(javascript:alert(3))"&gt;again&lt;/span&gt;'
    " as turbines grew taller and farms moved further out to sea.</description></item>",
)
HEADER_PAYLOADS = rss(
    "Header Tricks\r\nBcc: victim@example.org",
    "<item><title>Cheap power\r\nBcc: victim@example.org\r\nX-Evil: 1</title><guid>h-1</guid>"
    "<description>Wholesale power prices fell for the third month running across the region.</description></item>",
)
ODD_DATES = rss(
    "Odd Dates",
    "<item><title>Garbage date</title><guid>d-1</guid><pubDate>the day after never</pubDate>"
    "<description>Heat pumps outsold gas boilers in four countries last year.</description></item>"
    "<item><title>Far future</title><guid>d-2</guid><pubDate>Wed, 01 Jan 2100 00:00:00 GMT</pubDate>"
    "<description>Induction hobs are now cheaper to run than gas hobs in most homes.</description></item>",
)
NO_IDS = rss(
    "No Ids",
    "<item><description>An entry with no title, guid, link or date still says that tidal power is steady.</description>"
    "</item><item><description>Another bare entry notes that pumped hydro stores most grid energy.</description></item>",
)
PAGE = (
    b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" href="/real-feed.xml">'
    b"</head><body><nav>Menu</nav><p>A web page, not a feed.</p></body></html>"
)
HUGE = rss("Huge", "".join(f"<item><title>T{i}</title><guid>g{i}</guid><description>Entry {i}.</description></item>"
                           for i in range(10_000)))  # fmt: skip
INVALID_UTF8 = (
    HEALTHY.replace(b"Healthy Daily", b"Bad Bytes")
    .replace(b"healthy-1", b"bytes-1")
    .replace(b"doubled\nin one year", b"doubled \xff\xfe\nin one year")
)
CUT = HEALTHY.replace(b"Healthy Daily", b"Cut Short").replace(b"healthy-1", b"cut-1")
CUT = CUT[: CUT.index(b"</description>") + 5]
BOMB = gzip.compress(b"<rss>" + b" " * (64 * 1024 * 1024), compresslevel=9)

# name -> (path, response or None when added below, what the run summary must say; None: the source is ok)
FAILING = {
    "Empty Body": "not a feed",
    "Web Page": "not a feed but a web page; its feed is probably",
    "Gzip Bomb": "larger than 2097152 bytes",
    "Redirect Loop": "more than 5 redirects",
    "Server Error": "500",
    "Gone": "http 410 gone",
    "Too Many": "http 429",
    "Dribbler": "timed out",
}
TAMED = ["Payload Titles", "Scripted Bodies", "Header Tricks", "Odd Dates", "No Ids", "Huge", "Bad Bytes",
         "Cut Short", "Laughs", "Entity File", "Entity URL"]  # fmt: skip


OUR_CONTROLS = {"search-form", "search"}  # templates/index.html.j2


class Live(HTMLParser):
    """What in a page could run: event attributes, script URLs, active elements, payloads in script or style."""

    ACTIVE = {"iframe", "object", "embed", "form", "input", "button", "frame", "base"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.in_code = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.in_code = tag
        found = dict(attrs)
        ours = found.get("id") in OUR_CONTROLS  # the archive index's own search box
        if (tag in self.ACTIVE and not ours) or (
            tag == "meta" and "refresh" in (found.get("http-equiv") or "").lower()
        ):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}={value!r}")
            if name in ("href", "src", "action", "formaction", "xlink:href", "poster") and re.match(
                r"\s*(javascript|data|vbscript):", value, re.I
            ):
                self.problems.append(f"{tag} {name}={value!r}")
            if name == "style":
                self.check_code(f"{tag} style", value)

    def handle_endtag(self, tag: str) -> None:
        if tag == self.in_code:
            self.in_code = ""

    def handle_data(self, data: str) -> None:
        if self.in_code:
            self.check_code(self.in_code, data)

    def check_code(self, where: str, text: str) -> None:
        for marker in MARKERS:
            if marker in text:
                self.problems.append(f"{marker!r} in {where}")


def live_parts(html: str) -> list[str]:
    parser = Live()
    parser.feed(html)
    parser.close()
    return parser.problems


def write_config(tmp_path: Path, base: str) -> Path:
    feeds = {
        "Healthy": ("/healthy.xml", 10),  # weighted so its insight leads the issue
        "Payload Titles": ("/titles.xml", 1),
        "Scripted Bodies": ("/bodies.xml", 1),
        "Header Tricks": ("/headers.xml", 1),
        "Odd Dates": ("/dates.xml", 1),
        "No Ids": ("/noids.xml", 1),
        "Huge": ("/huge.xml", 1),
        "Bad Bytes": ("/utf8.xml", 1),
        "Cut Short": ("/cut.xml", 1),
        "Laughs": ("/lol.xml", 1),
        "Entity File": ("/xxe-file.xml", 1),
        "Entity URL": ("/xxe-url.xml", 1),
        "Empty Body": ("/empty.xml", 1),
        "Web Page": ("/page.html", 1),
        "Gzip Bomb": ("/bomb.xml", 1),
        "Redirect Loop": ("/loop-a", 1),
        "Server Error": ("/e500.xml", 1),
        "Gone": ("/gone.xml", 1),
        "Too Many": ("/busy.xml", 1),
        "Dribbler": ("/drip.xml", 1),
    }
    (tmp_path / "seeds").mkdir()
    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir()
    lines = [
        'title = "Hostile Run"',
        '[paths]\nseeds = "seeds"',
        '[email]\nfrom = "Digest <digest@example.org>"\nto = ["ann@example.org"]',
        "[fetch]\nallow_private_networks = true\ntimeout_seconds = 2\nmax_bytes = 2097152",
    ]
    lines += [f'[[feeds]]\nurl = "{base}{path}"\nname = "{name}"\nweight = {w}' for name, (path, w) in feeds.items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def serve(site, secret_file: Path) -> None:  # type: ignore[no-untyped-def]
    xml = {"Content-Type": "application/rss+xml; charset=utf-8"}
    site.add("/healthy.xml", Response(body=HEALTHY, headers=xml))
    site.add("/titles.xml", Response(body=TITLE_PAYLOADS, headers=xml))
    site.add("/bodies.xml", Response(body=HOSTILE_RSS, headers=xml))
    site.add("/headers.xml", Response(body=HEADER_PAYLOADS, headers=xml))
    site.add("/dates.xml", Response(body=ODD_DATES, headers=xml))
    site.add("/noids.xml", Response(body=NO_IDS, headers=xml))
    site.add("/huge.xml", Response(body=HUGE, headers=xml))
    site.add("/utf8.xml", Response(body=INVALID_UTF8, headers=xml))
    site.add("/cut.xml", Response(body=CUT, headers=xml))
    site.add("/lol.xml", Response(body=LOL, headers=xml))
    site.add("/xxe-file.xml", Response(body=xxe(secret_file.as_uri()), headers=xml))
    site.add("/xxe-url.xml", Response(body=xxe(f"{site.base}/steal"), headers=xml))
    site.add("/steal", Response(body=INTERNAL.encode()))
    site.add("/empty.xml", Response(body=b"", headers=xml))
    site.add("/page.html", Response(body=PAGE, headers={"Content-Type": "text/html"}))
    site.add("/bomb.xml", Response(body=BOMB, headers={**xml, "Content-Encoding": "gzip"}))
    site.add("/loop-a", Response(302, headers={"Location": "/loop-b"}))
    site.add("/loop-b", Response(302, headers={"Location": "/loop-a"}))
    site.add("/e500.xml", Response(500, b"internal error"))
    site.add("/gone.xml", Response(410, b"gone"))
    site.add("/busy.xml", Response(429, b"slow down", headers={"Retry-After": "3600"}))
    site.add("/drip.xml", Response(body=HEALTHY, dribble=1.0))


def run_once(config: Path) -> tuple[int, str, float, float]:
    """`digest once` as a subprocess: (exit code, stderr, seconds, peak RSS in MiB of it and its workers)."""
    err_path = config.parent / "stderr.txt"
    started = time.monotonic()
    with open(err_path, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "once", "--date", DAY, "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=config.parent.parent,
        )
        killer = threading.Timer(180, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage, its waited-for workers included
        finally:
            killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err_path.read_text(encoding="utf-8"), time.monotonic() - started, usage.ru_maxrss / 1024


def test_every_hostile_feed_at_once_leaves_the_issue_whole_and_nothing_live(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    with http_server() as site:
        serve(site, secret_file)
        config = write_config(tmp_path, site.base)
        code, summary, seconds, peak_mib = run_once(config)
        requested = [path for path, _ in site.hits]
    assert code == 0, summary

    # the issue is made, and the healthy feed's insight leads it
    issue = json.loads((tmp_path / "archive" / "issues" / f"{DAY}.json").read_text(encoding="utf-8"))
    assert issue["insights"], "an empty issue"
    assert "Grid-scale battery storage doubled" in issue["insights"][0]["text"]

    # each failing source is named with its reason: a log line and a row of the run summary table
    rows = {}  # source name -> (status, detail), from the table's rows
    for line in summary.splitlines():
        if row := re.match(r"digest:\s+(ok|failed)\s+\S+\s+(.+?) \(http[^)]*\)\s*(.*)$", line):
            rows[row[2]] = (row[1], row[3])
    for name, reason in FAILING.items():
        assert f"WARNING: source failed: {name} (" in summary, name
        status, detail = rows[name]
        assert status == "failed" and reason in detail.lower(), (name, detail)
    for name in ("Healthy", *TAMED):
        assert rows[name][0] == "ok", rows[name]
    _, dates = rows["Odd Dates"]
    assert "unreadable date" in dates and "in the future" in dates  # flagged, and not believed

    # nothing from any payload is live in any page, script or mail
    archive = tmp_path / "archive"
    pages = sorted(archive.rglob("*.html"))
    assert len(pages) >= 3
    for page in pages:
        assert live_parts(page.read_text(encoding="utf-8")) == [], page.name
    index_js = (archive / "search-index.js").read_text(encoding="utf-8")
    prefix = "window.DIGEST_SEARCH = "
    assert index_js.startswith(prefix)
    json.loads(index_js[len(prefix) :].rstrip().rstrip(";"))  # data only: the payloads stay inside strings
    feed_xml = (archive / "feed.xml").read_text(encoding="utf-8")
    assert "<script" not in feed_xml and "javascript:" not in feed_xml.lower()

    (eml,) = (tmp_path / "outbox").glob("*.eml")
    raw = eml.read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_all("Bcc") is None and msg.get_all("X-Evil") is None
    assert b"victim@example.org" not in raw.split(b"\n\n", 1)[0].replace(b"\r", b"")
    for name, value in msg.items():
        assert not re.search(r"[\x00-\x1f\x7f]", str(value)), (name, value)
    assert msg.get_all("To") == ["ann@example.org"]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert live_parts(html) == []

    # no leak: the local file and the internal URL were never read
    assert "/steal" not in requested
    everything = [p for p in tmp_path.rglob("*") if p.is_file() and p != secret_file]
    for path in everything:
        data = path.read_bytes()
        assert SECRET.encode() not in data and INTERNAL.encode() not in data, path
    with closing(sqlite3.connect(tmp_path / "state" / "digest.sqlite3")) as db:
        stored = " ".join(str(v) for row in db.execute("SELECT title, text, html FROM items") for v in row)
    assert "lollol" not in stored and SECRET not in stored

    # the caps hold: the dribbler cost its 2 s timeout, the bomb 2 MB, the 10,000 entries 500 items
    assert seconds < 60, seconds
    assert peak_mib < 600, peak_mib
    with closing(sqlite3.connect(tmp_path / "state" / "digest.sqlite3")) as db:
        huge = db.execute("SELECT count(*) FROM items i JOIN sources s ON s.id = i.source_id WHERE s.name = 'Huge'")
        assert huge.fetchone()[0] == 500
