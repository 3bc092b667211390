#!/usr/bin/env python3
"""`digest once` to N readers with personal rankings, over SMTP to a loopback sink.

    python bench/send_bench.py [--recipients 1000] [--runs 3]

Starts ../shared/bench/smtpsink.py on 127.0.0.1, writes a config with N
[[recipients]] (each with two interests drawn from a fixed list), runs
`digest once` on the bundled seeds from fresh state, and prints JSON: wall time,
messages per second of the whole run, the sink's message count, and the digest
process's peak RSS. Median over --runs.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINK = ROOT.parent / "shared" / "bench" / "smtpsink.py"
INTERESTS = [
    "open-source models", "AI governance", "employment and jobs", "data security", "chips and sanctions",
    "geopolitics", "AI safety testing", "agents", "regulation in China", "developer adoption",
]  # fmt: skip


def one_run(n: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        port_file = base / "port"
        sink = subprocess.Popen(
            [sys.executable, str(SINK), "--port-file", str(port_file), "--max-seconds", "900"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert sink.stdout is not None
            sink.stdout.readline()  # READY
            port = int(port_file.read_text())
            readers = "".join(
                f'[[recipients]]\nemail = "reader{i}@example.org"\ninterests = {json.dumps(rng.sample(INTERESTS, 2))}\n'
                for i in range(n)
            )
            config = base / "config" / "digest.toml"
            config.parent.mkdir()
            config.write_text(
                f'[paths]\nseeds = "{ROOT / "seeds"}"\n[email]\nfrom = "Bench <bench@example.org>"\n'
                f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n{readers}',
                encoding="utf-8",
            )
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "digest", "once", "--config", str(config), "-q"], capture_output=True, text=True
            )
            wall = time.perf_counter() - started
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
        finally:
            sink.terminate()
            _, err = sink.communicate(timeout=30)
        delivered = json.loads(err.strip().splitlines()[-1])["messages"]
    return {"wall_s": wall, "messages": delivered, "messages_per_s": delivered / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.recipients, seed) for seed in range(args.runs)]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child: digest or the sink
    print(
        json.dumps(
            {
                "recipients": args.recipients,
                "runs": [{k: round(v, 2) for k, v in r.items()} for r in runs],
                "median_wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
                "median_messages_per_s": round(statistics.median(r["messages_per_s"] for r in runs), 1),
                "peak_child_rss_mib": round(peak, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
