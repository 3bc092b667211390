#!/usr/bin/env python3
"""Build time and size of an archive of N generated issues: full rebuild and one new issue.

    python bench/archive_bench.py [--issues 1000] [--runs 3]

Each issue has five insights of about 50 words with two sources and a related
item, like a real one. Prints JSON with the medians.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest.archive import publish_issue, rebuild_archive  # noqa: E402
from digest.models import Brand, Issue, IssueStats, Pick, RelatedRef, SourceRef  # noqa: E402
from digest.render import make_environment  # noqa: E402

WORDS = (
    "model open weight policy chip export lab release safety agent market cost benchmark data "
    "regulator license compute training inference developer adoption China Europe court"
).split()


def make_issue(n: int, rng: random.Random) -> Issue:
    day = date(2024, 1, 1) + timedelta(days=n)
    picks = tuple(
        Pick(
            rank=r,
            text=" ".join(rng.choice(WORDS) for _ in range(50)).capitalize() + ".",
            title=f"Item {n}-{r}",
            source="Feed A",
            url=f"https://example.org/{n}/{r}",
            published=None,
            score=0.5,
            why={"corroboration": 0.5, "informativeness": 0.9, "interest": 0.3},
            sources=(SourceRef("Feed A", f"https://example.org/{n}/{r}"), SourceRef("Feed B", None)),
            related=(RelatedRef("A related text from another feed.", "Feed B", None),),
            fingerprint=f"{n}-{r}",
        )
        for r in range(1, 6)
    )
    stats = IssueStats(sources_ok=40, sources_failed=1, items=300, candidates=900, clusters=700)
    return Issue(
        date=day,
        number=n + 1,
        title="Daily Insights",
        generated_at=datetime.combine(day, datetime.min.time(), UTC),
        insights=picks,
        stats=stats,
    )


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issues", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(1)
    issues = [make_issue(n, rng) for n in range(args.issues + 1)]
    old, new = issues[:-1], issues[-1]
    env, brand = make_environment(), Brand(title="Daily Insights")
    full, incremental, size = [], [], 0
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp)
            started = time.perf_counter()
            rebuild_archive(archive, env, brand, old)
            full.append(time.perf_counter() - started)
            started = time.perf_counter()
            publish_issue(archive, env, brand, new, old)
            incremental.append(time.perf_counter() - started)
            size = size_of(archive)
    print(
        json.dumps(
            {
                "issues": args.issues,
                "full_rebuild_s": round(statistics.median(full), 2),
                "incremental_s": round(statistics.median(incremental), 3),
                "archive_mib": round(size / 2**20, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
