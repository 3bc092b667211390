#!/usr/bin/env python3
"""How digest's near-duplicate clustering scales, on planted copies among generated paragraphs.

    python bench/dedup_scale.py --n 20000 [--embeddings]

Uses the corpus generator of ../shared/bench/dedup_bench.py (n paragraphs of 30-50
words; 10 % are lightly edited copies of an original). Runs digest.rank.dedupe
with the production same-claim decision and prints one JSON line: time, candidate
pairs compared (versus n²/2 for all pairs), recall and precision on the planted pairs.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "shared" / "bench"))

from dedup_bench import make_corpus  # noqa: E402

from digest.embed import load_embedder  # noqa: E402
from digest.models import Insight, ItemData  # noqa: E402
from digest.rank.dedupe import candidate_pairs, cluster_insights  # noqa: E402
from digest.rank.score import best_member  # noqa: E402
from digest.rank.space import Space  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--embeddings", action="store_true", help="load wordllama (as digest once does)")
    args = parser.parse_args()
    docs, planted = make_corpus(args.n, 0.1, args.seed)
    texts = [" ".join(words).capitalize() + "." for words in docs]
    insights = [
        Insight(
            text=t,
            item=ItemData(source=f"s{i % 50}", source_url=f"s{i % 50}", guid=f"{i:06d}", title="", text=t),
            position=0,
        )
        for i, t in enumerate(texts)
    ]
    started = time.perf_counter()
    space = Space.build(texts, load_embedder() if args.embeddings else None)
    built = time.perf_counter()
    pairs = len(candidate_pairs(texts))
    clusters = cluster_insights(insights, space.same_claim, best_member)
    done = time.perf_counter()
    cluster_of = {m.item.guid: k for k, c in enumerate(clusters) for m in c.members}
    found = sum(1 for a, b in planted if cluster_of[f"{a:06d}"] == cluster_of[f"{b:06d}"])
    merged_pairs = sum(len(c.members) * (len(c.members) - 1) // 2 for c in clusters)
    print(
        json.dumps(
            {
                "n": args.n,
                "embeddings": args.embeddings,
                "space_s": round(built - started, 2),
                "cluster_s": round(done - built, 2),
                "total_s": round(done - started, 2),
                "pairs_compared": pairs,
                "all_pairs": args.n * (args.n - 1) // 2,
                "planted": len(planted),
                "recall": round(found / len(planted), 4),
                "precision": round(found / max(1, merged_pairs), 4),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
