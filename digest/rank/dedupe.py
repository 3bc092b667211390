"""Merge candidates that say the same thing into clusters (pure).

Exact copies meet on their normalised text. Near copies and rewordings meet on the
same-claim probability (sameclaim.py), asked only for pairs that share uncommon
words (an inverted index), so the work grows with overlaps, not with n².
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from ..extract import normalize_text
from ..models import Cluster, Insight
from .sameclaim import THRESHOLD
from .similarity import content_tokens

KEY_TERMS = 12  # each text is indexed under its rarest content words only
MIN_SHARED_TERMS = 2  # pairs sharing fewer of them are never compared
MAX_POSTING = 200  # a word in more texts than this is too common to pair on


def cluster_insights(
    insights: Sequence[Insight],
    same_claim: Callable[[int, int], float],
    best_of: Callable[[Sequence[Insight]], Insight],
) -> list[Cluster]:
    """Clusters in a stable order (by their first member); same_claim(i, j) indexes `insights`."""
    order = sorted(range(len(insights)), key=lambda i: insights[i].key)
    parent = {i: i for i in order}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_text: dict[str, int] = {}
    for i in order:
        key = normalize_text(insights[i].text)
        if key in by_text:
            union(by_text[key], i)
        else:
            by_text[key] = i
    reps = sorted(by_text.values())
    for a, b in candidate_pairs([insights[i].text for i in reps]):
        if same_claim(reps[a], reps[b]) >= THRESHOLD:
            union(reps[a], reps[b])

    groups: dict[int, list[Insight]] = defaultdict(list)
    for i in order:
        groups[find(i)].append(insights[i])
    return [Cluster(best=best_of(members), members=tuple(members)) for _, members in sorted(groups.items())]


def candidate_pairs(texts: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs (i < j) sharing at least MIN_SHARED_TERMS of each text's rarest words.

    Indexing only each text's KEY_TERMS rarest words (prefix filtering) keeps postings
    short: copies share nearly all their rare words, rewordings share their names
    and figures, and common words never pair anything.
    """
    token_sets = [set(content_tokens(t)) for t in texts]
    df: dict[str, int] = defaultdict(int)
    for terms in token_sets:
        for term in terms:
            df[term] += 1
    postings: dict[str, list[int]] = defaultdict(list)
    for i, terms in enumerate(token_sets):
        for term in sorted(terms, key=lambda t: (df[t], t))[:KEY_TERMS]:
            postings[term].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for ids in postings.values():
        if len(ids) > MAX_POSTING:
            continue
        for x, i in enumerate(ids):
            for j in ids[x + 1 :]:
                shared[(i, j)] += 1
    return sorted(pair for pair, n in shared.items() if n >= MIN_SHARED_TERMS)
