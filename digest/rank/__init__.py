"""Ranking, the pure heart of a run: dedupe -> score -> select.

No clock, no files: `now`, the texts already sent and a loaded `embed` function
are arguments, and the same inputs in any order give the same picks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..models import Insight, Selection
from .dedupe import cluster_insights
from .sameclaim import THRESHOLD
from .score import WEIGHTS, best_member, fingerprint, score_cluster
from .select import select_top
from .space import Embed, Space

__all__ = ["Embed", "RankOutcome", "rank_for_readers", "rank_insights"]

# Cosine with an interest: unrelated texts sit near 0.1, a text about the interest near 0.5.
INTEREST_FLOOR, INTEREST_FULL = 0.1, 0.5


@dataclass(frozen=True, slots=True)
class RankOutcome:
    selection: Selection
    clusters: int


def rank_insights(
    insights: Sequence[Insight],
    *,
    now: datetime,
    top_n: int,
    max_per_source: int,
    half_life_hours: float,
    interests: Sequence[str] = (),
    sent_texts: Sequence[str] = (),
    weights: Mapping[str, float] = WEIGHTS,
    embed: Embed | None = None,
) -> RankOutcome:
    """Cluster the candidates, score each cluster and pick the top N."""
    (outcome,) = rank_for_readers(
        insights,
        [interests],
        now=now,
        top_n=top_n,
        max_per_source=max_per_source,
        half_life_hours=half_life_hours,
        sent_texts=sent_texts,
        weights=weights,
        embed=embed,
    )
    return outcome


def rank_for_readers(
    insights: Sequence[Insight],
    readers: Sequence[Sequence[str]],
    *,
    now: datetime,
    top_n: int,
    max_per_source: int,
    half_life_hours: float,
    sent_texts: Sequence[str] = (),
    weights: Mapping[str, float] = WEIGHTS,
    embed: Embed | None = None,
) -> list[RankOutcome]:
    """One outcome per reader's interests: clusters and novelty are worked out once for all."""
    ordered = sorted(insights, key=lambda i: i.key)
    n, n_sent = len(ordered), len(sent_texts)
    phrases = sorted({p for interests in readers for p in interests})
    space = Space.build([*(i.text for i in ordered), *sent_texts, *phrases], embed)
    sent = range(n, n + n_sent)
    phrase_at = {p: n + n_sent + k for k, p in enumerate(phrases)}
    index = {id(insight): k for k, insight in enumerate(ordered)}
    sent_fps = frozenset(fingerprint(t) for t in sent_texts)

    clusters = cluster_insights(ordered, space.same_claim, best_member)
    where = [index[id(c.best)] for c in clusters]
    novel = [
        not any(
            fingerprint(ordered[m].text) in sent_fps or any(space.same_claim(m, s) >= THRESHOLD for s in sent)
            for m in (index[id(x)] for x in cluster.members)
        )
        for cluster in clusters
    ]
    outcomes = []
    for interests in readers:
        wanted = [phrase_at[p] for p in interests]
        scored = [
            score_cluster(
                cluster,
                now=now,
                half_life_hours=half_life_hours,
                interest=_interest(space, best, wanted),
                is_novel=is_novel,
                weights=weights,
            )
            for cluster, best, is_novel in zip(clusters, where, novel, strict=True)
        ]
        selection = select_top(
            scored, lambda a, b: space.same_claim(where[a], where[b]), top_n=top_n, max_per_source=max_per_source
        )
        outcomes.append(RankOutcome(selection=selection, clusters=len(clusters)))
    return outcomes


def _interest(space: Space, best: int, wanted: Sequence[int]) -> float:
    closeness = max((space.semantic(best, w) for w in wanted), default=INTEREST_FLOOR)
    return min(1.0, max(0.0, (closeness - INTEREST_FLOOR) / (INTEREST_FULL - INTEREST_FLOOR)))
