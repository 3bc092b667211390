"""Where items come from: feeds (fetch + parse) and seed documents (seeds).

`gather_feeds` turns every configured feed into a SourceResult: ok with items,
not modified, or failed with a reason. It never raises for one bad feed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

from ..config import FetchSettings
from ..errors import FetchError, SourceError
from ..models import FeedSpec, SourceResult, SourceStatus


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
