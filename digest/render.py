"""Issue -> email (subject, HTML, text) and archive pages, through Jinja2 templates (pure).

Reads only templates: the project's `templates/`, behind an optional override
folder. Autoescape is on for HTML and XML and undefined names are errors; the
context is the issue and the brand, never the whole settings.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RenderError
from .models import Brand, Issue, RenderedIssue, SourceHealth

if TYPE_CHECKING:  # jinja2 is imported lazily so `digest --help` stays fast
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
SUBJECT_LEAD_CHARS = 60  # most clients show about 60-70 characters of a subject
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # C0, DEL, C1 and Unicode line breaks
SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Markup templates are autoescaped; `.txt.j2` is plain text and must not be (&amp; in a text email).
AUTOESCAPE_EXTENSIONS = ("html", "xml", "html.j2", "xml.j2")
FEED_ENTRIES = 50  # feed readers want the recent issues; the index and search hold the rest


def make_environment(override_dir: Path | None = None) -> Environment:
    """A Jinja2 Environment: override folder first, then the bundled templates."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.FileSystemLoader(TEMPLATES_DIR))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # default_for_string: a template made from a string is escaped too, unless told otherwise
        autoescape=jinja2.select_autoescape(AUTOESCAPE_EXTENSIONS, default_for_string=True, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        safe_url=safe_url,
        wrap=wrap,
        shorten=shorten,
        isodate=isodate,
        one_line=one_line,
        groupby_month=groupby_month,
        picks_per_source=picks_per_source,
    )
    return env


def render_issue(env: Environment, issue: Issue, brand: Brand) -> RenderedIssue:
    """The email: subject, HTML with inlined CSS, and plain text."""
    import css_inline

    html = _render(env, "email.html.j2", issue=issue, brand=brand)
    return RenderedIssue(
        subject=make_subject(issue, brand),
        # @media rules (dark mode, narrow screens) cannot be inlined: they stay in a <style>;
        # nothing remote is ever loaded while inlining.
        html=css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False).inline(html),
        text=_render(env, "email.txt.j2", issue=issue, brand=brand),
    )


def render_issue_page(
    env: Environment, issue: Issue, brand: Brand, prev_date: date | None, next_date: date | None
) -> str:
    """One archive page; prev/next are the neighbouring issues' dates, if any."""
    return _render(env, "issue.html.j2", issue=issue, brand=brand, prev_date=prev_date, next_date=next_date, root="../")


def render_index(env: Environment, issues: Sequence[Issue], brand: Brand) -> str:
    """The archive index: every issue, newest first."""
    newest_first = sorted(issues, key=lambda i: i.date, reverse=True)
    return _render(env, "index.html.j2", issues=newest_first, brand=brand, root="")


def render_atom(env: Environment, issues: Sequence[Issue], brand: Brand, updated: datetime) -> str:
    """The Atom feed of the newest issues; `updated` is passed in because core never reads the clock."""
    newest_first = sorted(issues, key=lambda i: i.date, reverse=True)[:FEED_ENTRIES]
    return _render(env, "feed.xml.j2", issues=newest_first, brand=brand, updated=updated)


def render_about(env: Environment, issues: Sequence[Issue], health: Sequence[SourceHealth], brand: Brand) -> str:
    """The page about the digest itself: items and picks per issue, picks per source, source health."""
    newest_first = sorted(issues, key=lambda i: i.date, reverse=True)
    return _render(env, "about.html.j2", issues=newest_first, health=health, brand=brand, root="")


def make_subject(issue: Issue, brand: Brand) -> str:
    """Title, date and the lead insight, on one line: nothing from a feed can break a header."""
    lead = shorten(issue.insights[0].text, SUBJECT_LEAD_CHARS) if issue.insights else "no new insights"
    return one_line(f"{brand.title} — {issue.date.isoformat()}: {lead}")


def _render(env: Environment, name: str, **context: Any) -> str:
    import jinja2

    try:
        return str(env.get_template(name).render(**context))
    except jinja2.TemplateError as e:
        raise RenderError(f"template {name}: {e}") from e


# --- filters ----------------------------------------------------------------


def safe_url(url: str | None) -> str | None:
    """Only http(s) and mailto links reach a page: `javascript:` and friends become no link."""
    if not url:
        return None
    url = url.strip()
    return url if url.lower().startswith(SAFE_SCHEMES) and not _CONTROL.search(url) else None


def wrap(text: str, width: int = 72, indent: str = "", hang: str | None = None) -> str:
    """Plain-text paragraph for the text email; `hang` indents the lines after the first."""
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent if hang is None else hang,
        break_long_words=False,
        break_on_hyphens=False,
    )


def shorten(text: str, limit: int) -> str:
    text = one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:—- ")
    return cut + "…"


def one_line(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def isodate(value: date | datetime) -> str:
    return value.isoformat()


def groupby_month(issues: Sequence[Issue]) -> list[tuple[str, list[Issue]]]:
    """("November 2026", issues) pairs in the order given (newest first on the index)."""
    groups: list[tuple[str, list[Issue]]] = []
    for issue in issues:
        label = issue.date.strftime("%B %Y")
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(issue)
    return groups


def search_index_script(issues: Sequence[Issue]) -> str:
    """The archive's search index as a script file, so search works from file:// too.

    Insight text is data inside a JSON string; "<", ">" and "&" are escaped as well,
    so nothing in it can close a tag or start markup even if the file is inlined.
    """
    import json

    entries = [
        {"d": i.date.isoformat(), "r": p.rank, "t": p.text, "s": ", ".join(s.name for s in p.sources)}
        for i in sorted(issues, key=lambda i: i.date, reverse=True)
        for p in i.insights
    ]
    data = json.dumps(entries, ensure_ascii=True, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"window.DIGEST_SEARCH = {data};\n"


def picks_per_source(issues: Sequence[Issue], limit: int = 15) -> list[tuple[str, int]]:
    """(source, picks) for the sources picked most often, most first."""
    counts: dict[str, int] = {}
    for issue in issues:
        for pick in issue.insights:
            counts[pick.source] = counts.get(pick.source, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
