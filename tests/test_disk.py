"""A full disk fails the run cleanly, with the previous state intact (issue #7).

Real ENOSPC: `python -m digest once` runs inside a user + mount namespace (`unshare -rm`)
where small tmpfs mounts hold the state file, the archive and the outbox. One shell script
per case runs day 1, fills a disk, runs day 2, frees the space and runs day 2 again,
copying what is on the tmpfs out after each step (the mounts vanish with the namespace).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_MOUNT = 97  # the script's exit code when it cannot mount a tmpfs
UNSHARE = shutil.which("unshare")
pytestmark = pytest.mark.skipif(
    UNSHARE is None or not sys.platform.startswith("linux"),
    reason="needs Linux and unshare(1) (util-linux) to mount a small tmpfs in a user namespace",
)

# A new seed for day 2 in plain sentences; BIG is far larger than the space left on the state disk.
NEW_SEED = (
    "# Storage prices\n\nSolid-state storage prices per terabyte fell by a third over the last year, which makes "
    "local archives of every daily issue cheap for anyone who keeps them.\n\nRegional grid operators in Europe "
    "reported that battery storage now covers most of the evening peak on sunny days in spring.\n"
)
BIG_SEED = NEW_SEED + "".join(
    f"\nParagraph {n} reports that measurement campaign number {n} found {n % 97} distinct anomalies in the "
    f"sensor logs of station {n * 7919 % 10007}, which the operators attribute to calibration drift.\n"
    for n in range(4000)
)


@dataclass
class Step:
    rc: int
    stderr: str
    files: Path  # what the tmpfs held after this step


def run_script(tmp_path: Path, mounts: dict[str, int], fill: str, leave_kib: int, seed: str) -> dict[str, Step]:
    """Day 1, then fill `fill` leaving `leave_kib`, day 2 with `seed` added, free the space, day 2 again."""
    seeds = tmp_path / "seeds"
    shutil.copytree(ROOT / "seeds", seeds)
    (tmp_path / "new-seed.md").write_text(seed, encoding="utf-8")
    for name in mounts:
        (tmp_path / name).mkdir()
    state, pages = ("state", "pages") if "pages" in mounts else ("state", "state")
    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir()
    config.write_text(
        f'[paths]\nseeds = "../seeds"\ndatabase = "../{state}/digest.sqlite3"\n'
        f'archive = "../{pages}/archive"\noutbox = "../{pages}/outbox"\n[email]\nto = ["ann@example.org"]\n',
        encoding="utf-8",
    )
    mount = "".join(
        f"mount -t tmpfs -o size={kib}k tmpfs {tmp_path / name} || exit {NO_MOUNT}\n" for name, kib in mounts.items()
    )
    once = f"{sys.executable} -m digest once --config {config} --date"
    disks = " ".join(str(tmp_path / name) for name in mounts)
    step = [f"mkdir {tmp_path}/after-{n} && cp -a {disks} {tmp_path}/after-{n}/" for n in (1, 2, 3)]
    script = f"""set -u
{mount}cd {ROOT}
{once} 2026-11-24 2>{tmp_path}/1.err; echo $? >{tmp_path}/1.rc
{step[0]}
cp {tmp_path}/new-seed.md {seeds}/zz-new.md
free=$(df -k --output=avail {tmp_path / fill} | tail -1)
dd if=/dev/zero of={tmp_path / fill}/filler bs=1k count=$((free - {leave_kib})) 2>/dev/null
{once} 2026-11-25 2>{tmp_path}/2.err; echo $? >{tmp_path}/2.rc
rm {tmp_path / fill}/filler
{step[1]}
{once} 2026-11-25 2>{tmp_path}/3.err; echo $? >{tmp_path}/3.rc
{step[2]}
"""
    proc = subprocess.run([str(UNSHARE), "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    if proc.returncode == NO_MOUNT or "unshare failed" in proc.stderr:  # e.g. user namespaces switched off
        pytest.skip(f"unshare -rm cannot mount a tmpfs here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    return {
        str(n): Step(
            rc=int((tmp_path / f"{n}.rc").read_text()),
            stderr=(tmp_path / f"{n}.err").read_text(),
            files=tmp_path / f"after-{n}",
        )
        for n in (1, 2, 3)
    }


def database(step: Step) -> Path:
    (db,) = step.files.rglob("digest.sqlite3")
    return db


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def is_whole(path: Path) -> bool:
    data = path.read_bytes()
    if path.suffix == ".json":
        json.loads(data)
    elif path.suffix == ".xml":
        ET.fromstring(data)
    elif path.suffix == ".html":
        return data.rstrip().endswith(b"</html>")
    elif path.suffix == ".eml":
        return b"\n\n" in data and data.rstrip().endswith(b"--")
    return True


def assert_clean_failure_and_recovery(steps: dict[str, Step]) -> None:
    first, failed, again = steps["1"], steps["2"], steps["3"]
    assert first.rc == 0, first.stderr
    # The failed run: non-zero, one clear line, no traceback.
    assert failed.rc == 1, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1, failed.stderr
    assert lines[0].startswith("digest: error: ") and "disk full" in lines[0].replace("disk is full", "disk full")
    assert "Traceback" not in failed.stderr
    # The state file is sound and still has the earlier issue.
    db = database(failed)
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert ("2026-11-24",) in query(db, "SELECT issue_date FROM issues")
    assert query(db, "SELECT issue_date, recipient, status FROM deliveries WHERE issue_date = '2026-11-24'") == [
        ("2026-11-24", "ann@example.org", "written")
    ]
    # Earlier pages are untouched; nothing half-written sits under a final name; no temp file is left.
    before = {p.relative_to(first.files): p.read_bytes() for p in first.files.rglob("*") if p.is_file()}
    after = {p.relative_to(failed.files): p for p in failed.files.rglob("*") if p.is_file() and p.name != "filler"}
    for name in before:
        if name.suffix in (".html", ".json", ".xml", ".eml") and "2026-11-24" in name.name:
            assert after[name].read_bytes() == before[name], name
    for name, path in after.items():
        assert not name.name.endswith(".tmp"), name
        assert is_whole(path), name
    # Space freed: the next run makes day 2 and delivers it exactly once.
    assert again.rc == 0, again.stderr
    assert "ann@example.org: written" in again.stderr
    db = database(again)
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT issue_date, status FROM deliveries ORDER BY issue_date") == [
        ("2026-11-24", "written"),
        ("2026-11-25", "written"),
    ]
    outbox = sorted(p.name for p in again.files.rglob("*.eml"))
    assert outbox == ["2026-11-24-ann@example.org.eml", "2026-11-25-ann@example.org.eml"]
    (page,) = again.files.rglob("2026-11-25.html")
    assert is_whole(page) and "storage" in page.read_text().lower()


def test_a_full_state_disk_fails_cleanly_and_the_next_run_recovers(tmp_path: Path) -> None:
    # One disk for everything; day 2 brings a seed of ~800 KB with 160 KiB left: SQLite runs out.
    steps = run_script(tmp_path, {"state": 16384}, fill="state", leave_kib=160, seed=BIG_SEED)
    assert "database" in steps["2"].stderr  # it was the state file that could not grow
    assert query(database(steps["2"]), "SELECT count(*) FROM issues WHERE issue_date = '2026-11-25'") == [(0,)]
    assert_clean_failure_and_recovery(steps)


def test_a_full_archive_disk_fails_cleanly_and_the_next_run_recovers(tmp_path: Path) -> None:
    # The state file has room; the archive and outbox disk has none when day 2 is published.
    steps = run_script(tmp_path, {"state": 4096, "pages": 1024}, fill="pages", leave_kib=0, seed=NEW_SEED)
    assert "no space left" in steps["2"].stderr
    assert_clean_failure_and_recovery(steps)


def test_a_state_disk_with_no_room_at_all_names_the_full_disk(tmp_path: Path) -> None:
    # SQLite cannot even create its -wal/-shm files and says "disk I/O error": we say why.
    steps = run_script(tmp_path, {"state": 4096}, fill="state", leave_kib=0, seed=NEW_SEED)
    assert "cannot open database" in steps["2"].stderr and "disk full" in steps["2"].stderr
    assert_clean_failure_and_recovery(steps)


def test_a_scheduled_run_on_a_full_disk_logs_one_line_and_the_scheduler_lives_on(tmp_path: Path) -> None:
    # serve's job function: a full archive disk must not escape into APScheduler as a traceback.
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    (tmp_path / "disk").mkdir()
    config = tmp_path / "digest.toml"
    config.write_text(
        '[paths]\nseeds = "seeds"\ndatabase = "state/digest.sqlite3"\narchive = "disk/archive"\noutbox = "disk/outbox"\n'
        '[email]\nto = ["ann@example.org"]\n',
        encoding="utf-8",
    )
    job = (
        "import logging, sys; from datetime import datetime, UTC;"
        "from digest.config import load_settings; from digest.schedule import run_scheduled;"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr, format='%(levelname)s %(message)s');"
        f"run_scheduled(load_settings({str(config)!r}), lambda: datetime(2026, 11, 24, 7, tzinfo=UTC));"
        "print('scheduler still alive')"
    )
    script = f"""set -u
mount -t tmpfs -o size=256k tmpfs {tmp_path / "disk"} || exit {NO_MOUNT}
cd {ROOT}
dd if=/dev/zero of={tmp_path / "disk"}/filler bs=1k count=250 2>/dev/null
{sys.executable} -c "{job}"
"""
    proc = subprocess.run([str(UNSHARE), "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    if proc.returncode == NO_MOUNT or "unshare failed" in proc.stderr:
        pytest.skip(f"unshare -rm cannot mount a tmpfs here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "scheduler still alive"
    failures = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(failures) == 1 and "run failed" in failures[0] and "disk" in failures[0], proc.stderr
    assert "Traceback" not in proc.stderr
