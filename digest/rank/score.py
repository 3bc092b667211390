"""Score clusters with named features (pure): each feature in [0, 1], weights in one table.

score = source_weight × novelty × Σ WEIGHTS[f] · feature[f]. The JSON `why` of a
pick carries every feature, so a reader can see what lifted it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

from ..extract import informativeness, normalize_text
from ..models import Cluster, Insight, InsightKind, ScoredInsight

# Tuning table; the weights add up to 1 so a score reads as a share of a perfect pick.
WEIGHTS: Mapping[str, float] = {
    "corroboration": 0.25,  # distinct sources saying it
    "informativeness": 0.25,  # specific, complete, not a teaser
    "structure": 0.10,  # authors' own summaries and key points come first
    "recency": 0.10,  # newer items, by half-life
    "interest": 0.30,  # what the reader said they care about weighs most
}
NEUTRAL_RECENCY = 0.5  # undated items (seeds) are neither fresh nor stale
STRUCTURE = {
    InsightKind.KEY_POINT: 1.0,
    InsightKind.SUMMARY: 0.9,
    InsightKind.BULLET: 0.7,
    InsightKind.PARAGRAPH: 0.5,
}


def fingerprint(text: str) -> str:
    """Stable id of a claim's wording, for novelty across issues."""
    return hashlib.sha1(normalize_text(text).encode()).hexdigest()[:16]


def best_member(members: Sequence[Insight]) -> Insight:
    """The member that reads best; ties go to the earliest by key, so order never matters."""
    return max(
        sorted(members, key=lambda m: m.key),
        key=lambda m: informativeness(m.text) + 0.2 * STRUCTURE[m.kind],
    )


def recency(published: datetime | None, now: datetime, half_life_hours: float) -> float:
    if published is None:
        return NEUTRAL_RECENCY
    age_hours = max(0.0, (now - published).total_seconds() / 3600)
    return round(float(0.5 ** (age_hours / half_life_hours)), 4)


def score_cluster(
    cluster: Cluster,
    *,
    now: datetime,
    half_life_hours: float,
    interest: float,
    is_novel: bool,
    weights: Mapping[str, float] = WEIGHTS,
) -> ScoredInsight:
    best = cluster.best
    n_sources = len(cluster.source_names)
    newest = max((m.item.published for m in cluster.members if m.item.published), default=None)
    features = {
        "corroboration": round(1 - 1 / n_sources, 4),
        "informativeness": informativeness(best.text),
        "structure": max(STRUCTURE[m.kind] for m in cluster.members),
        "recency": recency(newest, now, half_life_hours),
        "interest": round(interest, 4),
    }
    weight = max(m.item.weight for m in cluster.members)
    base = sum(weights[name] * value for name, value in features.items())
    novelty = 1.0 if is_novel else 0.0
    features |= {"source_weight": weight, "novelty": novelty, "sources": float(n_sources)}
    return ScoredInsight(
        cluster=cluster,
        score=round(base * weight * novelty, 4),
        features=features,
        fingerprint=fingerprint(best.text),
    )
