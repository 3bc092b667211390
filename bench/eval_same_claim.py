#!/usr/bin/env python3
"""Score digest's same-claim decision on labelled sentence pairs (MSRP format).

    python bench/eval_same_claim.py ../shared/corpus/clusters/msrp/msr_paraphrase_train.txt

The file is tab-separated with a header: Quality, #1 ID, #2 ID, #1 String, #2 String
(Quality 1 = same meaning). The decision is exactly the one ranking uses
(digest.rank.space.Space.same_claim >= digest.rank.sameclaim.THRESHOLD) with the
weights fixed in the code: nothing is fitted to the file being scored. Prints
accuracy, precision, recall and F1 (and the always-"same" baseline) as JSON on
its last line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.embed import load_embedder  # noqa: E402
from digest.rank.sameclaim import THRESHOLD  # noqa: E402
from digest.rank.space import Space  # noqa: E402


def read_pairs(path: Path) -> list[tuple[int, str, str]]:
    pairs = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            if len(row) == 5 and row[0] in ("0", "1"):
                pairs.append((int(row[0]), row[3], row[4]))
    return pairs


def metrics(labels: list[int], predicted: list[bool]) -> dict[str, float]:
    tp = sum(1 for y, p in zip(labels, predicted, strict=True) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted, strict=True) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted, strict=True) if y and not p)
    correct = sum(1 for y, p in zip(labels, predicted, strict=True) if bool(y) == p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": correct / len(labels), "precision": precision, "recall": recall, "f1": f1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", type=Path, help="a TSV file in the MSRP format")
    parser.add_argument("--no-embeddings", action="store_true", help="score the TF-IDF-only fallback")
    args = parser.parse_args()
    pairs = read_pairs(args.pairs)
    if not pairs:
        sys.exit(f"{args.pairs}: no labelled pairs found")
    started = time.perf_counter()
    embed = None if args.no_embeddings else load_embedder()
    n = len(pairs)
    space = Space.build([a for _, a, _ in pairs] + [b for _, _, b in pairs], embed)
    predicted = [space.same_claim(i, n + i) >= THRESHOLD for i in range(n)]
    labels = [y for y, _, _ in pairs]
    result = {k: round(v, 4) for k, v in metrics(labels, predicted).items()}
    baseline = {k: round(v, 4) for k, v in metrics(labels, [True] * n).items()}
    result |= {
        "pairs": n,
        "embeddings": embed is not None,
        "baseline_always_same": baseline,
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
