"""Do two texts make the same claim? A small logistic model over similarity features (pure).

The weights were fitted once, by 10-fold cross-validation on the MSRP paraphrase
pairs (`bench/tune_same_claim.py`), and are fixed here: nothing learns at run time.
`bench/eval_same_claim.py PAIRS.tsv` scores this exact decision on any file in that format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .similarity import Vector, content_tokens, cosine, jaccard, shingles

# Feature order is the weight order. emb = static embedding cosine (wordllama),
# tfidf = TF-IDF cosine over content words, the rest are surface overlaps.
FEATURES = ("emb", "tfidf", "words", "bigrams", "numbers_differ", "length_ratio", "content_overlap")
WEIGHTS = (0.826, 0.950, 1.098, 0.568, -0.534, 0.672, 0.555)
BIAS = -2.063
THRESHOLD = 0.52  # chosen on the training folds of each split; the mean of the ten choices
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass(frozen=True, slots=True)
class Profile:
    """What the features need from one text, computed once per text rather than once per pair."""

    content: frozenset[str]
    words: frozenset[tuple[str, ...]]
    bigrams: frozenset[tuple[str, ...]]
    numbers: frozenset[str]
    length: int


def profile(text: str) -> Profile:
    return Profile(
        content=frozenset(content_tokens(text)),
        words=shingles(text, 1),
        bigrams=shingles(text, 2),
        numbers=frozenset(_NUMBER.findall(text)),
        length=len(text.split()) or 1,
    )


def features_of(a: Profile, b: Profile, tfidf_cosine: float, emb_cosine: float) -> tuple[float, ...]:
    return (
        emb_cosine,
        tfidf_cosine,
        jaccard(a.words, b.words),
        jaccard(a.bigrams, b.bigrams),
        1.0 if a.numbers != b.numbers else 0.0,
        min(a.length, b.length) / max(a.length, b.length),
        len(a.content & b.content) / max(1, min(len(a.content), len(b.content))),
    )


def pair_features(a: str, b: str, va: Vector, vb: Vector, emb_cosine: float) -> tuple[float, ...]:
    return features_of(profile(a), profile(b), cosine(va, vb), emb_cosine)


def same_claim_probability(features: Sequence[float]) -> float:
    z = BIAS + sum(w * f for w, f in zip(WEIGHTS, features, strict=True))
    return 1 / (1 + math.exp(-z))


def is_same_claim(a: str, b: str, va: Vector, vb: Vector, emb_cosine: float) -> bool:
    return same_claim_probability(pair_features(a, b, va, vb, emb_cosine)) >= THRESHOLD
