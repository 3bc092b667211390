"""The run summary printed on stderr after `digest once` and `digest fetch` (pure formatting)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .models import ItemData, RunReport, SourceResult, SourceStatus

# Healthy sources get a row each only in small runs (or with -v): a thousand "ok" rows
# would hide the few that need attention, which always get theirs.
HEALTHY_ROWS_UP_TO = 20
_PROBLEMS = (SourceStatus.FAILED, SourceStatus.DEFERRED)
_DETAIL_WIDTH = 100


def format_summary(report: RunReport, seconds: float, *, every_source: bool = False) -> str:
    lines = []
    issue = report.issue
    if issue is not None:
        state = "re-made" if report.reused else "new"
        lines.append(f"issue #{issue.number} for {issue.date.isoformat()} ({state})")
    counts = {s: sum(r.status is s for r in report.sources) for s in SourceStatus}
    deferred = f", {counts[SourceStatus.DEFERRED]} deferred" if counts[SourceStatus.DEFERRED] else ""
    lines.append(
        f"sources: {counts[SourceStatus.OK]} ok, {counts[SourceStatus.NOT_MODIFIED]} not modified, "
        f"{counts[SourceStatus.FAILED]} failed{deferred}"
    )
    lines += source_table(report.sources, every_source=every_source or len(report.sources) <= HEALTHY_ROWS_UP_TO)
    if issue is not None:
        st = issue.stats
        lines.append(
            f"items {st.items}, candidates {st.candidates}, clusters {st.clusters}, picks {len(issue.insights)}"
        )
    for d in report.deliveries:
        lines.append(f"delivery: {d.recipient}: {d.status}" + (f" ({d.detail})" if d.detail else ""))
    if not report.deliveries and issue is not None:
        lines.append("delivery: no recipients configured ([email] to)")
    if report.issue_page:
        lines.append(f"issue page: {report.issue_page}")
    lines.append(f"done in {seconds:.2f} s")
    return "\n".join(f"digest: {line}" for line in lines)


def source_table(sources: Sequence[SourceResult], *, every_source: bool) -> list[str]:
    """One aligned row per source (status, items read, name, detail); problems first, always shown."""
    rows = []
    for r in sorted(sources, key=lambda r: (r.status not in _PROBLEMS, not _detail(r))):
        detail = _detail(r)
        if not every_source and r.status not in _PROBLEMS and not detail:
            continue
        items = str(len(r.items)) if r.status is SourceStatus.OK else "-"
        named_by_url = r.name in (r.url, r.url.rsplit(".", 1)[0])  # e.g. a seed named after its file
        where = r.url if named_by_url else f"{r.name} ({r.url})"
        rows.append((r.status.value.replace("_", " "), items, where, _clip(detail)))
    if not rows:
        return []
    hidden = len(sources) - len(rows)
    widths = [max(len(head), *(len(row[i]) for row in rows)) for i, head in enumerate(("status", "items", "source"))]
    lines = [f"  {'status':<{widths[0]}}  {'items':>5}  {'source':<{widths[2]}}  detail"]
    for status, items, where, detail in rows:
        line = f"  {status:<{widths[0]}}  {items:>5}  {where:<{widths[2]}}  {detail}"
        lines.append(line.rstrip())
    if hidden:
        lines.append(f"  … and {hidden} healthy sources (-v, or `digest sources list`, shows them)")
    return lines


def _detail(r: SourceResult) -> str:
    if r.status in _PROBLEMS:
        return r.error or r.status.value
    notes = [f"moved to {r.moved_to}"] if r.moved_to else []
    if flagged := date_flags(r.items):
        notes.append(f"{flagged}; treated as undated")
    if r.note:
        notes.append(r.note)
    return "; ".join(notes)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_WIDTH else text[: _DETAIL_WIDTH - 1] + "…"


def date_flags(items: Iterable[ItemData]) -> str:
    """'2 entries with an unreadable date, 1 entry dated in the future', or '' when every date was believed."""
    unreadable = future = 0
    for item in items:
        unreadable += item.date_note.startswith("unreadable")
        future += item.date_note.startswith("date in the future")
    parts = [f"{unreadable} {_entries(unreadable)} with an unreadable date"] if unreadable else []
    parts += [f"{future} {_entries(future)} dated in the future"] if future else []
    return ", ".join(parts)


def _entries(n: int) -> str:
    return "entry" if n == 1 else "entries"
