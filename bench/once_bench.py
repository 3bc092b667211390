#!/usr/bin/env python3
"""Wall time of `digest once` on the bundled seeds, Python start included.

    python bench/once_bench.py [--runs 5]

Each run starts from fresh state in a temporary folder (a new SQLite file, archive
and outbox), as a first-time user would; prints each time and the median as JSON.
Also times `digest --help`, which must stay light.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    once, helps = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config" / "digest.toml"
            config.parent.mkdir()
            text = (ROOT / "config" / "digest.toml").read_text(encoding="utf-8")
            config.write_text(text.replace('seeds = "../seeds"', f'seeds = "{ROOT / "seeds"}"'), encoding="utf-8")
            once.append(timed([sys.executable, "-m", "digest", "once", "--config", str(config)], Path(tmp)))
            helps.append(timed([sys.executable, "-m", "digest", "--help"], Path(tmp)))
    print(
        json.dumps(
            {
                "once_seconds": [round(t, 3) for t in once],
                "once_median_seconds": round(statistics.median(once), 3),
                "help_median_seconds": round(statistics.median(helps), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
