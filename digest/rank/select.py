"""Pick the top N (pure): best first, but never two of one claim, nor too many of one source.

Greedy maximal marginal relevance: each step takes the candidate whose score,
less a penalty for resembling a pick already made, is highest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..models import ScoredInsight, Selection

MMR_PENALTY = 0.5  # share of the same-claim probability with the closest pick taken off the score
REDUNDANT = 0.35  # a candidate this likely to repeat a pick is not picked (merging needs 0.52)
RUNNERS_UP = 5


def select_top(
    scored: Sequence[ScoredInsight],
    similarity: Callable[[int, int], float],
    *,
    top_n: int,
    max_per_source: int,
) -> Selection:
    """Picks and runners-up; similarity(i, j) indexes `scored`. Input order never matters."""
    pool = sorted(
        (i for i, s in enumerate(scored) if s.score > 0),
        key=lambda i: (-scored[i].score, scored[i].fingerprint),
    )
    picks: list[int] = []
    per_source: dict[str, int] = {}

    def closest(i: int) -> float:
        return max((similarity(i, p) for p in picks), default=0.0)

    # The cap is strict: an issue with fewer picks beats five from one source.
    while len(picks) < top_n:
        allowed = [
            i
            for i in pool
            if per_source.get(scored[i].cluster.best.item.source, 0) < max_per_source and closest(i) < REDUNDANT
        ]
        if not allowed:
            break
        choice = max(allowed, key=lambda i: scored[i].score - MMR_PENALTY * closest(i))  # first max wins: stable
        picks.append(choice)
        pool.remove(choice)
        source = scored[choice].cluster.best.item.source
        per_source[source] = per_source.get(source, 0) + 1
    rest = sorted(pool, key=lambda i: (-(scored[i].score - MMR_PENALTY * closest(i)), scored[i].fingerprint))
    runners_up = rest[:RUNNERS_UP]

    def held_back(i: int) -> str:
        source = scored[i].cluster.best.item.source
        if per_source.get(source, 0) >= max_per_source:
            return f"{source} already has {max_per_source} picks"
        near = max(picks, key=lambda p: similarity(i, p), default=None)
        if near is not None and similarity(i, near) >= REDUNDANT:
            return f"repeats pick {picks.index(near) + 1} (same-claim {similarity(i, near):.2f})"
        return "lower score once resemblance to the picks is taken off" if picks else "lower score"

    return Selection(
        picks=tuple(scored[i] for i in picks),
        runners_up=tuple(scored[i] for i in runners_up),
        held_back=tuple(held_back(i) for i in runners_up),
    )
