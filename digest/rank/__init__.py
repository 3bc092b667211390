"""Ranking, the pure heart of a run: dedupe -> score -> select.

No clock, no files: `now` and the texts already sent are arguments, and the same
inputs in any order give the same picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..models import Insight, Selection
from .dedupe import SAME_CLAIM_COSINE, cluster_insights
from .score import best_member, fingerprint, is_novel, score_cluster
from .select import select_top
from .similarity import tfidf_vectors

__all__ = ["RankOutcome", "rank_insights"]


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
) -> RankOutcome:
    """Cluster the candidates, score each cluster and pick the top N."""
    ordered = sorted(insights, key=lambda i: i.key)
    texts = [i.text for i in ordered]
    vectors = tfidf_vectors([*texts, *sent_texts, *interests])
    own, sent_vectors, interest_vectors = (
        vectors[: len(texts)],
        vectors[len(texts) : len(texts) + len(sent_texts)],
        vectors[len(texts) + len(sent_texts) :],
    )
    clusters = cluster_insights(ordered, own, best_member)
    vector_of = {id(insight): v for insight, v in zip(ordered, own, strict=True)}
    sent_fps = frozenset(fingerprint(t) for t in sent_texts)
    scored, cluster_vectors = [], []
    for cluster in clusters:
        v = vector_of[id(cluster.best)]
        novel = all(
            is_novel(vector_of[id(m)], fingerprint(m.text), sent_fps, sent_vectors, SAME_CLAIM_COSINE)
            for m in cluster.members
        )
        scored.append(
            score_cluster(
                cluster,
                v,
                now=now,
                half_life_hours=half_life_hours,
                interest_vectors=interest_vectors,
                is_novel=novel,
            )
        )
        cluster_vectors.append(v)
    selection = select_top(scored, cluster_vectors, top_n=top_n, max_per_source=max_per_source)
    return RankOutcome(selection=selection, clusters=len(clusters))
