#!/usr/bin/env python3
"""What full text (`full_text = true`) costs: the extractor's import, one article, a feed's worth.

    .venv/bin/python bench/fulltext_bench.py [--articles 20] [--runs 5]

1. `import trafilatura` in a fresh interpreter (what the first full_text run pays once).
2. extract_article on generated pages, in this process: a short article, a 100 KiB news page
   (a 300-link menu, inline script, 40 paragraphs), and pages of 19,000 and 160,000 elements:
   the first just under MAX_PAGE_ELEMENTS, the second refused before extraction.
3. add_full_texts on --articles news pages served from 127.0.0.1 (fetch_all + extract), the
   median of --runs after one warm-up run.

Prints one line per measurement, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digest.config import FetchSettings  # noqa: E402
from digest.errors import ParseError  # noqa: E402
from digest.models import FeedSpec, ItemData, RawFeed, SourceResult, SourceStatus  # noqa: E402
from digest.sources.fulltext import add_full_texts, extract_article  # noqa: E402
from tests.http_server import Response, http_server  # noqa: E402

HTML = {"Content-Type": "text/html; charset=utf-8"}


def page(paragraphs: int, menu_links: int = 0, script_bytes: int = 0, filler: int = 0) -> bytes:
    menu = "".join(f'<li><a href="/s/{i}">Section {i}</a></li>' for i in range(menu_links))
    body = "".join(
        f"<p>Paragraph {i} of a report on grid storage, long enough to read as prose, with {i} gigawatts.</p>"
        for i in range(paragraphs)
    )
    return (
        f"<!doctype html><html><head><title>Report</title><script>{'var x = 1;' * (script_bytes // 10)}</script>"
        f'</head><body><div class="cookie-banner">We use cookies. <button>Accept</button></div>'
        f"<header><nav><ul>{menu}</ul></nav></header><main><article><h1>Report</h1>{body}"
        f"<div>{'<p>filler</p>' * filler}</div></article></main><footer>Copyright</footer></body></html>"
    ).encode()


def timed_extract(body: bytes, runs: int) -> tuple[float, str]:
    raw = RawFeed(url="http://127.0.0.1/a", content=body, headers=HTML)
    times, outcome = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        try:
            text, _ = extract_article(raw)
            outcome = f"{len(text)} chars"
        except ParseError as e:
            outcome = e.reason
        times.append(time.perf_counter() - started)
    return statistics.median(times), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    result: dict[str, float] = {}

    code = "import time; t = time.perf_counter(); import trafilatura; print(time.perf_counter() - t)"
    imports = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(args.runs)]
    result["import_s"] = statistics.median(imports)
    print(f"import trafilatura: {result['import_s'] * 1000:.0f} ms")

    news = page(40, menu_links=300, script_bytes=80_000)
    cases = {
        "short": page(4),
        "news": news,
        "elements_19k": page(40, filler=19_000),
        "elements_160k": page(40, filler=160_000),
    }
    for name, body in cases.items():
        seconds, outcome = timed_extract(body, 1 if len(body) > 1_000_000 else args.runs)
        result[f"extract_{name}_s"] = seconds
        print(f"extract {name}: {len(body) / 1024:.0f} KiB, {seconds * 1000:.1f} ms -> {outcome}")

    with http_server() as site:
        for n in range(args.articles):
            site.add(f"/a/{n}", Response(body=news, headers=HTML))
        spec = FeedSpec(url="https://f/", full_text=True)
        items = tuple(
            ItemData(source="S", source_url=spec.url, guid=str(n), title="t", text="Teaser.", url=f"{site.base}/a/{n}")
            for n in range(args.articles)
        )
        times = []
        for _ in range(args.runs + 1):
            before = SourceResult(name="S", url=spec.url, status=SourceStatus.OK, items=items)
            started = time.perf_counter()
            (after,) = add_full_texts([before], [spec], FetchSettings(allow_private_networks=True), lambda u, g: {})
            times.append(time.perf_counter() - started)
            assert after.note is None, after.note
    result["feed_s"] = statistics.median(times[1:])
    per = result["feed_s"] / args.articles
    print(f"{args.articles} pages from 127.0.0.1, fetch + extract: {result['feed_s']:.2f} s, {per * 1000:.0f} ms each")
    print(json.dumps({k: round(v, 4) for k, v in result.items()}))


if __name__ == "__main__":
    main()
