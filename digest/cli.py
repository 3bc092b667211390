"""The `digest` command: thin click commands that parse options, call one function, print.

Heavy modules (httpx, feedparser, jinja2, sqlite) load inside the commands so that
`digest --help` stays fast. Only DigestError is caught: one line and an exit code.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import DISK_FULL, ConfigError, DigestError, NothingToSend

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_CONFIG = 2


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=False),
        help="Config file. Default: $DIGEST_CONFIG, else ./config/digest.toml.",
    )(f)


def verbosity_options(f: F) -> F:
    f = click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")(f)
    return click.option("-q", "--quiet", is_flag=True, help="Only errors; no run summary.")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digest")
def cli() -> None:
    """digest: the few insights worth your time, from your feeds and documents, once a day.

    Start with `digest once` to make today's issue from the bundled config.
    """


@cli.command()
@config_option
@click.option(
    "--date",
    "issue_date",
    metavar="YYYY-MM-DD",
    help="Make or re-make the issue of this date (default: today in the configured time zone).",
)
@click.option("--dry-run", is_flag=True, help="Write emails to the outbox even when [smtp] is configured.")
@click.option("--json", "as_json", is_flag=True, help="Print the issue as JSON on stdout.")
@click.option("--offline", is_flag=True, help="Skip feeds; use seeds and stored items only.")
@verbosity_options
def once(
    config_path: str | None,
    issue_date: str | None,
    dry_run: bool,
    as_json: bool,
    offline: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Run the whole pipeline once: gather, extract, rank, archive, deliver.

    Exits 0 when an issue was produced, even if some sources failed (they are
    listed); 1 when no issue could be made; 2 when the config is wrong.
    """
    _setup_logging(verbose, quiet)
    started = time.perf_counter()
    with _errors_as_exit():
        settings = _load(config_path)
        from .pipeline import issue_json_text, run_issue

        report = run_issue(
            settings,
            datetime.now(UTC),
            issue_date=_parse_date(issue_date),
            offline=offline,
            dry_run=dry_run,
            progress=_progress(quiet),
        )
    if as_json and report.issue:
        click.echo(issue_json_text(report.issue))
    if not quiet:
        from .summary import format_summary

        click.echo(format_summary(report, time.perf_counter() - started, every_source=verbose > 0), err=True)


@cli.command()
@config_option
@verbosity_options
def fetch(config_path: str | None, verbose: int, quiet: bool) -> None:
    """Fetch every due feed and read the seeds now, storing new items for the next issue."""
    _setup_logging(verbose, quiet)
    started = time.perf_counter()
    with _errors_as_exit():
        settings = _load(config_path)
        from .pipeline import fetch_only

        report = fetch_only(settings, datetime.now(UTC), _progress(quiet))
    if not quiet:
        from .summary import format_summary

        click.echo(format_summary(report, time.perf_counter() - started, every_source=verbose > 0), err=True)


@cli.command()
@config_option
@verbosity_options
def serve(config_path: str | None, verbose: int, quiet: bool) -> None:
    """Run the pipeline on the schedule in [schedule] cron, until SIGINT or SIGTERM.

    On start, if today's run time has passed and today has no issue, one catch-up
    run is made. Logs go to stderr; the next run time is logged.
    """
    _setup_logging(max(verbose, 1), quiet)  # a daemon says what it does by default
    with _errors_as_exit():
        settings = _load(config_path)
        from .schedule import serve as serve_forever

        serve_forever(settings)


@cli.command()
@config_option
@click.option("--date", "issue_date", metavar="YYYY-MM-DD", required=True, help="The issue to deliver.")
@click.option("--dry-run", is_flag=True, help="Write emails to the outbox even when [smtp] is configured.")
@click.option("--status", "status_only", is_flag=True, help="Only list each recipient's delivery status; send nothing.")
@click.option(
    "--mark-sent",
    metavar="RECIPIENT",
    multiple=True,
    help="An 'unknown' delivery did arrive (you checked): record it as sent; nothing is sent. Repeatable.",
)
@click.option(
    "--resend",
    metavar="RECIPIENT",
    multiple=True,
    help="An 'unknown' delivery did not arrive, or a 'rejected' one should be tried again: "
    "send it once more (same Message-ID). Repeatable.",
)
@click.option("--resend-unknown", is_flag=True, help="Like --resend for every 'unknown' delivery of this issue.")
@verbosity_options
def send(
    config_path: str | None,
    issue_date: str,
    dry_run: bool,
    status_only: bool,
    mark_sent: tuple[str, ...],
    resend: tuple[str, ...],
    resend_unknown: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Deliver a stored issue to the recipients who do not have it yet.

    Recipients already sent (or written to the outbox) are skipped; pending and
    temporarily failed deliveries are sent; permanent refusals are not retried.

    A delivery is 'unknown' when a run stopped (crash, kill, power cut) after
    claiming it and before recording the server's reply, or when the connection
    was lost after the whole message went out: the reader may have it. Unknown
    deliveries are never resent by themselves. Check the mail server's log (the
    Message-ID is stable per issue and reader) or ask the reader, then:

    \b
      digest send --date D --mark-sent READER   it arrived: record it as sent
      digest send --date D --resend READER      it did not: send it once more

    Exit 1 when a delivery failed or was rejected now, or one is still unknown.
    """
    if status_only and (mark_sent or resend or resend_unknown or dry_run):
        raise click.UsageError("--status only lists; it cannot be combined with --mark-sent, --resend or --dry-run")
    _setup_logging(verbose, quiet)
    day = _parse_date(issue_date)
    assert day is not None
    with _errors_as_exit():
        settings = _load(config_path)
        from .pipeline import delivery_status, send_issue

        if status_only:
            records = delivery_status(settings, datetime.now(UTC), day)
        else:
            report = send_issue(
                settings,
                datetime.now(UTC),
                day,
                dry_run=dry_run,
                resend=resend,
                resend_unknown=resend_unknown,
                mark_sent=mark_sent,
            )
    if status_only:
        for r in records:
            when = r.updated_at[:16].replace("T", " ") if r.updated_at else "-"
            click.echo(f"{r.status:<9} {r.recipient}  {when}" + (f"  {r.detail}" if r.detail else ""))
        if not records:
            click.echo(f"no recipients for {day}: [email] to and [[recipients]] are empty", err=True)
        _echo_unknown_help(day, [r.recipient for r in records if r.status == "unknown"])
        return
    if not quiet:
        for d in report.deliveries:
            click.echo(
                f"digest: delivery: {d.recipient}: {d.status}" + (f" ({d.detail})" if d.detail else ""), err=True
            )
    unknown = [d.recipient for d in report.deliveries if d.status == "unknown"]
    _echo_unknown_help(day, unknown)
    if unknown or any(d.status in ("failed", "rejected") for d in report.deliveries):
        sys.exit(EXIT_FAILED)


def _echo_unknown_help(day: date, unknown: list[str]) -> None:
    """How to resolve unknown deliveries, on stderr (shown even with -q: it needs a decision)."""
    if not unknown:
        return
    click.echo(
        f"digest: {'1 delivery' if len(unknown) == 1 else f'{len(unknown)} deliveries'} of {day} unknown: "
        f"{', '.join(unknown)}. The message may have arrived, so it is not resent by itself. "
        "Check the mail server's log or ask the reader, then run",
        err=True,
    )
    who = unknown[0] if len(unknown) == 1 else "READER"
    click.echo(f"  digest send --date {day} --mark-sent {who}   # it arrived: record it as sent", err=True)
    click.echo(f"  digest send --date {day} --resend {who}      # it did not: send it once more", err=True)


@cli.command()
@config_option
@click.option("--date", "issue_date", metavar="YYYY-MM-DD", help="The issue to explain (default: the newest).")
@verbosity_options
def explain(config_path: str | None, issue_date: str | None, verbose: int, quiet: bool) -> None:
    """Show each pick's features, the next five runners-up, and what tipped the balance."""
    _setup_logging(verbose, quiet)
    with _errors_as_exit():
        settings = _load(config_path)
        from .explain import explain_issue
        from .pipeline import load_issue

        issue = load_issue(settings, _parse_date(issue_date))
        click.echo(explain_issue(issue, settings.rank.weights))


@cli.group()
def sources() -> None:
    """The feeds digest reads: the config's [[feeds]] plus those added here."""


@sources.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
def sources_list(config_path: str | None, as_json: bool) -> None:
    """Every source with its status, last success, last error and item counts."""
    with _errors_as_exit():
        settings = _load(config_path)
        from .subscriptions import source_health

        rows = source_health(settings)
    if as_json:
        import json

        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    for r in rows:
        status = r.get("last_status") or "never fetched"
        line = f"{status:<14} {r.get('items', 0):>5} items  {r.get('name')}  <{r['url']}>"
        if r.get("last_success_at"):
            line += f"  last ok {str(r['last_success_at'])[:16]}"
        click.echo(line)
        if r.get("last_error") and status == "failed":
            click.echo(f"{'':14} error: {r['last_error']}")
        if r.get("disabled"):
            click.echo(f"{'':14} disabled: the server said 410 Gone")
        elif r.get("next_attempt_at"):
            click.echo(
                f"{'':14} next attempt after {str(r['next_attempt_at'])[:16]} ({r['failures']} failures in a row)"
            )
    if not rows:
        click.echo("no sources yet: add feeds with `digest sources add URL` or in the config", err=True)


@sources.command("add")
@config_option
@click.argument("url")
@click.option("--name", help="Display name (default: the feed's own title).")
@click.option("--weight", type=float, default=1.0, show_default=True, help="Multiplies this source's scores.")
@click.option("--no-check", is_flag=True, help="Add without fetching it first (e.g. the site is down now).")
@click.option(
    "--full-text",
    is_flag=True,
    help="The feed carries summaries only: read each new item's article page (needs digest[fulltext]).",
)
def sources_add(
    config_path: str | None, url: str, name: str | None, weight: float, no_check: bool, full_text: bool
) -> None:
    """Subscribe to a feed by URL; it is fetched from the next run on.

    The URL is fetched first: a feed is added as it is; a web page that names its
    feed (<link rel="alternate">) adds that feed instead.
    """
    from .models import FeedSpec

    with _errors_as_exit():
        settings = _load(config_path)
        from .subscriptions import add_feeds

        if not no_check:
            from .errors import SourceError
            from .sources import probe_feed

            try:
                url, found = probe_feed(url, settings.fetch)
            except SourceError as e:
                click.echo(f"digest: error: {e.url}: {e.reason} (add it anyway with --no-check)", err=True)
                sys.exit(EXIT_FAILED)
            click.echo(f"found {found}", err=True)
        added, _ = add_feeds(settings, [FeedSpec(url=url, name=name, weight=weight, full_text=full_text)])
    click.echo(f"added {url}" if added else f"already subscribed: {url}", err=True)


@sources.command("remove")
@config_option
@click.argument("url")
def sources_remove(config_path: str | None, url: str) -> None:
    """Stop fetching a feed added with `sources add` (its items and history stay)."""
    with _errors_as_exit():
        settings = _load(config_path)
        from .subscriptions import remove_feed

        removed = remove_feed(settings, url)
    if not removed:
        click.echo(f"digest: error: not subscribed: {url}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"removed {url}", err=True)


@sources.command("import")
@config_option
@click.argument("opml_file", type=click.Path(dir_okay=False, path_type=Path))
def sources_import(config_path: str | None, opml_file: Path) -> None:
    """Subscribe to every feed in an OPML file; duplicates and invalid URLs are skipped and listed."""
    with _errors_as_exit():
        settings = _load(config_path)
        from .subscriptions import add_feeds, read_opml

        feeds, skipped = read_opml(opml_file)
        added, present = add_feeds(settings, feeds)
    for what, why in skipped:
        click.echo(f"skipped: {what}: {why}", err=True)
    click.echo(f"imported {len(added)} feeds; {len(present)} already subscribed; {len(skipped)} skipped", err=True)


@sources.command("export")
@config_option
def sources_export(config_path: str | None) -> None:
    """Print every feed as OPML on stdout."""
    with _errors_as_exit():
        settings = _load(config_path)
        from .subscriptions import opml_of

        click.echo(opml_of(settings), nl=False)


@cli.group()
def archive() -> None:
    """The static HTML archive of issues."""


@archive.command("build")
@config_option
@verbosity_options
def archive_build(config_path: str | None, verbose: int, quiet: bool) -> None:
    """Rebuild every archive page from the stored issues (after a template change or a restore)."""
    _setup_logging(verbose, quiet)
    with _errors_as_exit():
        settings = _load(config_path)
        from .pipeline import rebuild

        count = rebuild(settings)
    if not quiet:
        click.echo(f"rebuilt {count} issue(s) in {settings.paths.archive}", err=True)


@archive.command("serve")
@config_option
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1.")
def archive_serve(config_path: str | None, port: int) -> None:
    """Serve the archive on http://127.0.0.1:PORT for local reading (Ctrl-C stops)."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    with _errors_as_exit():
        settings = _load(config_path)
    root = settings.paths.archive
    if not (root / "index.html").is_file():
        click.echo(f"digest: error: no archive at {root}: run `digest once` first", err=True)
        sys.exit(EXIT_FAILED)
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        click.echo(f"digest: serving {root} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", err=True)
        with suppress(KeyboardInterrupt):
            server.serve_forever()


def main() -> None:
    cli(prog_name="digest")


def _load(config_path: str | None) -> Any:
    from .config import find_config, load_settings

    return load_settings(find_config(config_path))


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-24", param_hint="--date") from None


@contextmanager
def _errors_as_exit() -> Iterator[None]:
    """Turn DigestError into one line on stderr and an exit code; let bugs show their traceback."""
    try:
        yield
    except DigestError as exc:
        if isinstance(exc, ConfigError):
            code, prefix = EXIT_CONFIG, "config error"
        elif isinstance(exc, NothingToSend):
            code, prefix = EXIT_FAILED, "no issue"
        else:
            code, prefix = EXIT_FAILED, "error"
        click.echo(f"digest: {prefix}: {exc}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(code)
    except OSError as exc:
        if exc.errno not in DISK_FULL:  # anything else is unexpected: its traceback helps
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"digest: error: disk full: no space left on the device{where}; free some and run again", err=True)
        sys.exit(EXIT_FAILED)


def _progress(quiet: bool) -> Callable[[int, int], None] | None:
    """A fetch progress bar on a terminal; nothing when quiet or when stderr is a file or pipe."""
    if quiet or not sys.stderr.isatty():
        return None
    bar: Any = None
    shown = 0

    def show(done: int, total: int) -> None:
        nonlocal bar, shown
        if bar is None:
            bar = click.progressbar(length=total, label="digest: fetching feeds", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - shown)
        shown = done
        if done >= total:
            bar.__exit__(None, None, None)

    return show


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="digest: %(levelname)s: %(message)s", stream=sys.stderr)
