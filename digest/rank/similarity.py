"""Text similarity for ranking: tokens, shingles and TF-IDF vectors (pure, stdlib only).

Two measures, because duplicates come in two kinds: word shingles catch copies
and light edits; TF-IDF cosine over content words catches the same claim
reworded. Issue #4 measures both on the MSRP pairs.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence

Vector = Mapping[str, float]

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# Function words carry no claim; a short list is enough for TF-IDF to do the rest.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours
    yourself yourselves may might must shall s t don isn aren wasn weren won new one two""".split()
)


def tokens(text: str) -> list[str]:
    """Lower-cased words, accents folded, plurals lightly trimmed; CJK runs as character pairs."""
    text = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for word in _WORD.findall(text):
        if _CJK.search(word):
            out.extend(_cjk_bigrams(word))
            continue
        word = word.replace("’", "'").split("'")[0]
        out.append(_stem(word))
    return out


def _cjk_bigrams(run: str) -> list[str]:
    # Chinese and Japanese have no spaces: overlapping character pairs stand in for words.
    chars = [c for c in run if not c.isspace()]
    return ["".join(chars[i : i + 2]) for i in range(max(1, len(chars) - 1))]


def content_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS and len(t) > 1]


def _stem(word: str) -> str:
    # Just enough to meet "model"/"models", "leads"/"lead"; a real stemmer would be a dependency.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def shingles(text: str, k: int = 3) -> frozenset[tuple[str, ...]]:
    words = tokens(text)
    if len(words) < k:
        return frozenset({tuple(words)}) if words else frozenset()
    return frozenset(tuple(words[i : i + k]) for i in range(len(words) - k + 1))


def jaccard(a: frozenset[object], b: frozenset[object]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def tfidf_vectors(texts: Sequence[str]) -> list[dict[str, float]]:
    """L2-normalised TF-IDF vectors, document frequencies taken over `texts`."""
    docs = [Counter(content_tokens(t)) for t in texts]
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(doc.keys())
    total = len(docs) + 1
    vectors = []
    for doc in docs:
        vec = {t: (1 + math.log(c)) * math.log(total / (1 + df[t]) + 1) for t, c in doc.items()}
        norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
        vectors.append({t: w / norm for t, w in vec.items()})
    return vectors


def cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())
