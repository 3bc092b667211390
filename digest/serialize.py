"""Issue <-> the JSON contract of DESIGN.md (pure). Stored in SQLite and written beside each page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from .models import FailedSource, Issue, IssueStats, Pick, RelatedRef, SourceRef


def issue_to_dict(issue: Issue) -> dict[str, Any]:
    """The Issue JSON contract: ISO dates, `generated_at` in UTC, scores rounded to 4 places."""
    st = issue.stats
    return {
        "date": issue.date.isoformat(),
        "number": issue.number,
        "title": issue.title,
        "generated_at": _utc(issue.generated_at).isoformat(),
        "insights": [_pick_to_dict(p) for p in issue.insights],
        "runners_up": [_pick_to_dict(p) for p in issue.runners_up],
        "stats": {
            "sources_ok": st.sources_ok,
            "sources_failed": st.sources_failed,
            "sources_not_modified": st.sources_not_modified,
            "items": st.items,
            "candidates": st.candidates,
            "clusters": st.clusters,
            "failures": [{"name": f.name, "url": f.url, "reason": f.reason} for f in st.failures],
        },
    }


def _utc(moment: datetime) -> datetime:
    # A naive time stays as given: guessing its zone would read the machine's clock settings.
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment


def _pick_to_dict(p: Pick) -> dict[str, Any]:
    return {
        "rank": p.rank,
        "text": p.text,
        "title": p.title,
        "source": p.source,
        "url": p.url,
        "published": p.published.isoformat() if p.published else None,
        "score": round(p.score, 4),
        "why": {k: round(v, 4) for k, v in p.why.items()},
        "sources": [{"name": s.name, "url": s.url} for s in p.sources],
        "related": [{"text": r.text, "source": r.source, "url": r.url} for r in p.related],
        "fingerprint": p.fingerprint,
        **({"note": p.note} if p.note else {}),
    }


def issue_from_dict(d: dict[str, Any]) -> Issue:
    """The inverse of issue_to_dict; keys added after the first release are optional."""
    st = d["stats"]
    return Issue(
        date=date.fromisoformat(d["date"]),
        number=int(d["number"]),
        title=d["title"],
        generated_at=datetime.fromisoformat(d["generated_at"]),
        insights=tuple(_pick_from_dict(p) for p in d["insights"]),
        runners_up=tuple(_pick_from_dict(p) for p in d.get("runners_up", [])),
        stats=IssueStats(
            sources_ok=st["sources_ok"],
            sources_failed=st["sources_failed"],
            sources_not_modified=st.get("sources_not_modified", 0),
            items=st["items"],
            candidates=st["candidates"],
            clusters=st["clusters"],
            failures=tuple(FailedSource(**f) for f in st.get("failures", [])),
        ),
    )


def _pick_from_dict(p: dict[str, Any]) -> Pick:
    return Pick(
        rank=p["rank"],
        text=p["text"],
        title=p["title"],
        source=p["source"],
        url=p["url"],
        published=datetime.fromisoformat(p["published"]) if p["published"] else None,
        score=p["score"],
        why=dict(p["why"]),
        sources=tuple(SourceRef(**s) for s in p["sources"]),
        related=tuple(RelatedRef(**r) for r in p["related"]),
        fingerprint=p.get("fingerprint", ""),
        note=p.get("note", ""),
    )
