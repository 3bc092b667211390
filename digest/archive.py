"""Write the static archive: issue pages and JSON, index, Atom feed, stylesheet, all atomically.

`publish_issue` rewrites only what one new issue changes; `rebuild_archive` writes everything.
Every file is replaced whole (fsutil.write_atomic), issue pages before the index and feed
that link to them, so a run killed at any moment leaves each file old or new, never
half-written; the next run or `digest archive build` completes the rest and clears the
temporary files a killed run left behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .fsutil import remove_stale_temp_files, write_atomic
from .models import Brand, Issue, SourceHealth
from .render import (
    TEMPLATES_DIR,
    render_about,
    render_atom,
    render_index,
    render_issue_page,
    search_index_script,
)
from .serialize import issue_to_dict

if TYPE_CHECKING:
    from jinja2 import Environment

STYLESHEET = "style.css"


def publish_issue(
    archive: Path,
    env: Environment,
    brand: Brand,
    issue: Issue,
    all_issues: Sequence[Issue],
    health: Sequence[SourceHealth] = (),
) -> Path:
    """Write one issue with its neighbours' pager links, the index and the feed; returns the page path."""
    issues = _one_per_date([*all_issues, issue])
    dates = [i.date for i in issues]
    at = dates.index(issue.date)
    _clear_leftovers(archive)
    page = _write_issue(archive, env, brand, issues, at)
    for neighbour in (at - 1, at + 1):  # their prev/next links now point at this issue
        if 0 <= neighbour < len(issues):
            _write_issue(archive, env, brand, issues, neighbour)
    _write_common(archive, env, brand, issues, health)
    return page


def rebuild_archive(
    archive: Path, env: Environment, brand: Brand, all_issues: Sequence[Issue], health: Sequence[SourceHealth] = ()
) -> None:
    """Write every page, the index, the feed and the static files (`digest archive build`)."""
    issues = _one_per_date(all_issues)
    _clear_leftovers(archive)
    for at in range(len(issues)):
        _write_issue(archive, env, brand, issues, at)
    _write_common(archive, env, brand, issues, health)


def issue_page_path(archive: Path, day: date) -> Path:
    """Where the page of the issue for `day` lives: issues/YYYY-MM-DD.html."""
    return archive / "issues" / f"{day.isoformat()}.html"


def _clear_leftovers(archive: Path) -> None:
    for folder in (archive, archive / "issues"):
        remove_stale_temp_files(folder)


def _one_per_date(issues: Sequence[Issue]) -> list[Issue]:
    """Oldest first; a later entry for a date replaces an earlier one (a re-made issue)."""
    by_date = {i.date: i for i in issues}
    return [by_date[d] for d in sorted(by_date)]


def _write_issue(archive: Path, env: Environment, brand: Brand, issues: list[Issue], at: int) -> Path:
    issue = issues[at]
    prev_date = issues[at - 1].date if at > 0 else None
    next_date = issues[at + 1].date if at + 1 < len(issues) else None
    page = issue_page_path(archive, issue.date)
    write_atomic(page, render_issue_page(env, issue, brand, prev_date, next_date))
    data = json.dumps(issue_to_dict(issue), ensure_ascii=False, indent=2)
    write_atomic(page.with_suffix(".json"), data + "\n")
    return page


def _write_common(
    archive: Path, env: Environment, brand: Brand, issues: list[Issue], health: Sequence[SourceHealth]
) -> None:
    write_atomic(archive / "index.html", render_index(env, issues, brand))
    write_atomic(archive / "about.html", render_about(env, issues, health, brand))
    updated = max((i.generated_at for i in issues), default=None)
    if updated is not None:
        write_atomic(archive / "feed.xml", render_atom(env, issues, brand, updated))
    write_atomic(archive / STYLESHEET, _static(env, STYLESHEET))
    write_atomic(archive / "search.js", _static(env, "search.js"))
    write_atomic(archive / "search-index.js", search_index_script(issues))


def _static(env: Environment, name: str) -> str:
    """A static file from the override folder if it has one, else the bundled one."""
    source, _, _ = env.loader.get_source(env, name) if env.loader else ("", None, None)
    return str(source) if source else (TEMPLATES_DIR / name).read_text(encoding="utf-8")
