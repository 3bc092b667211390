"""`digest serve`: catch-up after downtime, once per day, clean exit on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest.config import load_settings
from digest.schedule import should_catch_up

ROOT = Path(__file__).resolve().parents[1]


def settings_with(tmp_path: Path, cron: str, tz: str = "Europe/Berlin", email: str = ""):  # type: ignore[no-untyped-def]
    path = tmp_path / "config" / "digest.toml"  # so ../archive and ../outbox land in tmp_path
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f'timezone = "{tz}"\n[schedule]\ncron = "{cron}"\n[paths]\nseeds = "{ROOT / "seeds"}"\n'
        f'[email]\nto = ["ann@example.org"]\n{email}\n',
        encoding="utf-8",
    )
    return load_settings(path)


def test_catch_up_only_after_todays_run_time_and_only_without_an_issue(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "0 7 * * *")
    before = datetime(2026, 11, 24, 5, 59, tzinfo=UTC)  # 06:59 in Berlin
    after = datetime(2026, 11, 24, 6, 1, tzinfo=UTC)  # 07:01 in Berlin
    assert not should_catch_up(settings, before, lambda d: False)
    assert should_catch_up(settings, after, lambda d: False)
    assert not should_catch_up(settings, after, lambda d: d == date(2026, 11, 24))


def test_catch_up_uses_the_local_date_across_midnight(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "30 0 * * *")
    # 23:45 UTC on the 24th is 00:45 on the 25th in Berlin: the 25th's run time has passed.
    now = datetime(2026, 11, 24, 23, 45, tzinfo=UTC)
    seen: list[date] = []
    assert should_catch_up(settings, now, lambda d: seen.append(d) or False)
    assert seen == [date(2026, 11, 25)]


def start_serve(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--config", str(config)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=config.parent,
    )


def wait_for(proc: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    """Read stderr until `marker` appears; the process keeps running."""
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not seen in:\n{''.join(seen)}")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.stderr:
            proc.stderr.close()


def test_serve_catches_up_once_and_a_restart_does_not_repeat(tmp_path: Path) -> None:
    # Midnight UTC has always passed by the time the test runs; the next run is tomorrow.
    settings_with(tmp_path, "0 0 * * *", tz="UTC")
    config = tmp_path / "config" / "digest.toml"
    first = start_serve(config)
    try:
        log = wait_for(first, "next run at")
    finally:
        stop(first)
    assert "catching up now" in log
    assert "issue #1" in log
    today = datetime.now(UTC).date().isoformat()
    assert (tmp_path / "archive" / "issues" / f"{today}.html").is_file()
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1

    second = start_serve(config)
    try:
        log = wait_for(second, "next run at")
    finally:
        stop(second)
    assert "catching up" not in log
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_a_second_serve_on_the_same_state_exits_with_a_clear_message(tmp_path: Path) -> None:
    settings_with(tmp_path, "0 0 1 1 *", tz="UTC")  # no run today: nothing but waiting
    config = tmp_path / "config" / "digest.toml"
    first = start_serve(config)
    try:
        wait_for(first, "next run at")
        second = subprocess.run(
            [sys.executable, "-m", "digest", "serve", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
    finally:
        stop(first)
    assert second.returncode == 1
    assert "another digest serve is running" in second.stderr and f"pid {first.pid}" in second.stderr


def test_serve_fires_on_schedule_and_each_fire_keeps_one_issue_per_day(tmp_path: Path) -> None:
    # Six fields (seconds first): a fire every 2 s. The first run makes the day's issue; a later
    # fire finds it, makes no new issue and sends nobody anything again.
    settings_with(tmp_path, "*/2 * * * * *", tz="UTC")
    config = tmp_path / "config" / "digest.toml"
    proc = start_serve(config)
    try:
        log = wait_for(proc, "issue #1", timeout=30)  # the catch-up run (midnight has passed) or the first fire
        log += wait_for(proc, "exists already", timeout=30)  # a later fire, same day
        log += wait_for(proc, "delivery to ann@example.org: skipped", timeout=30)
    finally:
        stop(proc)
    today = datetime.now(UTC).date().isoformat()
    assert "issue #2" not in log
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    assert (tmp_path / "archive" / "issues" / f"{today}.html").is_file()


def test_no_day_is_skipped_across_daylight_saving_changes_and_a_second_fire_makes_no_issue() -> None:
    from zoneinfo import ZoneInfo

    from digest.schedule import make_trigger

    berlin = ZoneInfo("Europe/Berlin")
    for cron in ("0 7 * * *", "30 2 * * *"):  # 02:30 does not exist on the spring day and happens twice in autumn
        trigger = make_trigger(cron, berlin)
        for start in (datetime(2026, 3, 26, tzinfo=berlin), datetime(2026, 10, 22, tzinfo=berlin)):
            fires: list[datetime] = []
            now = start
            for _ in range(20):
                if len({f.astimezone(berlin).date() for f in fires}) == 7:
                    break
                nxt = trigger.get_next_fire_time(fires[-1] if fires else None, now)
                assert nxt is not None
                fires.append(nxt)
                now = nxt.astimezone(UTC) + timedelta(seconds=1)  # in UTC: the fold of 02:30 is kept
            days = [f.astimezone(berlin).date() for f in fires]
            assert (days[-1] - days[0]).days == 6  # seven fires' days in a row: none skipped
            twice = {d for d in days if days.count(d) > 1}
            # APScheduler fires 02:30 twice on the autumn day; run_scheduled then finds the day's issue
            assert twice <= {date(2026, 10, 25)}, (cron, fires)


def test_a_fire_on_a_day_that_has_its_issue_only_sends_what_is_pending(tmp_path: Path) -> None:
    from digest.schedule import run_scheduled

    settings = settings_with(tmp_path, "30 2 * * *", tz="Europe/Berlin")
    first_fire = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second_fire = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
    run_scheduled(settings, clock=lambda: first_fire)
    page = tmp_path / "archive" / "issues" / "2026-10-25.json"
    made = page.read_text()
    run_scheduled(settings, clock=lambda: second_fire)
    assert page.read_text() == made  # not re-made
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def issue_numbers(tmp_path: Path) -> dict[date, int]:
    """date -> number of every issue in the archive."""
    import json

    return {
        date.fromisoformat(p.stem): json.loads(p.read_text())["number"]
        for p in (tmp_path / "archive" / "issues").glob("*.json")
    }


def test_every_fire_across_both_clock_changes_makes_one_issue_a_day_and_sends_it_once(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from digest.schedule import make_trigger, run_scheduled

    berlin = ZoneInfo("Europe/Berlin")
    # 02:30 does not exist on 29 March and happens twice on 25 October; "nothing new" issues keep every day busy
    settings = settings_with(tmp_path, "30 2 * * *", email="send_when_empty = true")
    trigger = make_trigger(settings.cron, berlin)
    fires: list[datetime] = []
    windows = ((datetime(2026, 3, 27, tzinfo=berlin), 5), (datetime(2026, 10, 23, tzinfo=berlin), 5))
    for start, length in windows:  # five days around each change, fired as APScheduler would
        previous, now = None, start
        while (fire := trigger.get_next_fire_time(previous, now)) and fire.date() < start.date() + timedelta(length):
            fires.append(fire)
            previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)  # in UTC: the fold is kept
    days = [f.astimezone(berlin).date() for f in fires]
    assert len(fires) == 11 and days.count(date(2026, 10, 25)) == 2  # ten days, the autumn one fires twice
    for fire in fires:  # the scheduler's decision at each fire, with the clock injected
        run_scheduled(settings, clock=lambda fire=fire: fire.astimezone(UTC))
    numbers = issue_numbers(tmp_path)
    assert sorted(numbers) == sorted(set(days))  # one issue for every day, the spring one included
    assert [numbers[d] for d in sorted(numbers)] == list(range(1, 11))  # numbered in date order, none twice
    mails = sorted(p.name for p in (tmp_path / "outbox").glob("*.eml"))
    assert mails == [f"{d.isoformat()}-ann@example.org.eml" for d in sorted(set(days))]  # once a day


def test_a_clock_set_back_makes_no_second_issue(tmp_path: Path) -> None:
    from digest.schedule import run_scheduled

    settings = settings_with(tmp_path, "30 0 * * *", email="send_when_empty = true")
    made = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # 00:30 on the 25th in Berlin
    run_scheduled(settings, clock=lambda: made)
    assert issue_numbers(tmp_path) == {date(2026, 11, 25): 1}

    # The clock is corrected an hour back, to 23:30 on the 24th: that day's run time has passed and it has
    # no issue, but a later issue exists, so neither a fire nor serve's catch-up makes one for it.
    back = made - timedelta(hours=1)
    assert should_catch_up(settings, back, lambda d: False)  # what the date alone would say
    assert not should_catch_up(settings, back, lambda d: False, latest=date(2026, 11, 25))
    run_scheduled(settings, clock=lambda: back)
    # Set back ten minutes instead, the cron fires at 00:30 once more: the day has its issue already.
    run_scheduled(settings, clock=lambda: made)
    assert issue_numbers(tmp_path) == {date(2026, 11, 25): 1}
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1

    run_scheduled(settings, clock=lambda: made + timedelta(days=1))  # time goes on: the next day's issue
    assert issue_numbers(tmp_path) == {date(2026, 11, 25): 1, date(2026, 11, 26): 2}
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
