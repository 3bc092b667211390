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
from typing import Any

from .errors import RenderError
from .models import Brand, Issue, RenderedIssue, SourceHealth

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
SUBJECT_LEAD_CHARS = 60  # most clients show about 60-70 characters of a subject
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
SAFE_SCHEMES = ("http://", "https://", "mailto:")
FEED_ENTRIES = 50  # feed readers want the recent issues; the index and search hold the rest


def make_environment(override_dir: Path | None = None) -> Any:
    """A Jinja2 Environment: override folder first, then the bundled templates."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.FileSystemLoader(TEMPLATES_DIR))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=_is_markup,
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


def _is_markup(name: str | None) -> bool:
    return name is not None and name.endswith((".html.j2", ".xml.j2", ".html", ".xml"))


def render_issue(env: Any, issue: Issue, brand: Brand) -> RenderedIssue:
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


def render_issue_page(env: Any, issue: Issue, brand: Brand, prev_date: date | None, next_date: date | None) -> str:
    return _render(env, "issue.html.j2", issue=issue, brand=brand, prev_date=prev_date, next_date=next_date, root="../")


def render_index(env: Any, issues: Sequence[Issue], brand: Brand) -> str:
    newest_first = sorted(issues, key=lambda i: i.date, reverse=True)
    return _render(env, "index.html.j2", issues=newest_first, brand=brand, root="")


def render_atom(env: Any, issues: Sequence[Issue], brand: Brand, updated: datetime) -> str:
    newest_first = sorted(issues, key=lambda i: i.date, reverse=True)[:FEED_ENTRIES]
    return _render(env, "feed.xml.j2", issues=newest_first, brand=brand, updated=updated)


def render_about(env: Any, issues: Sequence[Issue], health: Sequence[SourceHealth], brand: Brand) -> str:
    """The page about the digest itself: items and picks per issue, picks per source, source health."""
    newest_first = sorted(issues, key=lambda i: i.date, reverse=True)
    return _render(env, "about.html.j2", issues=newest_first, health=health, brand=brand, root="")


def make_subject(issue: Issue, brand: Brand) -> str:
    """Title, date and the lead insight, on one line: nothing from a feed can break a header."""
    lead = shorten(issue.insights[0].text, SUBJECT_LEAD_CHARS) if issue.insights else "no new insights"
    return one_line(f"{brand.title} — {issue.date.isoformat()}: {lead}")


def _render(env: Any, name: str, **context: Any) -> str:
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


def wrap(text: str, width: int = 72, indent: str = "") -> str:
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
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
