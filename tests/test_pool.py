"""Parsing in worker processes: the same results as parsing here, and a dead worker fails one feed only.

Real worker processes and a real HTTP server on 127.0.0.1; nothing of ours is replaced.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from digest.config import FetchSettings
from digest.models import FeedSpec, SourceResult, SourceStatus
from digest.sources import gather_feeds
from tests.feedserver import ATOM, GOOD_RSS, HOSTILE_RSS, MALFORMED
from tests.http_server import Response, Site, http_server

WORKER_MARK = b"digest.sources.pool"


def rss_with(entries: int, title: str = "Many") -> bytes:
    items = b"".join(
        b"<item><title>Entry %d</title><guid>g%d</guid><description>&lt;p&gt;Entry %d says a thing about"
        b" grid storage and &lt;a href='/x/%d'&gt;links&lt;/a&gt;.&lt;/p&gt;</description></item>" % (i, i, i, i)
        for i in range(entries)
    )
    return (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>'
        + title.encode()
        + b"</title>"
        + items
        + b"</channel></rss>"
    )


def settings(workers: int, **more: object) -> FetchSettings:
    return FetchSettings(timeout_seconds=10, allow_private_networks=True, parse_workers=workers, **more)  # type: ignore[arg-type]


def serve_mix(site: Site) -> list[FeedSpec]:
    bodies = {"good": GOOD_RSS, "atom": ATOM, "hostile": HOSTILE_RSS, "malformed": MALFORMED, "many": rss_with(40)}
    for name, body in bodies.items():
        site.add(f"/{name}.xml", Response(body=body))
    site.add("/missing.xml", Response(404, b"no"))
    return [FeedSpec(url=f"{site.base}/{name}.xml", name=name) for name in [*bodies, "missing"]]


def worker_pids() -> list[int]:
    """Parser processes that are children of this test process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if ppid == os.getpid() and WORKER_MARK in cmdline:
            found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def comparable(results: list[SourceResult]) -> list[tuple[object, ...]]:
    return [(r.name, r.status, r.error, r.items, r.body_hash) for r in results]


def test_worker_processes_give_the_same_results_as_parsing_here() -> None:
    with http_server() as site:
        specs = serve_mix(site)
        here = gather_feeds(specs, settings(0), {})
        pooled = gather_feeds(specs, settings(2), {})
    assert comparable(pooled) == comparable(here)
    status = {r.name: r.status for r in pooled}
    ok, failed = SourceStatus.OK, SourceStatus.FAILED
    assert status == {"good": ok, "atom": ok, "hostile": ok, "many": ok, "malformed": failed, "missing": failed}
    assert sum(len(r.items) for r in pooled) == 3 + 2 + 1 + 40
    assert worker_pids() == []  # every worker stopped with the run


@pytest.mark.slow
def test_a_worker_killed_mid_parse_fails_its_feed_and_the_others_still_parse() -> None:
    huge = rss_with(40_000, "Huge")  # a few seconds of feedparser: time to kill the worker holding it
    with http_server() as site:
        site.add("/huge.xml", Response(body=huge))
        for i in range(3):  # later than the huge body, so the one worker takes that first
            site.add(f"/small{i}.xml", Response(body=rss_with(5, f"Small {i}"), delay=0.5))
        specs = [FeedSpec(url=f"{site.base}/huge.xml", name="huge")]
        specs += [FeedSpec(url=f"{site.base}/small{i}.xml", name=f"small{i}") for i in range(3)]
        results: list[SourceResult] = []
        run = threading.Thread(
            target=lambda: results.extend(gather_feeds(specs, settings(1, max_bytes=50_000_000), {}))
        )
        run.start()
        killed = None
        deadline = time.monotonic() + 30
        while killed is None and time.monotonic() < deadline and run.is_alive():
            for pid in worker_pids():
                # the warm-up takes ~0.15 s of CPU; well past that the worker is inside the huge body
                if cpu_seconds(pid) > 0.8:
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
            time.sleep(0.05)
        run.join(60)
    assert killed is not None, "the worker was never seen parsing"
    huge_result, *small = results
    assert huge_result.status is SourceStatus.FAILED
    assert huge_result.error == "the parser process died (killed by SIGKILL) on this feed"
    assert [r.status for r in small] == [SourceStatus.OK] * 3  # a new worker took the rest
    assert worker_pids() == []


def test_small_runs_parse_here_and_large_ones_use_a_worker_per_core() -> None:
    from digest.sources import POOL_MIN_FEEDS, parse_workers
    from digest.sources.pool import default_workers

    assert parse_workers(FetchSettings(), POOL_MIN_FEEDS - 1) == 0
    cores = default_workers()
    assert parse_workers(FetchSettings(), POOL_MIN_FEEDS) == (cores if cores > 1 else 0)
    assert parse_workers(FetchSettings(parse_workers=3), 1) == 3
    assert parse_workers(FetchSettings(parse_workers=0), 10_000) == 0


def stalled_requests(bodies: list[bytes], concurrency: int) -> tuple[int, int, list[SourceResult]]:
    """Requests made while the one parser is stopped, requests in all, and the results."""
    with http_server() as site:
        for i, body in enumerate(bodies):
            site.add(f"/f{i}.xml", Response(body=body))
        specs = [FeedSpec(url=f"{site.base}/f{i}.xml") for i in range(len(bodies))]
        results: list[SourceResult] = []
        run = threading.Thread(
            target=lambda: results.extend(gather_feeds(specs, settings(1, concurrency=concurrency), {}))
        )
        run.start()
        try:
            deadline = time.monotonic() + 30
            while not (pids := worker_pids()) and time.monotonic() < deadline:
                time.sleep(0.005)
            assert pids, "no parser process started"
            os.kill(pids[0], signal.SIGSTOP)  # the one parser takes no more bodies from here on
            time.sleep(1.5)  # loopback requests take milliseconds: without the limit all are done
            stalled = len(site.hits)
            time.sleep(0.5)
            assert len(site.hits) == stalled  # nothing more is asked while the bodies wait
        finally:
            for pid in worker_pids():
                os.kill(pid, signal.SIGCONT)
        run.join(60)
        return stalled, len(site.hits), results


@pytest.mark.slow
def test_fetching_waits_while_the_parsers_are_behind() -> None:
    """A stopped parser stops new requests once BACKLOG_PER_WORKER bodies wait; it resumes, all finish."""
    from digest.sources import BACKLOG_PER_WORKER
    from digest.sources.pool import DEPTH

    feeds, concurrency = 80, 4
    stalled, hits, results = stalled_requests([rss_with(30, f"Feed {i}") for i in range(feeds)], concurrency)
    # at most: parsed before the stop, those sent to the parser, the backlog, and the requests in flight
    assert stalled <= 8 + DEPTH + BACKLOG_PER_WORKER + concurrency, stalled
    assert stalled < feeds
    assert [r.status for r in results] == [SourceStatus.OK] * feeds
    assert hits == feeds


@pytest.mark.slow
def test_fetching_waits_for_big_bodies_by_their_bytes() -> None:
    """Bodies of 700 KB: the byte budget stops new requests long before the count would."""
    from digest.sources import BACKLOG_BYTES_PER_WORKER
    from digest.sources.pool import DEPTH

    feeds, concurrency = 30, 4
    paragraph = "&lt;p&gt;" + "word " * 20_000 + "&lt;/p&gt;"  # 100 KB of text: quick to parse
    items = "".join(f"<item><guid>g{i}</guid><description>{paragraph}</description></item>" for i in range(7))
    bodies = [
        f'<rss version="2.0"><channel><title>Big {n}</title>{items}</channel></rss>'.encode() for n in range(feeds)
    ]
    stalled, hits, results = stalled_requests(bodies, concurrency)
    by_bytes = -(-BACKLOG_BYTES_PER_WORKER // len(bodies[0]))  # bodies that fill the budget
    assert stalled <= 8 + DEPTH + by_bytes + concurrency < feeds, stalled
    assert [r.status for r in results] == [SourceStatus.OK] * feeds
    assert hits == feeds


def test_results_are_handed_on_in_batches_while_a_slow_feed_is_still_out() -> None:
    from digest.sources import SETTLED_BATCH

    with http_server() as site:
        quick = SETTLED_BATCH + 10
        for i in range(quick):
            site.add(f"/q{i}.xml", Response(body=rss_with(3, f"Quick {i}")))
        site.add("/slow.xml", Response(body=rss_with(3, "Slow"), delay=3.0))
        specs = [FeedSpec(url=f"{site.base}/slow.xml")] + [FeedSpec(url=f"{site.base}/q{i}.xml") for i in range(quick)]
        handed: list[tuple[float, list[int]]] = []

        def take(batch: object) -> None:
            handed.append((time.monotonic(), [i for i, _ in batch]))  # type: ignore[attr-defined]

        results = gather_feeds(specs, settings(1), {}, on_settled=take)
        ended = time.monotonic()
    assert handed, "nothing was handed on before the end"
    first_time, first = handed[0]
    assert ended - first_time > 1.0  # while the slow feed was still out
    assert len(first) >= SETTLED_BATCH and 0 not in first
    given = [i for _, batch in handed for i in batch]
    assert len(given) == len(set(given))  # each result once
    assert all(results[i].status is SourceStatus.OK and results[i].items for i in given)
    assert results[0].status is SourceStatus.OK  # the slow one is in the list returned, not handed on


@pytest.mark.parametrize("workers", [0, 2])
def test_an_error_taking_results_ends_the_gather_with_that_error(workers: int) -> None:
    from digest.sources import SETTLED_BATCH

    def full(batch: object) -> None:
        raise OSError(28, "No space left on device")

    with http_server() as site:
        for i in range(SETTLED_BATCH * 3):
            site.add(f"/f{i}.xml", Response(body=rss_with(3, f"Feed {i}")))
        specs = [FeedSpec(url=f"{site.base}/f{i}.xml") for i in range(SETTLED_BATCH * 3)]
        with pytest.raises(OSError, match="No space left on device"):
            gather_feeds(specs, settings(workers), {}, on_settled=full)
        assert len(site.hits) < len(specs)  # it stopped, rather than fetching everything first
    assert worker_pids() == []


@pytest.mark.slow
def test_a_body_past_the_time_limit_fails_alone_and_the_bodies_queued_behind_it_are_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from digest.sources import pool

    monkeypatch.setattr(pool, "MAX_PARSE_SECONDS", 0.5)
    with http_server() as site:
        site.add("/huge.xml", Response(body=rss_with(40_000, "Huge")))  # seconds of parsing
        for i in range(3):  # sent to the one worker behind the huge body
            site.add(f"/small{i}.xml", Response(body=rss_with(5, f"Small {i}"), delay=0.2))
        specs = [FeedSpec(url=f"{site.base}/huge.xml", name="huge")]
        specs += [FeedSpec(url=f"{site.base}/small{i}.xml", name=f"small{i}") for i in range(3)]
        huge_result, *small = gather_feeds(specs, settings(1, max_bytes=50_000_000), {})
    assert huge_result.status is SourceStatus.FAILED
    assert huge_result.error == "parsing took longer than 0.5 s; stopped"
    assert [r.status for r in small] == [SourceStatus.OK] * 3
    assert [len(r.items) for r in small] == [5] * 3
    assert worker_pids() == []


@pytest.mark.slow
def test_a_body_queued_behind_another_is_timed_from_when_its_turn_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    from digest.models import RawFeed
    from digest.sources import pool

    body = rss_with(12_000, "Long")
    raw = RawFeed(url="http://calibrate.invalid/feed", content=body, headers={})
    pool.parse_reply(raw, FeedSpec(url=raw.url))  # warm
    start = time.perf_counter()
    pool.parse_reply(raw, FeedSpec(url=raw.url))
    took = time.perf_counter() - start
    # Each body alone is well within the limit; both together, timed from when they were sent, are not.
    monkeypatch.setattr(pool, "MAX_PARSE_SECONDS", 1.5 * took + 0.2)
    with http_server() as site:
        for i in range(2):
            site.add(f"/long{i}.xml", Response(body=body))
        specs = [FeedSpec(url=f"{site.base}/long{i}.xml", name=f"long{i}") for i in range(2)]
        results = gather_feeds(specs, settings(1, max_bytes=50_000_000), {})
    assert [(r.status, r.error) for r in results] == [(SourceStatus.OK, None)] * 2


def test_workers_that_cannot_start_leave_the_parsing_to_this_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PYTHONHOME", "/nonexistent")  # a worker's interpreter dies before it is ready
    with http_server() as site:
        specs = serve_mix(site)
        with caplog.at_level("WARNING", logger="digest.sources"):
            pooled = gather_feeds(specs, settings(2), {})
        monkeypatch.delenv("PYTHONHOME")
        here = gather_feeds(specs, settings(0), {})
    assert comparable(pooled) == comparable(here)
    assert sum(len(r.items) for r in pooled) == 3 + 2 + 1 + 40
    warnings = [r.getMessage() for r in caplog.records if "cannot start a parser process" in r.getMessage()]
    assert len(warnings) == 1, warnings  # said once, then every body parses here
    assert worker_pids() == []
