"""The similarity space of one ranking run: TF-IDF vectors plus optional embeddings (pure).

Every question ranking asks ("same claim?", "too close to a pick?", "sent before?",
"matches an interest?") goes through here, so they all use one measure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import sameclaim
from .similarity import Vector, cosine, tfidf_vectors

Embed = Callable[[Sequence[str]], list[list[float]]]


@dataclass
class Space:
    texts: tuple[str, ...]
    tfidf: tuple[Vector, ...]
    embeddings: tuple[tuple[float, ...], ...] | None
    profiles: tuple[sameclaim.Profile, ...] = ()
    _cache: dict[tuple[int, int], float] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, texts: Sequence[str], embed: Embed | None) -> Space:
        embeddings = tuple(tuple(row) for row in embed(texts)) if embed and texts else None
        profiles = tuple(sameclaim.profile(t) for t in texts)
        return cls(tuple(texts), tuple(tfidf_vectors(texts)), embeddings, profiles)

    def semantic(self, i: int, j: int) -> float:
        """Embedding cosine, or TF-IDF cosine when no model is loaded."""
        if self.embeddings is None:
            return cosine(self.tfidf[i], self.tfidf[j])
        a, b = self.embeddings[i], self.embeddings[j]
        return float(sum(x * y for x, y in zip(a, b, strict=True)))

    def same_claim(self, i: int, j: int) -> float:
        """Probability that texts i and j make the same claim (see sameclaim.py)."""
        key = (min(i, j), max(i, j))
        if key not in self._cache:
            features = sameclaim.features_of(
                self.profiles[i], self.profiles[j], cosine(self.tfidf[i], self.tfidf[j]), self.semantic(i, j)
            )
            self._cache[key] = sameclaim.same_claim_probability(features)
        return self._cache[key]
