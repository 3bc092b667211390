"""`digest serve`: APScheduler 3.x runs the pipeline on the configured cron; nothing else.

Exactly-once comes from the issues table and the delivery ledger, not from the
scheduler: a catch-up run or a restart finds the day's issue and sends nobody
anything twice. The clock is injected (`clock`), so that tests can move it across
daylight-saving changes and backwards:

- spring forward: a cron time that does not exist that day fires an hour later, the
  same day (APScheduler), so no day is skipped;
- autumn: a cron time that happens twice fires twice; the second fire finds the
  day's issue and only delivers what is pending;
- a clock set back past midnight (a wrong clock corrected, a restored VM) finds an
  issue dated after "today" and makes none for the earlier date.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from types import FrameType
from typing import TYPE_CHECKING

from .config import Settings
from .errors import DISK_FULL, DigestError, NothingToSend

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger("digest.schedule")

MISFIRE_GRACE_SECONDS = 6 * 3600  # a laptop waking at 9 still gets the 7 o'clock issue
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def run_scheduled(settings: Settings, clock: Clock = utc_now) -> None:
    """One scheduled run; failures are logged, never allowed to stop the scheduler.

    A fire on a day that already has its issue (a second fire at the autumn clock
    change, a restart, a catch-up) makes no new issue: it only delivers what is pending.
    """
    from .pipeline import has_issue, run_issue, send_issue

    now = clock()
    day = now.astimezone(settings.tz).date()
    try:
        if has_issue(settings, day):
            log.info("the issue for %s exists already: only pending deliveries go out", day)
            report = send_issue(settings, now, day)
        elif is_clock_behind(day, latest_issue_date(settings)):
            log.warning(
                "the clock says it is %s, but an issue dated later exists: the clock went back; no issue made "
                "(make one by hand with `digest once --date %s` if it is wanted)",
                day,
                day,
            )
            return
        else:
            report = run_issue(settings, now, issue_date=day)
    except NothingToSend as e:
        log.info("no issue today: %s", e)
    except DigestError as e:
        log.error("run failed: %s", e)
    except OSError as e:  # the scheduler lives on; the next fire tries again
        if e.errno not in DISK_FULL:
            raise
        where = f" ({e.filename})" if e.filename else ""
        log.error("run failed: disk full: no space left on the device%s; free some, the next run tries again", where)
    else:
        issue = report.issue
        if issue is not None and not report.reused:
            log.info("issue #%d for %s made: %s", issue.number, issue.date, report.issue_page)
        for d in report.deliveries:
            log.info("delivery to %s: %s %s", d.recipient, d.status, d.detail)


def make_trigger(cron: str, tz: tzinfo) -> CronTrigger:
    """Five cron fields (minute hour day month weekday), or six with seconds first."""
    from apscheduler.triggers.cron import CronTrigger

    fields = cron.split()
    if len(fields) == 6:
        second, minute, hour, day, month, weekday = fields
        return CronTrigger(
            second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=tz
        )
    return CronTrigger.from_crontab(cron, timezone=tz)


def latest_issue_date(settings: Settings) -> date | None:
    """The date of the newest stored issue, or None."""
    from .pipeline import load_issue

    try:
        return load_issue(settings, None).date
    except NothingToSend:
        return None


def is_clock_behind(today: date, latest: date | None) -> bool:
    """An issue dated after `today` exists: the clock went back (or was wrong when that issue was made)."""
    return latest is not None and latest > today


def should_catch_up(
    settings: Settings, now: datetime, has_issue: Callable[[date], bool], latest: date | None = None
) -> bool:
    """True when today's run time has passed, today has no issue yet, and no later issue exists."""

    tz = settings.tz
    local = now.astimezone(tz)
    if is_clock_behind(local.date(), latest):
        return False
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    trigger = make_trigger(settings.cron, tz)
    first = trigger.get_next_fire_time(None, midnight - timedelta(microseconds=1))
    return first is not None and first.date() == local.date() and first <= local and not has_issue(local.date())


def serve(settings: Settings, clock: Clock = utc_now) -> None:
    """Block, running the pipeline on schedule, until SIGINT or SIGTERM."""
    from .pipeline import _smtp_password
    from .store.lock import hold_lock

    _smtp_password(settings, dry_run=False)  # a missing secret stops serve now, not at every run (issue #7)
    with hold_lock(settings.paths.database, "serve"):  # one scheduler per state file
        _serve_locked(settings, clock)


def _serve_locked(settings: Settings, clock: Clock) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from .store import open_store

    # The scheduler runs jobs in its thread; the main thread only waits for a signal,
    # so a signal at any moment (even during start-up) stops us cleanly.
    stop_requested = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current run", signum)
        stop_requested.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    latest = latest_issue_date(settings)
    with open_store(settings.paths.database) as store:
        catch_up = should_catch_up(settings, clock(), lambda d: store.get_issue_number(d) is not None, latest)
    if catch_up and not stop_requested.is_set():
        log.info("today's run time has passed without an issue: catching up now")
        run_scheduled(settings, clock)
    if stop_requested.is_set():
        log.info("stopped")
        return

    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our own lines say what happens
    trigger = make_trigger(settings.cron, settings.tz)
    scheduler = BackgroundScheduler(timezone=settings.tz)
    scheduler.add_job(
        run_scheduled,
        trigger,
        args=(settings, clock),
        id="digest",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
    )
    scheduler.start()
    log.info(
        "serving %r on cron %r (%s); next run at %s",
        settings.title,
        settings.cron,
        settings.timezone,
        trigger.get_next_fire_time(None, clock().astimezone(settings.tz)),
    )
    try:
        while not stop_requested.wait(timeout=1):
            pass
    finally:
        scheduler.shutdown(wait=True)  # a run in progress finishes; nothing is half-sent
    log.info("stopped")
