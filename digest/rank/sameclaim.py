"""Do two texts make the same claim? A small logistic model over similarity features (pure).

The weights were fitted once, by 10-fold cross-validation on the MSRP paraphrase
pairs (`bench/tune_same_claim.py`), and are fixed here: nothing learns at run time.
`bench/eval_same_claim.py PAIRS.tsv` scores this exact decision on any file in that format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from .similarity import Vector, content_tokens, cosine, jaccard, shingles

# Feature order is the weight order. emb = static embedding cosine (wordllama),
# tfidf = TF-IDF cosine over content words, the rest are surface overlaps.
FEATURES = ("emb", "tfidf", "words", "bigrams", "numbers_differ", "length_ratio", "content_overlap")
WEIGHTS = (0.826, 0.950, 1.098, 0.568, -0.534, 0.672, 0.555)
BIAS = -2.063
THRESHOLD = 0.52  # chosen on the training folds of each split; the mean of the ten choices
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def pair_features(a: str, b: str, va: Vector, vb: Vector, emb_cosine: float) -> tuple[float, ...]:
    ta, tb = set(content_tokens(a)), set(content_tokens(b))
    na, nb = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
    la, lb = len(a.split()) or 1, len(b.split()) or 1
    return (
        emb_cosine,
        cosine(va, vb),
        jaccard(shingles(a, 1), shingles(b, 1)),
        jaccard(shingles(a, 2), shingles(b, 2)),
        1.0 if na != nb else 0.0,
        min(la, lb) / max(la, lb),
        len(ta & tb) / max(1, min(len(ta), len(tb))),
    )


def same_claim_probability(features: Sequence[float]) -> float:
    z = BIAS + sum(w * f for w, f in zip(WEIGHTS, features, strict=True))
    return 1 / (1 + math.exp(-z))


def is_same_claim(a: str, b: str, va: Vector, vb: Vector, emb_cosine: float) -> bool:
    return same_claim_probability(pair_features(a, b, va, vb, emb_cosine)) >= THRESHOLD
