"""Where items come from: feeds (fetch + parse) and seed documents (seeds).

`gather_feeds` turns every configured feed into a SourceResult: ok with items,
not modified, or failed with a reason. It never raises for one bad feed.
Failures are logged at debug level here, with their cause; `pipeline` logs the
one warning line per failed source that a person reads.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence

from ..config import FetchSettings
from ..errors import FetchError, SourceError
from ..models import FeedSpec, SourceResult, SourceStatus

log = logging.getLogger("digest.sources")


def gather_feeds(
    specs: Sequence[FeedSpec],
    settings: FetchSettings,
    validators: Mapping[str, tuple[str | None, str | None]],
    body_hashes: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[SourceResult]:
    """Fetch and parse every feed; a body identical to the last one parsed is not parsed again."""
    from .fetch import NotModified, fetch_all
    from .parse import parse_feed

    body_hashes = body_hashes or {}
    results = []
    for spec, outcome in zip(specs, fetch_all(specs, settings, validators, progress), strict=True):
        name = spec.name or spec.url
        if isinstance(outcome, FetchError):
            _log_failure(outcome)
            results.append(
                SourceResult(
                    name=name,
                    url=spec.url,
                    status=SourceStatus.FAILED,
                    error=outcome.reason,
                    retry_after=outcome.retry_after,
                    gone=outcome.gone,
                )
            )
            continue
        moved_to = outcome.url if outcome.moved and outcome.url != spec.url else None
        if isinstance(outcome, NotModified):
            etag, modified, final, digest = outcome.etag, outcome.last_modified, outcome.url, body_hashes.get(spec.url)
        else:
            etag, modified, final = outcome.etag, outcome.last_modified, outcome.url
            digest = "sha1:" + hashlib.sha1(outcome.content).hexdigest()
        if isinstance(outcome, NotModified) or digest == body_hashes.get(spec.url):
            results.append(
                SourceResult(
                    name=name,
                    url=spec.url,
                    status=SourceStatus.NOT_MODIFIED,
                    etag=etag,
                    last_modified=modified,
                    final_url=final,
                    body_hash=digest,
                    moved_to=moved_to,
                )
            )
            continue
        try:
            title, items = parse_feed(outcome, spec)
        except SourceError as e:
            _log_failure(e)
            results.append(SourceResult(name=name, url=spec.url, status=SourceStatus.FAILED, error=e.reason))
            continue
        results.append(
            SourceResult(
                name=spec.name or title or name,
                url=spec.url,
                status=SourceStatus.OK,
                items=tuple(items),
                etag=etag,
                last_modified=modified,
                final_url=final,
                body_hash=digest,
                moved_to=moved_to,
            )
        )
    return results


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
