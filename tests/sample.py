"""A fixed Issue for golden and rendering tests (no I/O, no clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from digest.models import Brand, FailedSource, Issue, IssueStats, Pick, RelatedRef, SourceRef

BRAND = Brand(title="Daily Insights", archive_url="https://digest.example.org/")
GENERATED = datetime(2026, 11, 24, 7, 0, 3, tzinfo=UTC)


def make_pick(
    rank: int,
    text: str,
    *,
    source: str = "Example Feed",
    url: str | None = "https://example.org/a",
    title: str = "A title",
    related: tuple[RelatedRef, ...] = (),
) -> Pick:
    return Pick(
        rank=rank,
        text=text,
        title=title,
        source=source,
        url=url,
        published=datetime(2026, 11, 23, 8, tzinfo=UTC),
        score=0.5 - rank / 100,
        why={
            "corroboration": 0.5,
            "informativeness": 0.9,
            "structure": 0.5,
            "recency": 0.8,
            "interest": 0.2,
            "source_weight": 1.0,
            "novelty": 1.0,
        },
        sources=(SourceRef(source, url), SourceRef("Second Source", "https://second.example.net/x")),
        related=related,
        fingerprint=f"fp{rank}",
    )


def sample_issue(*picks: Pick, day: date = date(2026, 11, 24), number: int = 7) -> Issue:
    if not picks:
        picks = (
            make_pick(
                1,
                "Open-weight models from three labs now match closed ones on coding benchmarks, "
                "at a tenth of the cost of the closed models they are compared with.",
                related=(
                    RelatedRef(
                        "The same claim, reworded by a second outlet.", "Second Source", "https://second.example.net/x"
                    ),
                ),
            ),
            make_pick(
                2,
                "Zürich's regulator published the “final” text — with a 90-day consultation.",
                source="Café Notes",
                url=None,
                title="Café Notes",
            ),
        )
    return Issue(
        date=day,
        number=number,
        title="Daily Insights",
        generated_at=GENERATED,
        insights=tuple(picks),
        stats=IssueStats(
            sources_ok=3,
            sources_failed=1,
            sources_not_modified=1,
            items=12,
            candidates=40,
            clusters=33,
            failures=(
                FailedSource("Broken Feed", "https://broken.example.org/feed", "HTTP 500 Internal Server Error"),
            ),
        ),
    )
