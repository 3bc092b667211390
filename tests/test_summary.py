"""The run summary: one table row per source, problems first and always shown, flagged dates named."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from digest.models import ItemData, RunReport, SourceResult, SourceStatus
from digest.summary import format_summary
from tests.http_server import Response, http_server


def item(guid: str, date_note: str = "") -> ItemData:
    return ItemData(source="s", source_url="u", guid=guid, title=guid, text=guid, date_note=date_note)


def ok(n: int) -> SourceResult:
    return SourceResult(name=f"feed{n}", url=f"https://e.org/{n}.xml", status=SourceStatus.OK, items=(item("a"),))


def rows(text: str) -> list[list[str]]:
    return [line.split()[1:] for line in text.splitlines() if re.match(r"digest:\s{3}\S", line)]


def test_small_runs_list_every_source_with_problems_first() -> None:
    failed = SourceResult(name="bad", url="https://e.org/bad.xml", status=SourceStatus.FAILED, error="HTTP 500 oops")
    dated = SourceResult(
        name="dated",
        url="https://e.org/dated.xml",
        status=SourceStatus.OK,
        items=(
            item("a", "unreadable date 'soon'"),
            item("b", "unreadable date 'x'"),
            item("c", "date in the future (2100-01-01)"),
        ),
    )
    text = format_summary(RunReport(issue=None, sources=(ok(1), dated, failed)), 1.0)
    table = rows(text)
    assert table[0] == ["status", "items", "source", "detail"]
    assert (
        table[1][:4] == ["failed", "-", "bad", "(https://e.org/bad.xml)"] and " ".join(table[1][4:]) == "HTTP 500 oops"
    )
    assert table[2][:3] == ["ok", "3", "dated"]
    assert "2 entries with an unreadable date, 1 entry dated in the future; treated as undated" in text
    assert table[3][:3] == ["ok", "1", "feed1"]


def test_large_runs_fold_healthy_sources_but_never_problems() -> None:
    sources = tuple(ok(n) for n in range(50)) + (
        SourceResult(name="late", url="https://e.org/late.xml", status=SourceStatus.DEFERRED, error="backing off"),
    )
    text = format_summary(RunReport(issue=None, sources=sources), 1.0)
    assert [r[:3] for r in rows(text)[1:2]] == [["deferred", "-", "late"]]
    assert "… and 50 healthy sources" in text and "feed7 " not in text
    everything = format_summary(RunReport(issue=None, sources=sources), 1.0, every_source=True)
    assert len(rows(everything)) == 1 + 51


def test_digest_fetch_names_a_feed_whose_dates_were_not_believed(tmp_path: Path) -> None:
    body = """<?xml version="1.0"?><rss version="2.0"><channel><title>Clocks</title>
    <item><guid>1</guid><title>one</title><description>a</description><pubDate>Blursday, 99 Foo 20x6</pubDate></item>
    <item><guid>2</guid><title>two</title><description>b</description><pubDate>Sat, 01 Jan 2争 00:00 GMT</pubDate></item>
    <item><guid>3</guid><title>three</title><description>c</description><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>
    </channel></rss>""".encode()
    with http_server() as site:
        site.add("/clocks.xml", Response(body=body, headers={"Content-Type": "application/rss+xml; charset=utf-8"}))
        config = tmp_path / "digest.toml"
        config.write_text(
            f'[paths]\nseeds = "{tmp_path / "none"}"\n[fetch]\nallow_private_networks = true\n'
            f'[[feeds]]\nurl = "{site.base}/clocks.xml"\nname = "clocks"\n',
            encoding="utf-8",
        )
        proc = subprocess.run(
            [sys.executable, "-m", "digest", "fetch", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    (row,) = [line for line in proc.stderr.splitlines() if " clocks (" in line]
    assert row.split()[1:3] == ["ok", "3"]
    assert "2 entries with an unreadable date, 1 entry dated in the future; treated as undated" in row
