"""OPML subscription lists in and out (pure).

Real exports are often not well-formed XML (an unescaped "&" in a title is common),
so import reads them with the forgiving HTML tokenizer, which also never resolves
external entities. Duplicates and URLs that are not http(s) are skipped with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from xml.sax.saxutils import quoteattr

from ..models import FeedSpec


@dataclass
class OpmlImport:
    feeds: list[FeedSpec] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url or title, reason)


def parse_opml(data: bytes) -> OpmlImport:
    text = data.decode("utf-8", errors="replace")
    parser = _OutlineParser()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup
        pass
    result = OpmlImport()
    seen: set[str] = set()
    for attrs in parser.outlines:
        url = (attrs.get("xmlurl") or "").strip()
        label = attrs.get("title") or attrs.get("text") or url
        if not url:
            if attrs.get("/") == "leaf":  # an empty entry; outlines that hold others are folders
                result.skipped.append((label, "no xmlUrl"))
            continue
        if not url.lower().startswith(("http://", "https://")):
            result.skipped.append((url, "not an http(s) URL"))
        elif url in seen:
            result.skipped.append((url, "duplicate"))
        else:
            seen.add(url)
            name = (attrs.get("title") or attrs.get("text") or "").strip() or None
            result.feeds.append(FeedSpec(url=url, name=name))
    return result


def export_opml(feeds: list[FeedSpec], title: str) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for f in feeds:
        name = f.name or f.url
        lines.append(
            f'    <outline type="rss" text={quoteattr(name)} title={quoteattr(name)} xmlUrl={quoteattr(f.url)}/>'
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _OutlineParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outlines: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "outline":
            self.outlines.append({k: v or "" for k, v in attrs})

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "outline":
            self.outlines.append({**{k: v or "" for k, v in attrs}, "/": "leaf"})
