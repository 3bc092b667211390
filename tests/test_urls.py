"""digest.urls.join is urljoin, string for string, including the URLs it answers without urljoin."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from digest.urls import join

BASES = ["https://feeds.example/blog/feed.xml", "http://feeds.example/a/b/", "", "https://[::1]:8080/x?q#f"]
# Characters urllib's parser treats specially, with ordinary ones in between.
PIECES = st.text(alphabet="ab/.:?#;@[]%=&+ \t\r\n\\~é\x00-", max_size=30)
SCHEMES = st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", "/", "", "javascript:", " https://"])


def _same_as_urljoin(base: str, url: str) -> None:
    try:
        expected: str | type[ValueError] = urljoin(base, url)
    except ValueError:
        expected = ValueError
    try:
        got: str | type[ValueError] = join(base, url)
    except ValueError:
        got = ValueError
    assert got == expected


@settings(max_examples=3000, deadline=None)
@given(base=st.sampled_from(BASES), scheme=SCHEMES, rest=PIECES)
@example(base=BASES[0], scheme="https://", rest="h/p?")
@example(base=BASES[0], scheme="https://", rest="h/p?#f")
@example(base=BASES[0], scheme="https://", rest="h/p#")
@example(base=BASES[0], scheme="https://", rest="h/a;")
@example(base=BASES[0], scheme="https://", rest="/path")
@example(base=BASES[0], scheme="http://", rest="h/a\tb")
@example(base=BASES[0], scheme="https://", rest="[::1/x")
def test_join_gives_what_urljoin_gives(base: str, scheme: str, rest: str) -> None:
    _same_as_urljoin(base, scheme + rest)


@pytest.mark.parametrize(
    "url",
    [
        "https://site.example/0001/a-post",
        "http://site.example/ref/245560?utm=x&b=2#part",
        "https://user@site.example:8443/p/q.html",
    ],
)
def test_absolute_links_take_the_fast_path_and_are_unchanged(url: str) -> None:
    assert join("https://other.example/feed", url) is url  # the same object: urljoin was not asked
    assert urljoin("https://other.example/feed", url) == url
