#!/usr/bin/env python3
"""`digest fetch` on N loopback feeds against the parse bound and the peer rss2email (issue #3).

    .venv/bin/python bench/feeds_bench.py --feeds 1000 --runs 3 [--skip-peer]

Starts ../shared/bench/feedserver.py (N feeds of ~30 items, --latency-ms per response,
127.0.0.1 only) and writes a config for it in a temporary folder (no seeds;
`[fetch] allow_private_networks = true`, plus any --fetch KEY=VALUE). Then, --runs times:

  first run : `digest fetch` on fresh state (every feed new: fetch, parse, store)
  second run: `digest fetch` again at once (every feed answers 304)

Each run is one subprocess, timed from spawn to reap. Memory: the peak of the sum
of RSS over the whole process tree (digest and any parse workers), polled every
10 ms from /proc, and the largest single process's ru_maxrss (from wait4).

The parse bound is feedparser's CPU time on exactly the bytes served, with the
options digest passes (digest.sources.parse.FEEDPARSER_OPTIONS), in this process,
divided by the number of cores: feedparser as published, without the fast paths digest
puts on its FeedParserDict where it parses (digest/sources/fastpaths.py).

The peer runs last: ../shared/bench/r2e_bench.py --digest (one mail per feed) on
the same feeds, with rss2email 3.14 and aiosmtpd installed into a venv of its own
under --peer-venv (default: a cache folder), never into ours. --skip-peer omits it.

Prints a table of medians and ratios, then one JSON line.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "bench"
PEER_PACKAGES = ("rss2email==3.14", "aiosmtpd")
PAGE = os.sysconf("SC_PAGE_SIZE")
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-runs", type=int, help="rss2email repetitions (default: --runs)")
    parser.add_argument("--skip-peer", action="store_true", help="do not run rss2email")
    parser.add_argument("--fetch", action="append", default=[], metavar="KEY=VALUE", help="extra [fetch] key (TOML)")
    parser.add_argument("--peer-venv", type=Path, default=_cache_dir() / "rss2email-3.14")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    parser.add_argument(
        "--wait-idle", type=float, default=60, metavar="S", help="before each run, wait up to S s for idle cores"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="feeds-bench-"))
    try:
        report = run_bench(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(report)
    print(json.dumps(report))


def run_bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    report: dict[str, Any] = {"feeds": args.feeds, "latency_ms": args.latency_ms, "runs": args.runs, "cores": cores}
    with feed_server(args.feeds, args.latency_ms, tmp) as base:
        config = write_config(tmp, base, args.feeds, args.fetch)
        report["fetch_options"] = args.fetch
        runs: dict[str, list[dict[str, Any]]] = {"first": [], "second": []}
        for rep in range(args.runs):
            state = tmp / "state"
            shutil.rmtree(state, ignore_errors=True)
            for phase in ("first", "second"):
                wait_idle(args.wait_idle)
                stats(base, reset=True)
                result = timed([sys.executable, "-m", "digest", "fetch", "--config", str(config)], tmp / "fetch.err")
                result["http"] = stats(base)
                result["items"] = count_items(state / "digest.sqlite3")
                print(json.dumps({"rep": rep, "phase": phase, **result}), file=sys.stderr, flush=True)
                if result["rc"] != 0:
                    raise SystemExit(f"digest fetch failed ({phase} run): {result['stderr_tail']}")
                runs[phase].append(result)
        for phase, results in runs.items():
            report[phase] = summarise(results)
        report["parse_bound"] = parse_bound(base, args.feeds, cores, args.runs)
    first, bound = report["first"]["wall_median_s"], report["parse_bound"]["bound_s"]
    report["first_over_parse_bound"] = round(first / bound, 2)
    if not args.skip_peer:
        report["peer"] = run_peer(args, tmp)
        for phase in ("first", "second"):
            peer = report["peer"][phase]["wall_median_s"]
            report[phase]["peer_over_digest"] = round(peer / report[phase]["wall_median_s"], 1)
    return report


class feed_server:  # noqa: N801 (used as a context manager, like open)
    def __init__(self, feeds: int, latency_ms: float, tmp: Path):
        self.args = [
            sys.executable,
            str(SHARED / "feedserver.py"),
            "--feeds",
            str(feeds),
            "--latency-ms",
            str(latency_ms),
            "--max-seconds",
            "7200",
            "--port-file",
            str(tmp / "feed.port"),
        ]
        self.port_file = tmp / "feed.port"
        self.log = tmp / "feedserver.log"

    def __enter__(self) -> str:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not (self.port_file.exists() and self.port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"feedserver did not start: {self.log.read_text()}")
            time.sleep(0.1)
        return f"http://127.0.0.1:{self.port_file.read_text().strip()}"

    def __exit__(self, *_: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_config(tmp: Path, base: str, feeds: int, fetch: list[str]) -> Path:
    (tmp / "seeds").mkdir(exist_ok=True)
    lines = [
        "[paths]",
        'seeds = "seeds"',
        'archive = "archive"',
        'database = "state/digest.sqlite3"',
        'outbox = "outbox"',
        "[fetch]",
        "allow_private_networks = true",
        *(option.replace("=", " = ", 1) for option in fetch),
    ]
    lines += [f'[[feeds]]\nurl = "{base}/feed/{i}.xml"' for i in range(feeds)]
    config = tmp / "digest.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def timed(cmd: list[str], err_path: Path, timeout: float = 1800) -> dict[str, Any]:
    """Run cmd; wall time, CPU time, peak RSS of the tree (sum) and of its largest process."""
    with open(err_path, "w+b") as err:
        busy_before = busy_seconds()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        peak_tree, peak_procs = 0, 1
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            rss, procs = tree_rss(proc.pid)
            if rss > peak_tree:
                peak_tree = rss
            peak_procs = max(peak_procs, procs)
            time.sleep(0.01)
        wall = time.perf_counter() - start
        busy = busy_seconds() - busy_before
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-800:].decode(errors="replace")
    return {
        "rc": proc.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),  # with its reaped children (workers)
        # CPU the rest of the machine used meanwhile, in cores: a shared machine skews wall times
        "other_load_cores": round(max(0.0, busy - usage.ru_utime - usage.ru_stime) / wall, 2),
        "peak_tree_rss_mib": round(peak_tree / 2**20, 1),
        "max_single_rss_mib": round(max(usage.ru_maxrss, 0) / 1024, 1),
        "processes": peak_procs,
        "stderr_tail": tail if proc.returncode else "",
    }


def busy_seconds() -> float:
    """CPU time every core has spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_idle(limit: float) -> None:
    """Wait (up to `limit` s) for a second in which other processes use under a tenth of one core."""
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        before = busy_seconds()
        time.sleep(1)
        if busy_seconds() - before < 0.1:
            return
    if limit > 0:
        print(f"the machine stayed busy for {limit:g} s; timing anyway", file=sys.stderr, flush=True)


def tree_rss(root: int) -> tuple[int, int]:
    """Sum of resident memory of root and its descendants (bytes), and how many processes."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
            count += 1
        except OSError:
            pass
        todo.extend(parents.get(pid, ()))
    return total, count


def stats(base: str, reset: bool = False) -> dict[str, int]:
    with urllib.request.urlopen(base + "/stats" + ("?reset=1" if reset else ""), timeout=10) as response:
        return dict(json.loads(response.read())["status"])


def count_items(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM items").fetchone()[0])


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [r["wall_s"] for r in results]
    return {
        "wall_median_s": round(statistics.median(walls), 2),
        "wall_s": walls,
        "cpu_median_s": round(statistics.median(r["cpu_s"] for r in results), 2),
        "other_load_cores": [r["other_load_cores"] for r in results],
        "peak_tree_rss_mib": max(r["peak_tree_rss_mib"] for r in results),
        "max_single_rss_mib": max(r["max_single_rss_mib"] for r in results),
        "processes": max(r["processes"] for r in results),
        "items": results[-1]["items"],
        "http": results[-1]["http"],
    }


def parse_bound(base: str, feeds: int, cores: int, runs: int) -> dict[str, Any]:
    """feedparser's CPU time for the bytes served, with digest's options, spread over every core."""
    import feedparser

    from digest.sources.parse import FEEDPARSER_OPTIONS

    # The bound is feedparser as published: digest's FeedParserDict fast paths (sources/fastpaths.py)
    # are installed only where digest parses, never in this process.
    assert "_digest_original" not in vars(feedparser.FeedParserDict), "the parse bound must use feedparser as is"

    def get(i: int) -> tuple[bytes, dict[str, str]]:
        with urllib.request.urlopen(f"{base}/feed/{i}.xml", timeout=60) as response:
            return response.read(), {k.lower(): v for k, v in response.headers.items()}

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        bodies = list(pool.map(get, range(feeds)))

    def cpu_time(options: dict[str, bool]) -> tuple[float, int]:
        start = time.process_time()
        entries = sum(len(feedparser.parse(b, response_headers=h, **options).entries) for b, h in bodies)
        return time.process_time() - start, entries

    times, entries = [], 0
    for _ in range(max(1, runs)):
        seconds, entries = cpu_time(FEEDPARSER_OPTIONS)
        times.append(seconds)
    cpu = statistics.median(times)
    defaults, _ = cpu_time({})  # feedparser's own sanitiser and URI resolver on: for comparison only
    return {
        "options": FEEDPARSER_OPTIONS,
        "feedparser": feedparser.__version__,
        "bytes": sum(len(b) for b, _ in bodies),
        "entries": entries,
        "cpu_s": round(cpu, 2),
        "bound_s": round(cpu / cores, 2),
        "bound_with_feedparser_defaults_s": round(defaults / cores, 2),
    }


def run_peer(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    python = peer_python(args.peer_venv)
    cmd = [
        str(python),
        str(SHARED / "r2e_bench.py"),
        "--digest",
        "--feeds",
        str(args.feeds),
        "--latency-ms",
        str(args.latency_ms),
        "--runs",
        str(args.peer_runs or args.runs),
        "--workdir",
        str(tmp / "r2e"),
        "--r2e",
        str(python.parent / "r2e"),
        "--max-seconds",
        "7200",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    summary = None
    for line in out.stdout.splitlines():
        record = json.loads(line)
        if "summary" in record:
            summary = record["summary"]
        else:
            print(json.dumps({"peer": record}), file=sys.stderr, flush=True)
    if out.returncode != 0 or summary is None:
        raise SystemExit(f"r2e_bench.py failed ({out.returncode}): {out.stderr[-800:]}")
    return {
        "tool": "rss2email 3.14, digest = True (one mail per feed)",
        **{
            phase: {
                "wall_median_s": summary[phase]["wall_median_s"],
                "cpu_median_s": summary[phase]["cpu_median_s"],
                "peak_rss_mib": summary[phase]["peak_rss_mib_max"],
                "messages": summary[phase]["messages"],
                "http": summary[phase]["http"],
            }
            for phase in ("first", "second")
        },
    }


def peer_python(where: Path) -> Path:
    """rss2email 3.14 in a venv of its own (made once, reused)."""
    python = where / "bin" / "python"
    if not (where / "bin" / "r2e").exists():
        print(f"installing {' '.join(PEER_PACKAGES)} into {where}", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return python


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "digest-bench"


def print_table(report: dict[str, Any]) -> None:
    first, second, bound = report["first"], report["second"], report["parse_bound"]
    peer = report.get("peer")
    rows = [
        ("first run (all new)", f"{first['wall_median_s']:.2f} s", _peer(peer, "first", first)),
        ("second run (all 304)", f"{second['wall_median_s']:.2f} s", _peer(peer, "second", second)),
        (
            "peak memory, whole tree (sum of RSS)",
            f"{max(first['peak_tree_rss_mib'], second['peak_tree_rss_mib']):.0f} MiB",
            f"{max(peer['first']['peak_rss_mib'], peer['second']['peak_rss_mib']):.0f} MiB" if peer else "-",
        ),
        (
            "largest single process (maxrss)",
            f"{max(first['max_single_rss_mib'], second['max_single_rss_mib']):.0f} MiB",
            "",
        ),
        (f"parse bound (feedparser CPU / {report['cores']} cores)", f"{bound['bound_s']:.2f} s", ""),
        ("first run / parse bound", f"{report['first_over_parse_bound']:.2f}x", ""),
    ]
    print(
        f"\n{report['feeds']} feeds, {report['latency_ms']:g} ms latency, medians of {report['runs']} runs; "
        f"items stored {first['items']}; HTTP first {first['http']}, second {second['http']}"
    )
    print(f"{'':42} {'digest':>12} {'rss2email (ratio)':>28}")
    for name, ours, theirs in rows:
        print(f"{name:42} {ours:>12} {theirs:>28}")
    print(
        f"parse bound options: {bound['options']}, {bound['entries']} entries, {bound['bytes']} bytes; "
        f"with feedparser's defaults (its sanitiser and URI resolver on): {bound['bound_with_feedparser_defaults_s']} s"
    )
    print(
        f"digest CPU (all processes): first {first['cpu_median_s']} s, second {second['cpu_median_s']} s; "
        f"other load during runs (cores): first {first['other_load_cores']}, second {second['other_load_cores']}"
    )


def _peer(peer: dict[str, Any] | None, phase: str, ours: dict[str, Any]) -> str:
    if not peer:
        return "-"
    return f"{peer[phase]['wall_median_s']:.1f} s ({ours['peer_over_digest']:.1f}x)"


if __name__ == "__main__":
    main()
