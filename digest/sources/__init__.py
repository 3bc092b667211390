"""Where items come from: feeds (fetch + parse) and seed documents (seeds).

`gather_feeds` turns every configured feed into a SourceResult: ok with items,
not modified, or failed with a reason. It never raises for one bad feed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..config import FetchSettings
from ..errors import SourceError
from ..models import FeedSpec, SourceResult, SourceStatus

log = logging.getLogger("digest.sources")


def gather_feeds(
    specs: Sequence[FeedSpec],
    settings: FetchSettings,
    validators: Mapping[str, tuple[str | None, str | None]],
) -> list[SourceResult]:
    from .fetch import NotModified, fetch_all
    from .parse import parse_feed

    results = []
    for spec, outcome in zip(specs, fetch_all(specs, settings, validators), strict=True):
        name = spec.name or spec.url
        if isinstance(outcome, SourceError):
            results.append(SourceResult(name=name, url=spec.url, status=SourceStatus.FAILED, error=outcome.reason))
        elif isinstance(outcome, NotModified):
            results.append(
                SourceResult(
                    name=name,
                    url=spec.url,
                    status=SourceStatus.NOT_MODIFIED,
                    etag=outcome.etag,
                    last_modified=outcome.last_modified,
                    final_url=outcome.url,
                )
            )
        else:
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
                    etag=outcome.etag,
                    last_modified=outcome.last_modified,
                    final_url=outcome.url,
                )
            )
    return results
