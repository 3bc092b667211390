"""Where items come from: feeds (fetch + parse) and seed documents (seeds).

`gather_feeds` turns every configured feed into a SourceResult: ok with items,
not modified, or failed with a reason. It never raises for one bad feed.
Failures are logged at debug level here, with their cause; `pipeline` logs the
one warning line per failed source that a person reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..config import FetchSettings
from ..errors import FetchError, SourceError
from ..models import FeedSpec, RawFeed, SourceResult, SourceStatus

if TYPE_CHECKING:
    from .fetch import FetchOutcome, NotModified
    from .pool import Reply

log = logging.getLogger("digest.sources")

POOL_MIN_FEEDS = 16  # fewer feeds parse faster here than a worker process starts (~0.3 s of CPU each)
# Bodies handed to the parsers (queued or parsing), per worker, at which no new request starts
# (or their bytes, for big feeds); requests already under way still land, so up to this plus
# [fetch] concurrency may wait. Fetching runs far ahead of parsing (1,000 loopback feeds arrive
# in ~1 s, parse in ~4 s): without a limit every body would wait in memory. With 8 the parsers
# sometimes ran dry while the next requests were on their way (50 ms each); 32 was ~2% faster.
BACKLOG_PER_WORKER = 32
BACKLOG_BYTES_PER_WORKER = 4 << 20
SETTLED_BATCH = 50  # results handed to on_settled at once: one transaction each for the caller


def gather_feeds(
    specs: Sequence[FeedSpec],
    settings: FetchSettings,
    validators: Mapping[str, tuple[str | None, str | None]],
    body_hashes: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_settled: Callable[[Sequence[tuple[int, SourceResult]]], None] | None = None,
) -> list[SourceResult]:
    """Fetch and parse every feed; a body identical to the last one parsed is not parsed again.

    Bodies are parsed as they arrive: in worker processes when the run has enough feeds
    and the machine more than one core ([fetch] parse_workers), else here, between
    fetches. A feed not fetched and parsed within [fetch] run_deadline_seconds fails with
    that reason (a body parsing here is not interrupted; the deadline applies after it).

    `on_settled`, if given, receives (index in specs, result) pairs while the run goes on,
    SETTLED_BATCH at a time, so the caller can store them as the rest is still fetched;
    whatever it has not received is only in the list returned. An exception it raises
    ends the gather.
    """
    from .fetch import deadline_reason

    deadline = time.monotonic() + settings.run_deadline_seconds
    gathering = _Gathering(specs, body_hashes or {}, on_settled)
    workers = parse_workers(settings, len(specs))
    asyncio.run(gathering.run(settings, validators, progress, workers, deadline))
    late = deadline_reason(settings)
    return [
        result or SourceResult(name=spec.name or spec.url, url=spec.url, status=SourceStatus.FAILED, error=late)
        for spec, result in zip(specs, gathering.results, strict=True)
    ]


def parse_workers(settings: FetchSettings, feeds: int) -> int:
    """How many processes parse: [fetch] parse_workers, else one per core for a run big enough to gain."""
    if settings.parse_workers is not None:
        return settings.parse_workers
    from .pool import default_workers

    cores = default_workers()
    return cores if cores > 1 and feeds >= POOL_MIN_FEEDS else 0


class _Gathering:
    """The results of one gather, filled in as outcomes arrive, in the order of `specs`."""

    def __init__(
        self,
        specs: Sequence[FeedSpec],
        body_hashes: Mapping[str, str],
        on_settled: Callable[[Sequence[tuple[int, SourceResult]]], None] | None = None,
    ) -> None:
        self.specs = specs
        self.body_hashes = body_hashes
        self.results: list[SourceResult | None] = [None] * len(specs)
        self.on_settled = on_settled
        self.settled: list[int] = []  # indexes of results not yet handed to on_settled
        self.failed: list[BaseException] = []  # what ended the run: on_settled's error, or a bug
        self.runner: asyncio.Task[None] | None = None

    def settle(self, index: int, result: SourceResult) -> None:
        self.results[index] = result
        self.settled.append(index)

    def hand_on(self) -> None:
        if self.on_settled is None or len(self.settled) < SETTLED_BATCH or self.failed:
            return
        batch, self.settled = self.settled, []
        try:
            self.on_settled([(i, r) for i in batch if (r := self.results[i]) is not None])
        except Exception as e:  # a full disk, say
            self.fail(e)

    def fail(self, error: BaseException) -> None:
        """End the run with this error: every request and parse still going is cancelled."""
        if not self.failed:
            self.failed.append(error)
            if self.runner is not None:
                self.runner.cancel()

    async def run(
        self,
        settings: FetchSettings,
        validators: Mapping[str, tuple[str | None, str | None]],
        progress: Callable[[int, int], None] | None,
        workers: int,
        deadline: float,
    ) -> None:
        from .fetch import fetch_each
        from .pool import ParsePool, parse_reply

        pool = ParsePool(workers) if workers else None
        parsing: dict[asyncio.Task[None], int] = {}  # each task's body size
        held = [0]  # bytes of the bodies in `parsing`

        def backlog_full() -> bool:
            return len(parsing) >= workers * BACKLOG_PER_WORKER or held[0] >= workers * BACKLOG_BYTES_PER_WORKER

        room = asyncio.Event()
        room.set()

        self.runner = asyncio.current_task()

        async def parse(index: int, raw: RawFeed, digest: str) -> None:
            assert pool is not None
            self.parsed(index, raw, digest, await pool.parse(raw, self.specs[index]))
            self.hand_on()

        def parse_done(task: asyncio.Task[None]) -> None:
            held[0] -= parsing.pop(task, 0)
            if not backlog_full():
                room.set()
            if not task.cancelled() and (error := task.exception()) is not None:
                self.fail(error)  # a bug: loud, as it was when the run awaited every parse

        def arrived(index: int, outcome: FetchOutcome) -> None:
            body = self.fetched(index, outcome)
            self.hand_on()
            if body is None:
                return
            if pool is None:
                self.parsed(index, *body, parse_reply(body[0], self.specs[index]))
            else:
                task = asyncio.create_task(parse(index, *body))
                task.add_done_callback(parse_done)
                parsing[task] = len(body[0].content)
                held[0] += parsing[task]
                if backlog_full():
                    room.clear()

        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline - time.monotonic()):
                    await fetch_each(self.specs, settings, validators, arrived, progress, room.wait if pool else None)
                    if parsing:
                        await asyncio.gather(*parsing)
        except asyncio.CancelledError:
            if self.failed:  # ended by fail(): that error, not a cancel
                if self.runner is not None:
                    self.runner.uncancel()  # the cancel was ours, and it is handled
                raise self.failed[0] from None
            raise
        finally:
            late = list(parsing)
            for task in late:
                task.cancel()  # late: pool.close() then kills every worker still holding a body
            await asyncio.gather(*late, return_exceptions=True)
            if pool is not None:
                await pool.close()

    def fetched(self, index: int, outcome: FetchOutcome) -> tuple[RawFeed, str] | None:
        """Settle a failed or unchanged feed; a body to parse is returned with its hash."""
        from .fetch import NotModified

        spec = self.specs[index]
        name = spec.name or spec.url
        if isinstance(outcome, FetchError):
            _log_failure(outcome)
            self.settle(
                index,
                SourceResult(
                    name=name,
                    url=spec.url,
                    status=SourceStatus.FAILED,
                    error=outcome.reason,
                    retry_after=outcome.retry_after,
                    gone=outcome.gone,
                ),
            )
            return None
        if isinstance(outcome, NotModified):
            digest = self.body_hashes.get(spec.url)
        else:
            digest = "sha1:" + hashlib.sha1(outcome.content).hexdigest()
        if isinstance(outcome, NotModified) or digest == self.body_hashes.get(spec.url):
            self.settle(
                index,
                SourceResult(
                    name=name,
                    url=spec.url,
                    status=SourceStatus.NOT_MODIFIED,
                    etag=outcome.etag,
                    last_modified=outcome.last_modified,
                    final_url=outcome.url,
                    body_hash=digest,
                    moved_to=_moved_to(spec, outcome),
                ),
            )
            return None
        assert digest is not None
        return outcome, digest

    def parsed(self, index: int, raw: RawFeed, digest: str, reply: Reply) -> None:
        spec = self.specs[index]
        name = spec.name or spec.url
        if reply[0] != "ok":
            reason = reply[1]
            if reply[0] == "bug":  # a parser bug or a body that trips one: loud, but this feed only
                log.error("parsing %s failed: %s\n%s", spec.url, reason, reply[2])
                reason = f"parser error: {reason}"
            else:
                log.debug("ParseError: %s: %s", raw.url, reason)
            self.settle(index, SourceResult(name=name, url=spec.url, status=SourceStatus.FAILED, error=reason))
            return
        _, title, items = reply
        self.settle(
            index,
            SourceResult(
                name=spec.name or title or name,
                url=spec.url,
                status=SourceStatus.OK,
                items=tuple(items),
                etag=raw.etag,
                last_modified=raw.last_modified,
                final_url=raw.url,
                body_hash=digest,
                moved_to=_moved_to(spec, raw),
            ),
        )


def _moved_to(spec: FeedSpec, outcome: RawFeed | NotModified) -> str | None:
    return outcome.url if outcome.moved and outcome.url != spec.url else None


def _log_failure(error: SourceError) -> None:
    cause = error.__cause__
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    log.debug("%s failed: %s: %s%s", type(error).__name__, error.url, error.reason, detail)


def probe_feed(url: str, settings: FetchSettings) -> tuple[str, str]:
    """(feed URL, what was found) for a URL given by a person: a feed, or a page that names one.

    Raises SourceError when neither the URL nor a feed it names can be read.
    """
    from .fetch import NotModified, fetch_all
    from .parse import discover_feeds, parse_feed

    (outcome,) = fetch_all([FeedSpec(url=url)], settings, {})
    if isinstance(outcome, FetchError):
        raise outcome
    if isinstance(outcome, NotModified):  # cannot happen without validators; treat as a feed
        return url, "a feed"
    try:
        title, items = parse_feed(outcome, FeedSpec(url=url))
    except SourceError as e:
        found = discover_feeds(outcome.content, outcome.url)
        if not found:
            raise
        if found[0] == url:
            raise e from None
        feed_url, what = probe_feed(found[0], settings)  # the named feed must be readable too
        more = f" (it names {len(found) - 1} more)" if len(found) > 1 else ""
        return feed_url, f"the page names its feed {feed_url}{more}; {what}"
    return (outcome.url if outcome.moved else url), f"a feed: {title or 'untitled'}, {len(items)} entries"
