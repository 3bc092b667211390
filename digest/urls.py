"""urljoin with a fast path for the common case: a link that is already an absolute http(s) URL.

Joining is a quarter of turning feed entries into items (every link and every href and
src in their HTML), and most of those URLs are absolute: urljoin parses both URLs and
rebuilds the same string. `join` returns such a URL at once when urljoin's answer is
provably that string (tests/test_urls.py checks it against urljoin on generated URLs):
ASCII, a lower-case http:// or https:// and a host, no character urllib's parser
removes or treats specially (tab, CR, LF, ";", "[", "]"), no empty query or fragment.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

_KEPT_AS_IS = re.compile(r"https?://[^/?#;\[\]\t\r\n][^;\[\]\t\r\n]*")


def join(base: str, url: str) -> str:
    """urljoin(base, url), faster for absolute http(s) URLs; ValueError as urljoin raises it.

    The same string for any base urllib can parse (a feed's or page's URL, already fetched);
    given a broken base (an unclosed "[" in its host), an absolute URL is returned where
    urljoin would raise.
    """
    if url.isascii() and _KEPT_AS_IS.fullmatch(url) and not url.endswith(("?", "#")) and "?#" not in url:
        return url
    return urljoin(base, url)
