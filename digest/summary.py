"""The run summary printed on stderr after `digest once` (pure formatting)."""

from __future__ import annotations

from .models import RunReport, SourceStatus


def format_summary(report: RunReport, seconds: float) -> str:
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
    for r in report.sources:
        if r.status in (SourceStatus.FAILED, SourceStatus.DEFERRED):
            lines.append(f"  {r.status.value}: {r.name} ({r.url}): {r.error}")
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
