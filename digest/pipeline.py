"""One run, end to end: the only place that wires the edges to the pure core.

gather (seeds, feeds) -> store -> extract -> rank -> Issue -> store -> archive -> deliver.
The CLI and the scheduler both call `run_issue`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ConfigError, DeliveryError, DeliveryUncertain, DigestError, NothingToSend
from .extract import extract_insights
from .models import (
    Brand,
    DeliveryRecord,
    DeliveryResult,
    FailedSource,
    Issue,
    IssueStats,
    ItemData,
    Pick,
    RelatedRef,
    RenderedIssue,
    RunReport,
    ScoredInsight,
    Selection,
    SourceHealth,
    SourceRef,
    SourceResult,
    SourceStatus,
)
from .rank import rank_for_readers
from .subscriptions import all_feeds

if TYPE_CHECKING:
    from email.message import EmailMessage

    from .deliver import Mailer
    from .store import Store

log = logging.getLogger("digest.pipeline")


def run_issue(
    settings: Settings,
    now: datetime,
    *,
    issue_date: date | None = None,
    offline: bool = False,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Make (or re-make) the issue of `issue_date`, archive it and deliver it once per recipient."""
    from .store import open_store
    from .store.lock import hold_lock

    password = _smtp_password(settings, dry_run)  # a missing secret fails before any work
    day = issue_date or now.astimezone(settings.tz).date()
    with hold_lock(settings.paths.database, "run"), open_store(settings.paths.database) as store:
        latest = store.get_latest_issue_date()
        if issue_date is None and latest is not None and latest > day:  # as the scheduler does (schedule.py)
            behind = NothingToSend(
                f"the clock says it is {day.isoformat()}, but the issue of {latest.isoformat()} exists: "
                "the clock went back; no issue made"
            )
            behind.hint = f"check the system clock, or pass --date {day.isoformat()} to make that issue anyway"
            raise behind
        sources = gather(settings, store, now, offline=offline, progress=progress)
        items = store.get_unused_items(day.isoformat())
        sent_texts = store.get_sent_texts(day, settings.rank.novelty_days)
        existing = store.get_issue_number(day)  # re-making a date keeps its number
        number = existing or store.next_issue_number()
        issue, personal = make_issues(settings, now, day, items, sources, sent_texts, number=number)
        issue_json = issue_json_text(issue)
        with store.transaction():
            store.save_issue(
                day, issue.number, issue_json, [(p.rank, p.fingerprint, p.text) for p in issue.insights], now
            )
            store.mark_items_used(items, day.isoformat())
            if not dry_run:  # the ledger knows every reader is owed this issue before any SMTP talk
                store.add_pending_deliveries(day, [*settings.email.to, *personal], now)
        all_issues = [_issue_from_json(text) for text in store.iter_issue_json()]
        page = publish(settings, issue, all_issues, source_health(store))
        deliveries = deliver(settings, store, issue, now, dry_run=dry_run, password=password, personal=personal)
    return RunReport(
        issue=issue, sources=sources, issue_page=str(page), deliveries=tuple(deliveries), reused=existing is not None
    )


def gather(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    offline: bool,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SourceResult, ...]:
    """Read the seeds and fetch every due feed; store what came in; failures are values."""
    from .sources import gather_feeds  # httpx and feedparser load only when a run needs them
    from .sources.seeds import read_seeds

    seeds = read_seeds(settings.paths.seeds)
    feeds: list[SourceResult] = []
    stored: set[int] = set()  # indexes in `due` of feeds stored while the rest were fetched
    specs = all_feeds(settings, store.get_subscriptions())

    def save(kind: str, results: Iterable[SourceResult]) -> None:
        with store.transaction():
            for result in results:
                store.add_items(store.update_source(result, kind, now), result.items, now)

    save("seed", seeds)
    if not offline and specs:
        deferred = store.get_deferred(now)
        due = [f for f in specs if f.url not in deferred]

        def settled(batch: Sequence[tuple[int, SourceResult]]) -> None:
            # Stored as they come (in the event loop, between fetches, while the parse workers go on),
            # so a run killed late keeps them; a full_text feed waits for its articles.
            ready = [(i, r) for i, r in batch if not due[i].full_text]
            save("feed", (r for _, r in ready))
            stored.update(i for i, _ in ready)

        validators, hashes = store.get_validators(), store.get_body_hashes()
        feeds = gather_feeds(due, settings.fetch, validators, hashes, progress, settled)
        if any(f.full_text for f in due):  # new items of summary-only feeds get their article's text
            from .sources.fulltext import add_full_texts

            feeds = add_full_texts(feeds, due, settings.fetch, store.get_item_bodies)
        feeds += [
            SourceResult(name=f.name or f.url, url=f.url, status=SourceStatus.DEFERRED, error=deferred[f.url])
            for f in specs
            if f.url in deferred
        ]
    save("feed", (r for i, r in enumerate(feeds) if i not in stored))
    for result in (*seeds, *feeds):
        if result.status is SourceStatus.FAILED:
            log.warning("source failed: %s (%s): %s", result.name, result.url, result.error)
    for result in feeds:
        if result.moved_to:
            with store.transaction():
                moved = store.move_subscription(result.url, result.moved_to)
            where = "followed" if moved else "update the config (or `digest sources`) to it"
            log.warning("%s moved permanently to %s: %s", result.url, result.moved_to, where)
    return (*seeds, *feeds)


def fetch_only(settings: Settings, now: datetime, progress: Callable[[int, int], None] | None = None) -> RunReport:
    """`digest fetch`: gather and store new items without making an issue."""
    from .store import open_store
    from .store.lock import hold_lock

    with hold_lock(settings.paths.database, "run"), open_store(settings.paths.database) as store:
        sources = gather(settings, store, now, offline=False, progress=progress)
    return RunReport(issue=None, sources=sources)


def make_issues(
    settings: Settings,
    now: datetime,
    day: date,
    items: Sequence[ItemData],
    sources: Sequence[SourceResult],
    sent_texts: Sequence[str],
    *,
    number: int,
) -> tuple[Issue, dict[str, Issue]]:
    """The middle of a run: items in, the issue out, plus one of its own for each [[recipients]] reader.

    Raises NothingToSend when no pick is left (unless send_when_empty).
    """
    from .embed import load_embedder  # the model loads only when there is something to rank

    insights = extract_insights(items)
    readers = [settings.rank.interests, *(r.interests for r in settings.recipients)]
    outcomes = rank_for_readers(
        insights,
        readers,
        now=now,
        top_n=settings.top_n,
        max_per_source=settings.rank.max_per_source,
        half_life_hours=settings.rank.recency_half_life_hours,
        sent_texts=sent_texts,
        weights=settings.rank.weights,
        embed=load_embedder() if insights else None,
    )
    stats = IssueStats(
        sources_ok=sum(r.status is SourceStatus.OK for r in sources),
        sources_failed=sum(r.status is SourceStatus.FAILED for r in sources),
        sources_not_modified=sum(r.status is SourceStatus.NOT_MODIFIED for r in sources),
        items=len(items),
        candidates=len(insights),
        clusters=outcomes[0].clusters,
        failures=tuple(
            FailedSource(name=r.name, url=r.url, reason=r.error or "failed")
            for r in sources
            if r.status in (SourceStatus.FAILED, SourceStatus.DEFERRED)  # the reader hears of both
        ),
    )
    if not outcomes[0].selection.picks and not settings.email.send_when_empty:
        reason = "no new insight to send" if items else "nothing new to read"
        raise NothingToSend(
            f"{reason} for {day.isoformat()} ({stats.items} items, {stats.candidates} candidates, "
            f"{stats.sources_failed} sources failed)"
        )
    issues = [_issue_of(o.selection, settings=settings, now=now, day=day, number=number, stats=stats) for o in outcomes]
    return issues[0], {r.email: i for r, i in zip(settings.recipients, issues[1:], strict=True)}


def _issue_of(
    selection: Selection, *, settings: Settings, now: datetime, day: date, number: int, stats: IssueStats
) -> Issue:
    picks = tuple(make_pick(rank, s) for rank, s in enumerate(selection.picks, start=1))
    rest = tuple(
        make_pick(rank, s, note=note)
        for rank, (s, note) in enumerate(zip(selection.runners_up, selection.held_back, strict=True), len(picks) + 1)
    )
    return Issue(
        date=day, number=number, title=settings.title, generated_at=now, insights=picks, stats=stats, runners_up=rest
    )


def make_pick(rank: int, scored: ScoredInsight, note: str = "") -> Pick:
    cluster = scored.cluster
    best = cluster.best
    sources: dict[str, SourceRef] = {}
    for member in (best, *cluster.members):
        sources.setdefault(member.item.source, SourceRef(name=member.item.source, url=member.item.url))
    return Pick(
        rank=rank,
        text=best.text,
        title=best.item.title,
        source=best.item.source,
        url=best.item.url,
        published=best.item.published,
        score=scored.score,
        why=dict(scored.features),
        sources=tuple(sources.values()),
        related=tuple(RelatedRef(text=m.text, source=m.item.source, url=m.item.url) for m in cluster.related),
        fingerprint=scored.fingerprint,
        note=note,
    )


def issue_json_text(issue: Issue) -> str:
    from .serialize import issue_to_dict

    return json.dumps(issue_to_dict(issue), ensure_ascii=False, indent=2)


def _issue_from_json(text: str) -> Issue:
    from .serialize import issue_from_dict

    return issue_from_dict(json.loads(text))


def brand_for(settings: Settings) -> Brand:
    return Brand(title=settings.title, archive_url=settings.archive_url)


def publish(settings: Settings, issue: Issue, all_issues: Sequence[Issue], health: Sequence[SourceHealth] = ()) -> Path:
    from .archive import publish_issue
    from .render import make_environment

    env = make_environment(settings.paths.templates)
    return publish_issue(settings.paths.archive, env, brand_for(settings), issue, all_issues, health)


def source_health(store: Store) -> list[SourceHealth]:
    """Sources as the about page shows them; seeds read once are listed too."""
    return [
        SourceHealth(
            name=str(r["name"] or r["url"]),
            status=str(r["last_status"] or "never fetched"),
            items=int(r["items"] or 0),  # type: ignore[call-overload]
            error=str(r["last_error"]) if r["last_error"] and r["last_status"] != "ok" else None,
            last_success=str(r["last_success_at"])[:16] if r["last_success_at"] else None,
        )
        for r in store.iter_source_health()
    ]


def deliver(
    settings: Settings,
    store: Store,
    issue: Issue,
    now: datetime,
    *,
    dry_run: bool,
    password: str | None,
    personal: Mapping[str, Issue] | None = None,
    resend: Collection[str] = (),
) -> list[DeliveryResult]:
    """Send (or write) the issue to each recipient at most once, recording each in the ledger.

    `personal` maps a [[recipients]] reader to the issue ranked for their interests.
    Pending and temporarily failed deliveries are sent; 'unknown' and 'rejected' ones only
    for the recipients in `resend` (the user asked, with `digest send --resend`).
    """
    from .deliver import FileMailer, SmtpMailer, build_message
    from .render import make_environment, render_issue
    from .store.deliveries import RESENDABLE, RETRIED

    personal = personal or {}
    recipients = [*settings.email.to, *personal]
    if not recipients:
        log.warning("no recipients: [email] to and [[recipients]] are empty, nothing delivered")
        return []
    if not dry_run:
        with store.transaction():
            store.add_pending_deliveries(issue.date, recipients, now)
            interrupted = store.mark_interrupted_deliveries(issue.date, now)
        for recipient in interrupted:
            log.warning(
                "delivery of %s to %s was interrupted after it was claimed: now 'unknown', not resent",
                issue.date,
                recipient,
            )
    env = make_environment(settings.paths.templates)
    rendered_for: dict[int, RenderedIssue] = {}  # readers with the same picks share one rendering
    to_outbox = dry_run or settings.smtp is None
    mailer: Mailer = (
        FileMailer(settings.paths.outbox) if to_outbox or settings.smtp is None else SmtpMailer(settings.smtp, password)
    )
    done = "written" if to_outbox else "sent"
    list_id = _list_id(settings)
    results = []
    try:
        for recipient in recipients:
            theirs = personal.get(recipient, issue)
            key = hash(tuple(p.fingerprint for p in theirs.insights))
            if key not in rendered_for:
                rendered_for[key] = render_issue(env, theirs, brand_for(settings))
            msg = build_message(
                rendered_for[key],
                theirs,
                settings.email.sender,
                recipient,
                list_id=list_id,
                now=now,
                unsubscribe_url=settings.email.unsubscribe_url,
                unsubscribe_mailto=settings.email.unsubscribe_mailto,
            )
            allowed = (*RETRIED, *RESENDABLE) if recipient in resend else RETRIED
            results.append(
                _deliver_one(
                    store, mailer, msg, issue.date, recipient, now, done=done, ledger=not dry_run, allowed=allowed
                )
            )
    finally:
        mailer.close()
    return results


def _deliver_one(
    store: Store,
    mailer: Mailer,
    msg: EmailMessage,
    day: date,
    recipient: str,
    now: datetime,
    *,
    done: str,
    ledger: bool,
    allowed: Collection[str] = ("pending", "failed"),
) -> DeliveryResult:
    """Claim the ledger row, send, then record the outcome: a crash in between is never resent blindly."""

    if ledger:
        with store.transaction():
            blocked = store.claim_delivery(day, recipient, str(msg["Message-ID"]), now, allowed=allowed)
        if blocked in ("unknown", "sending"):
            return DeliveryResult(recipient, "unknown", f"not resent: it may have arrived; {_resolve_hint(day)}")
        if blocked:
            return DeliveryResult(recipient, "skipped", f"already {blocked}")
    try:
        detail = mailer.send(msg, recipient)
    except DeliveryUncertain as e:
        log.error("delivery to %s is unknown: %s", recipient, e.reason)
        if ledger:
            with store.transaction():
                store.finish_delivery(day, recipient, "unknown", e.reason, now)
        return DeliveryResult(recipient, "unknown", f"{e.reason}; not resent automatically: {_resolve_hint(day)}")
    except DeliveryError as e:
        log.error("delivery to %s failed: %s", recipient, e.reason)
        status = "rejected" if e.permanent else "failed"  # only temporary failures are retried
        if ledger:
            with store.transaction():
                store.finish_delivery(day, recipient, status, e.reason, now)
        return DeliveryResult(recipient, status, e.reason)
    if ledger:
        with store.transaction():
            store.finish_delivery(day, recipient, done, detail, now)
    return DeliveryResult(recipient, done, detail)


def _resolve_hint(day: date) -> str:
    return f"`digest send --date {day.isoformat()} --status` shows how to resolve it"


def _list_id(settings: Settings) -> str:
    from .deliver import id_domain

    # The <list-id> is ASCII (RFC 2919); a title like "Tägliche Einsichten" stays readable before it.
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in settings.title.lower()).strip("-") or "digest"
    return f"{settings.title} <{slug}.{id_domain(settings.email.sender)}>"


def _smtp_password(settings: Settings, dry_run: bool) -> str | None:
    smtp = settings.smtp
    if dry_run or smtp is None or smtp.password_env is None:
        return None
    password = os.environ.get(smtp.password_env)
    if not password:
        raise ConfigError(
            f"environment variable {smtp.password_env} is not set", path=str(settings.path), key="smtp.password_env"
        )
    return password


def rebuild(settings: Settings) -> int:
    """Rewrite the whole archive from the stored issues; returns how many there are."""
    from .archive import rebuild_archive
    from .render import make_environment
    from .store import open_store

    with open_store(settings.paths.database) as store:
        issues = [_issue_from_json(text) for text in store.iter_issue_json()]
        health = source_health(store)
    env = make_environment(settings.paths.templates)
    rebuild_archive(settings.paths.archive, env, brand_for(settings), issues, health)
    return len(issues)


def has_issue(settings: Settings, day: date) -> bool:
    from .store import open_store

    with open_store(settings.paths.database) as store:
        return store.get_issue_number(day) is not None


def load_issue(settings: Settings, day: date | None) -> Issue:
    """The stored issue of `day`, or the newest one; NothingToSend when there is none."""
    from .store import open_store

    with open_store(settings.paths.database) as store:
        if day is not None:
            text = store.get_issue_json(day)
        else:
            texts = store.iter_issue_json()
            text = texts[-1] if texts else None
    if text is None:
        raise NothingToSend(f"no issue {'for ' + day.isoformat() if day else 'yet'}: run `digest once` first")
    return _issue_from_json(text)


def send_issue(
    settings: Settings,
    now: datetime,
    day: date,
    *,
    dry_run: bool = False,
    resend: Collection[str] = (),
    resend_unknown: bool = False,
    mark_sent: Collection[str] = (),
) -> RunReport:
    """Deliver a stored issue to every recipient not yet served (pending or temporarily failed).

    Unknown deliveries (the message may have arrived) are resolved only as asked:
    `mark_sent` records them as sent, sending nothing; `resend` (or `resend_unknown`,
    for every unknown one) sends unknown or rejected ones once more. A name that does
    not fit its row (e.g. --resend to a reader who has the issue) is an error, and
    then nothing is changed or sent.
    """
    from .store import open_store
    from .store.lock import hold_lock

    if dry_run and (resend or resend_unknown or mark_sent):
        raise DigestError("--dry-run records nothing, so it cannot resend or mark deliveries")
    password = _smtp_password(settings, dry_run)
    issue = load_issue(settings, day)
    marked: list[str] = []
    again: set[str] = set()
    with hold_lock(settings.paths.database, "run"), open_store(settings.paths.database) as store:
        if not dry_run:
            with store.transaction():
                store.mark_interrupted_deliveries(day, now)
                statuses = store.get_deliveries(day)
                marked, again = _resolutions(settings, day, statuses, resend, resend_unknown, mark_sent)
                for recipient in marked:
                    store.mark_delivery_sent(day, recipient, "marked sent by hand (digest send --mark-sent)", now)
        personal: dict[str, Issue] = {}
        if settings.recipients:  # personal rankings are remade from the items that issue used
            items = store.get_items_used_by(day.isoformat())
            sent_texts = store.get_sent_texts(day, settings.rank.novelty_days)
            try:
                _, remade = make_issues(settings, issue.generated_at, day, items, (), sent_texts, number=issue.number)
            except NothingToSend:
                remade = {}
            personal = {r.email: replace(remade.get(r.email, issue), stats=issue.stats) for r in settings.recipients}
        deliveries = deliver(
            settings, store, issue, now, dry_run=dry_run, password=password, personal=personal, resend=again
        )
    by_hand = DeliveryResult("", "sent", "marked sent by hand; nothing sent now")
    deliveries = [replace(by_hand, recipient=d.recipient) if d.recipient in marked else d for d in deliveries]
    deliveries += [replace(by_hand, recipient=r) for r in marked if r not in {d.recipient for d in deliveries}]
    return RunReport(issue=issue, sources=(), deliveries=tuple(deliveries), reused=True)


def _resolutions(
    settings: Settings,
    day: date,
    statuses: Mapping[str, str],
    resend: Collection[str],
    resend_unknown: bool,
    mark_sent: Collection[str],
) -> tuple[list[str], set[str]]:
    """Check the user's --mark-sent / --resend names against the ledger: (to mark sent, to send again).

    Raises DigestError naming every name that does not fit, so that nothing happens by halves.
    """
    from .store.deliveries import DONE

    configured = [*settings.email.to, *(r.email for r in settings.recipients)]
    problems: list[str] = []

    def row_of(name: str, known: Collection[str]) -> str | None:
        matches = [r for r in known if r.lower() == name.strip().lower()]
        return matches[0] if len(matches) == 1 else None

    marked: list[str] = []
    for name in mark_sent:
        recipient = row_of(name, statuses)
        if recipient is None:
            problems.append(f"{name}: no delivery of {day} to mark")
        elif statuses[recipient] != "unknown":
            problems.append(f"{recipient}: is '{statuses[recipient]}'; --mark-sent only resolves 'unknown' deliveries")
        else:
            marked.append(recipient)
    again: set[str] = set()
    for name in resend:
        recipient = row_of(name, configured)
        status = statuses.get(recipient or "")
        if recipient is None:
            problems.append(f"{name}: not a recipient in the config ([email] to or [[recipients]])")
        elif status in DONE:
            problems.append(f"{recipient}: already {status}; an issue is never sent twice to one reader")
        elif recipient in marked:
            problems.append(f"{recipient}: named by both --mark-sent and --resend")
        else:
            again.add(recipient)  # unknown or rejected: sent once more; pending or failed: sent anyway
    if resend_unknown:
        unknown = [r for r, s in statuses.items() if s == "unknown" and r not in marked]
        again.update(r for r in unknown if r in configured)
        for r in sorted(set(unknown) - set(configured)):
            log.warning("%s: unknown delivery of %s, but no longer a recipient in the config: not resent", r, day)
    if problems:
        raise DigestError("; ".join(problems) + ". Nothing was sent or changed.")
    return marked, again


def delivery_status(settings: Settings, now: datetime, day: date) -> list[DeliveryRecord]:
    """The ledger of one issue for `digest send --status`: a row per recipient, configured ones included.

    Rows a dead run left 'sending' are turned 'unknown' first (under the run lock), so
    the listing tells the truth.
    """
    from .store import open_store
    from .store.lock import hold_lock

    load_issue(settings, day)  # NothingToSend when the date has no issue
    with hold_lock(settings.paths.database, "run"), open_store(settings.paths.database) as store:
        with store.transaction():
            store.mark_interrupted_deliveries(day, now)
        records = store.get_delivery_records(day)
    known = {r.recipient for r in records}
    configured = [*settings.email.to, *(r.email for r in settings.recipients)]
    return records + [
        DeliveryRecord(recipient=r, status="pending", detail="no row yet: not sent", updated_at="", message_id="")
        for r in configured
        if r not in known
    ]
