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

__all__ = ["Embed", "RankOutcome", "rank_insights"]

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
    ordered = sorted(insights, key=lambda i: i.key)
    n, n_sent = len(ordered), len(sent_texts)
    space = Space.build([*(i.text for i in ordered), *sent_texts, *interests], embed)
    sent = range(n, n + n_sent)
    wanted = range(n + n_sent, len(space.texts))
    index = {id(insight): k for k, insight in enumerate(ordered)}
    sent_fps = frozenset(fingerprint(t) for t in sent_texts)

    clusters = cluster_insights(ordered, space.same_claim, best_member)
    scored, where = [], []
    for cluster in clusters:
        members = [index[id(m)] for m in cluster.members]
        best = index[id(cluster.best)]
        novel = not any(
            fingerprint(ordered[m].text) in sent_fps or any(space.same_claim(m, s) >= THRESHOLD for s in sent)
            for m in members
        )
        closeness = max((space.semantic(best, w) for w in wanted), default=INTEREST_FLOOR)
        interest = min(1.0, max(0.0, (closeness - INTEREST_FLOOR) / (INTEREST_FULL - INTEREST_FLOOR)))
        scored.append(
            score_cluster(
                cluster, now=now, half_life_hours=half_life_hours, interest=interest, is_novel=novel, weights=weights
            )
        )
        where.append(best)
    selection = select_top(
        scored, lambda a, b: space.same_claim(where[a], where[b]), top_n=top_n, max_per_source=max_per_source
    )
    return RankOutcome(selection=selection, clusters=len(clusters))
