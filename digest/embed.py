"""Static sentence embeddings from the model shipped inside the wordllama wheel (no download).

An edge: it reads model weights from the installed package. Ranking receives the
loaded `embed` function and never touches files itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger("digest.embed")

Embedder = Callable[[Sequence[str]], list[list[float]]]
DIMENSIONS = 256  # the size wordllama ships in its wheel


def load_embedder() -> Embedder | None:
    """The wordllama embedder, or None (with a warning) when it cannot be loaded offline."""
    try:
        import wordllama

        model = wordllama.WordLlama.load(
            dim=DIMENSIONS, cache_dir=Path(wordllama.__file__).parent, disable_download=True
        )
    except Exception as e:  # a missing or broken model costs quality, never the issue
        log.warning("semantic similarity off (wordllama could not load: %s); using word overlap only", e)
        return None

    def embed(texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return [list(map(float, row)) for row in model.embed(list(texts), norm=True)]

    return embed
