"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.feedserver import feed_site, reset_feed_site
from tests.http_server import Site


@pytest.fixture(scope="session")
def _feed_site() -> Iterator[Site]:
    # One server for the session: stopping one costs up to half a second (serve_forever's poll).
    with feed_site() as site:
        yield site


@pytest.fixture
def feedserver(_feed_site: Site) -> Site:
    """A feed site on 127.0.0.1 with the routes of tests/feedserver.py; `site.base` is its URL.

    Each test starts from the standard routes and an empty `site.hits`; routes it adds are its own.
    """
    reset_feed_site(_feed_site)
    return _feed_site
