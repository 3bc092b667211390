"""Wiring for `digest sources`: the feeds a run fetches are the config's [[feeds]] plus
those added with `sources add` or `sources import` (kept in the state file)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .config import FULL_TEXT_MISSING, Settings, has_full_text_extractor
from .errors import ConfigError
from .models import FeedSpec


def all_feeds(settings: Settings, subscribed: Sequence[FeedSpec]) -> list[FeedSpec]:
    """Config feeds first; a subscribed feed with the same URL adds nothing."""
    seen = {f.url for f in settings.feeds}
    return [*settings.feeds, *(f for f in subscribed if f.url not in seen)]


def add_feeds(settings: Settings, specs: Sequence[FeedSpec]) -> tuple[list[FeedSpec], list[FeedSpec]]:
    """(added, already there): subscribe each feed once."""
    from .store import open_store

    configured = {f.url for f in settings.feeds}
    added, present = [], []
    with open_store(settings.paths.database) as store, store.transaction():
        for spec in specs:
            if not spec.url.lower().startswith(("http://", "https://")):
                raise ConfigError(f"not an http(s) URL: {spec.url}")
            if spec.full_text and not has_full_text_extractor():
                raise ConfigError(f"{spec.url} asks for full text, {FULL_TEXT_MISSING}")
            if spec.url in configured or not store.add_subscription(spec):
                present.append(spec)
            else:
                added.append(spec)
    return added, present


def remove_feed(settings: Settings, url: str) -> bool:
    from .store import open_store

    if any(f.url == url for f in settings.feeds):
        raise ConfigError(f"{url} is in the config's [[feeds]]; remove it there", path=str(settings.path))
    with open_store(settings.paths.database) as store, store.transaction():
        return store.remove_subscription(url)


def source_health(settings: Settings) -> list[dict[str, object]]:
    from .store import open_store

    with open_store(settings.paths.database) as store:
        rows = store.iter_source_health()
        subscribed = store.get_subscriptions()
    known = {str(r["url"]) for r in rows}
    never = [  # configured or added but never fetched yet
        {"url": f.url, "kind": "feed", "name": f.name or f.url, "last_status": "never fetched", "items": 0}
        for f in all_feeds(settings, subscribed)
        if f.url not in known
    ]
    return [*rows, *never]


def read_opml(path: Path) -> tuple[list[FeedSpec], list[tuple[str, str]]]:
    from .sources.opml import parse_opml

    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from e
    result = parse_opml(data)
    return result.feeds, result.skipped


def opml_of(settings: Settings) -> str:
    from .sources.opml import export_opml
    from .store import open_store

    with open_store(settings.paths.database) as store:
        subscribed = store.get_subscriptions()
    return export_opml(all_feeds(settings, subscribed), settings.title)
