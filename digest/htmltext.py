"""Untrusted HTML -> safe HTML (nh3 allowlist) and -> block text for extraction (pure).

Block text is what ItemData.text carries: blocks split by blank lines, "• " before
list items and "# " before headings. Page furniture (nav, header, footer, aside,
forms, scripts) is dropped whole.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "dl", "dt", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "s", "small",
    "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "abbr": {"title"}}
URL_SCHEMES = {"http", "https", "mailto"}

DROPPED = {"script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template",
           "button", "select", "textarea", "iframe", "svg", "object", "embed", "head"}  # fmt: skip
BLOCKS = {"p", "div", "section", "article", "main", "blockquote", "pre", "tr", "table", "ul", "ol",
          "dl", "dt", "dd", "figure", "figcaption", "hr", "body", "html", "li", "h1", "h2", "h3",
          "h4", "h5", "h6", "td", "th"}  # fmt: skip
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
VOID = {"br", "hr", "img", "meta", "link", "input", "source", "wbr", "col", "area", "base"}
_SPACE = re.compile(r"\s+")


def sanitize_html(raw: str, base_url: str | None = None) -> str:
    """Allowlisted HTML: no script, style, event handlers or non-http(s)/mailto URLs."""
    import nh3  # loaded only when there is HTML to clean

    del base_url  # relative links stay relative; nh3 keeps them harmless
    return nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener nofollow noreferrer",
        strip_comments=True,
    )


def html_to_text(raw: str) -> str:
    """Block text of an HTML fragment or page; never raises on malformed input."""
    parser = _BlockParser()
    try:
        parser.feed(raw)
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup
        pass
    return parser.text()


class _BlockParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.prefix = ""
        self.skip_depth = 0
        self.skip_tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_depth:
            if tag == self.skip_tag and tag not in VOID:
                self.skip_depth += 1
            return
        if tag in DROPPED:
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "br":
            self.current.append(" ")
        elif tag in BLOCKS:
            self.flush()
            self.prefix = "• " if tag == "li" else "# " if tag in HEADINGS else ""

    def handle_endtag(self, tag: str) -> None:
        if self.skip_depth:
            if tag == self.skip_tag:
                self.skip_depth -= 1
            return
        if tag in BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.current.append(data)

    def flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self.current)).strip()
        if text:
            self.blocks.append(self.prefix + text)
        self.current, self.prefix = [], ""

    def text(self) -> str:
        self.flush()
        return "\n\n".join(self.blocks)
