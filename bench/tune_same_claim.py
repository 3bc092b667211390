#!/usr/bin/env python3
"""Where the same-claim weights in digest/rank/sameclaim.py come from: 10-fold cross-validation.

    python bench/tune_same_claim.py ../shared/corpus/clusters/msrp/msr_paraphrase_train.txt

Fits a logistic model on the features of sameclaim.pair_features in each training
fold (threshold picked on the training folds too), scores the held-out fold, and
prints the mean held-out accuracy / precision / recall / F1: the honest estimate
to quote. Then prints the weights fitted on every pair, which are what the code
holds. Run it only to change the model; digest never fits anything at run time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eval_same_claim import metrics, read_pairs  # noqa: E402

from digest.embed import load_embedder  # noqa: E402
from digest.rank.sameclaim import pair_features  # noqa: E402
from digest.rank.space import Space  # noqa: E402

FOLDS = 10
THRESHOLDS = np.arange(0.30, 0.71, 0.02)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 50) -> np.ndarray:
    """Newton's method on L2-regularised logistic loss; the last weight is the bias."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0]
        hess = (xb.T * (p * (1 - p))) @ xb / len(y) + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(np.hstack([x, np.ones((len(x), 1))]) @ w)))


def best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    return float(max(THRESHOLDS, key=lambda t: ((p >= t) == y).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", type=Path)
    args = parser.parse_args()
    pairs = read_pairs(args.pairs)
    n = len(pairs)
    space = Space.build([a for _, a, _ in pairs] + [b for _, _, b in pairs], load_embedder())
    x = np.array(
        [
            pair_features(a, b, space.tfidf[i], space.tfidf[n + i], space.semantic(i, n + i))
            for i, (_, a, b) in enumerate(pairs)
        ]
    )
    y = np.array([label for label, _, _ in pairs])
    order = np.random.default_rng(0).permutation(n)
    folds = np.array_split(order, FOLDS)
    held_out, thresholds = [], []
    for k in range(FOLDS):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        w = fit(x[train], y[train])
        t = best_threshold(predict(w, x[train]), y[train])
        thresholds.append(t)
        test = folds[k]
        held_out.append(metrics(list(y[test]), list(predict(w, x[test]) >= t)))
    cv = {key: round(float(np.mean([m[key] for m in held_out])), 4) for key in held_out[0]}
    w = fit(x, y)
    print(
        json.dumps(
            {
                "cross_validated": cv,
                "folds": FOLDS,
                "weights": [round(float(v), 3) for v in w[:-1]],
                "bias": round(float(w[-1]), 3),
                "threshold_mean_of_folds": round(float(np.mean(thresholds)), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
