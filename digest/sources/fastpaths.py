"""Fast paths in feedparser: the same answers in about two thirds of the time.

- FeedParserDict is a dict with aliases ("description" reads "summary") and five computed
  keys ("category", "enclosures", "license", "updated", "updated_parsed"). Its get(), `in`,
  `[]` and `[] =` go through the alias table and special cases for every key, and the
  parser calls them about 120 times per entry, nearly always with a key that is neither
  an alias nor special, for which the answer is plain dict's.
- Its content parameters (a few strings) are deep-copied once per element with content,
  through copyreg's generic reconstruction.
- Every start tag joins the current xml:base with the element's (a regex and urljoin);
  given bytes and no xml:base, as digest parses, both are empty and so is the answer.
- Its SAX reader gets text from expat in pieces (split at every line break and entity),
  a Python call each, that it then joins: expat's buffer_text gives the same text in one
  piece per run of text. Asking for it here also skips a failed import per feed
  (feedparser first tries the libxml2 driver, which is not on PyPI).
- Every element's text is translated through a table of the 32 cp1252 fix-ups; a code
  point missing from the table costs str.translate a KeyError, once per distinct character
  of each text. The table it is given maps Latin-1 to itself as well: same output.

For 1,000 feeds of 30 items feedparser took 1.64 s per 200 feeds without the first two
and 1.30 s with them; the third saves ~5% more, the next two ~9%, `[]` and `[] =` ~4%
(bench/feeds_bench.py measures the run). All together: 1.34 s -> 0.86 s per 200 feeds.

Only feedparser 6.0.x is changed, the versions this was read against;
tests/test_fastpaths.py parses every feed in the shared corpus with and without the
fast paths and requires identical results. The right home for this is upstream.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import ModuleType
from typing import Any
from xml.sax import expatreader

# Values deepcopy returns as they are: copying them by reference is what it does too.
_ATOMIC = frozenset({str, int, float, bool, bytes, type(None)})
_DICT_METHODS = ("get", "__contains__", "__getitem__", "__setitem__", "__deepcopy__")
_MARK = "_digest_original"  # on FeedParserDict while the fast paths are in: what they replaced


def install(feedparser: ModuleType) -> bool:
    """Put the fast paths in feedparser (once); False for a version they were not checked on.

    The module is passed in: only sources.parse imports feedparser (tests/test_architecture.py).
    """
    if not str(feedparser.__version__).startswith("6.0."):
        return False
    FeedParserDict = feedparser.FeedParserDict  # noqa: N806 (feedparser's class)
    mixin = feedparser.mixin
    if _MARK in FeedParserDict.__dict__:
        return True
    slow = frozenset({"category", "enclosures", "license", "updated", "updated_parsed", *FeedParserDict.keymap})
    methods = FeedParserDict.__dict__
    original: dict[str, Any] = {name: methods[name] for name in _DICT_METHODS if name in methods}
    original["_urljoin"] = slow_urljoin = mixin._urljoin
    original["_cp1252"] = mixin._cp1252
    original["PREFERRED_XML_PARSERS"] = feedparser.api.PREFERRED_XML_PARSERS
    slow_get, slow_contains = FeedParserDict.get, FeedParserDict.__contains__
    slow_getitem, slow_setitem = FeedParserDict.__getitem__, FeedParserDict.__setitem__
    keymap = FeedParserDict.keymap

    def get(self: dict[str, Any], key: Any, default: Any = None) -> Any:
        if key in slow:
            return slow_get(self, key, default)
        return dict.get(self, key, default)

    def contains(self: dict[str, Any], key: Any) -> bool:
        if key in slow:
            return bool(slow_contains(self, key))
        return dict.__contains__(self, key)

    def getitem(self: dict[str, Any], key: Any) -> Any:
        if key in slow:
            return slow_getitem(self, key)
        return dict.__getitem__(self, key)

    def setitem(self: dict[str, Any], key: Any, value: Any) -> None:
        if key in keymap:
            slow_setitem(self, key, value)
        else:
            dict.__setitem__(self, key, value)

    def deepcopy(self: dict[str, Any], memo: dict[int, Any]) -> Any:
        # What copy's generic path does (new object, memo, __dict__, then each item through
        # __setitem__), without a deepcopy call per string.
        duplicate = type(self).__new__(type(self))
        memo[id(self)] = duplicate
        if self.__dict__:
            duplicate.__dict__.update(copy.deepcopy(self.__dict__, memo))
        for key, value in dict.items(self):
            key = key if type(key) in _ATOMIC else copy.deepcopy(key, memo)
            duplicate[key] = value if type(value) in _ATOMIC else copy.deepcopy(value, memo)
        return duplicate

    FeedParserDict.get = get
    FeedParserDict.__contains__ = contains
    FeedParserDict.__getitem__ = getitem
    FeedParserDict.__setitem__ = setitem
    FeedParserDict.__deepcopy__ = deepcopy
    mixin._urljoin = _empty_join(slow_urljoin)
    mixin._cp1252 = {**{code: code for code in range(256)}, **mixin._cp1252}
    # make_parser imports each name in this list and calls its create_parser(): this module's.
    feedparser.api.PREFERRED_XML_PARSERS = [__name__, *feedparser.api.PREFERRED_XML_PARSERS]
    setattr(FeedParserDict, _MARK, original)
    return True


def uninstall(feedparser: ModuleType) -> None:
    """feedparser as it came (for the equivalence tests)."""
    FeedParserDict = feedparser.FeedParserDict  # noqa: N806 (feedparser's class)
    original = FeedParserDict.__dict__.get(_MARK)
    if original is None:
        return
    for name in _DICT_METHODS:
        if name in original:
            setattr(FeedParserDict, name, original[name])
        elif name in FeedParserDict.__dict__:
            delattr(FeedParserDict, name)
    feedparser.mixin._urljoin = original["_urljoin"]
    feedparser.mixin._cp1252 = original["_cp1252"]
    feedparser.api.PREFERRED_XML_PARSERS = original["PREFERRED_XML_PARSERS"]
    delattr(FeedParserDict, _MARK)


def _empty_join(slow: Callable[[str, str], str]) -> Callable[[str, str], str]:
    def join(base: str, uri: str) -> str:
        # _urljoin runs a regex on uri, then urljoin, which returns uri when base is empty.
        return "" if not base and not uri else slow(base, uri)

    return join


class _BufferedExpatParser(expatreader.ExpatParser):
    """The standard library's SAX reader, with expat handing over each run of text at once."""

    def reset(self) -> None:
        super().reset()
        self._parser.buffer_text = True  # type: ignore[attr-defined]  # (private in typeshed)


def create_parser(*args: Any, **kwargs: Any) -> expatreader.ExpatParser:
    """The SAX driver entry point xml.sax.make_parser calls."""
    return _BufferedExpatParser(*args, **kwargs)
