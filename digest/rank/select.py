"""Pick the top N (pure): best first, but never two of one claim, nor too many of one source.

Greedy maximal marginal relevance: each step takes the candidate whose score,
less a penalty for resembling a pick already made, is highest.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models import ScoredInsight, Selection
from .similarity import Vector, cosine

MMR_PENALTY = 0.5  # share of the similarity to the closest pick taken off the score
REDUNDANT_COSINE = 0.4  # closer than this to a pick is saying the same thing again
RUNNERS_UP = 5


def select_top(
    scored: Sequence[ScoredInsight],
    vectors: Sequence[Vector],
    *,
    top_n: int,
    max_per_source: int,
) -> Selection:
    """Picks and runners-up; `vectors[i]` belongs to scored[i]. Order of input never matters."""
    pool = sorted(
        (i for i, s in enumerate(scored) if s.score > 0),
        key=lambda i: (-scored[i].score, scored[i].fingerprint),
    )
    picks: list[int] = []
    per_source: dict[str, int] = {}
    # The cap is strict: an issue with fewer picks beats five from one source.
    while len(picks) < top_n:
        choice = _next_pick(scored, vectors, pool, picks, per_source, max_per_source)
        if choice is None:
            break
        picks.append(choice)
        pool.remove(choice)
        source = scored[choice].cluster.best.item.source
        per_source[source] = per_source.get(source, 0) + 1
    rest = sorted(pool, key=lambda i: (-_marginal(scored, vectors, i, picks), scored[i].fingerprint))
    return Selection(
        picks=tuple(scored[i] for i in picks),
        runners_up=tuple(scored[i] for i in rest[:RUNNERS_UP]),
    )


def _next_pick(
    scored: Sequence[ScoredInsight],
    vectors: Sequence[Vector],
    pool: list[int],
    picks: list[int],
    per_source: dict[str, int],
    cap: int,
) -> int | None:
    best, best_value = None, float("-inf")
    for i in pool:
        if per_source.get(scored[i].cluster.best.item.source, 0) >= cap:
            continue
        if picks and max(cosine(vectors[i], vectors[p]) for p in picks) >= REDUNDANT_COSINE:
            continue
        value = _marginal(scored, vectors, i, picks)
        if value > best_value:
            best, best_value = i, value
    return best


def _marginal(scored: Sequence[ScoredInsight], vectors: Sequence[Vector], i: int, picks: list[int]) -> float:
    closest = max((cosine(vectors[i], vectors[p]) for p in picks), default=0.0)
    return scored[i].score - MMR_PENALTY * closest
