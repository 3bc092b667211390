"""Fault tests with real processes: `python -m digest` killed with SIGKILL, SMTP connections cut
during DATA, two schedulers on one state file. Each asserts that nothing is lost, nothing is
sent twice, and that the next run recovers.

The rule they check (README, "Delivery, exactly once"): a delivery is 'unknown' when a run
stopped between claiming it and recording the server's reply, or when the connection was
lost after the whole message had gone out. An unknown delivery is never resent by itself:
`digest send --date D --status` lists it, `--mark-sent R` records that it arrived and
`--resend R` sends it once more.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.smtp_server import Inbox, free_port, smtp_server
from tests.test_schedule import wait_for

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-24"
ANN, BOB = "ann@example.org", "bob@example.org"


# --- running digest -------------------------------------------------------------------------


def write_config(tmp_path: Path, port: int | None, *, title: str = "Fault Digest", extra: str = "") -> Path:
    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    smtp = (
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nretry_seconds = []\ntimeout_seconds = 30\n'
        if port
        else ""
    )
    config.write_text(
        f'title = "{title}"\n{extra}\n[paths]\nseeds = "{ROOT / "seeds"}"\n'
        f'[email]\nfrom = "Digest <digest@example.org>"\nto = ["{ANN}", "{BOB}"]\n{smtp}',
        encoding="utf-8",
    )
    return config


def database(config: Path) -> Path:
    return config.parent.parent / "state" / "digest.sqlite3"


def digest(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=config.parent.parent,
    )


def start_digest(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", *args, "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=config.parent.parent,
    )


def kill(proc: subprocess.Popen[str]) -> str:
    """SIGKILL, reap, and return what the process wrote on stderr."""
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    return err or ""


def ledger_rows(config: Path, day: str = DAY) -> dict[str, str]:
    """recipient -> status, read straight from the state file."""
    with closing(sqlite3.connect(database(config))) as db:
        return dict(db.execute("SELECT recipient, status FROM deliveries WHERE issue_date = ?", (day,)).fetchall())


def listed(config: Path) -> tuple[dict[str, str], str]:
    """`digest send --status`: recipient -> status as printed, and the advice on stderr."""
    proc = digest(config, "send", "--date", DAY, "--status")
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        status, recipient = line.split()[:2]
        rows[recipient] = status
    return rows, proc.stderr


def message_ids(inbox: Inbox, recipient: str) -> list[str]:
    return [str(m["Message-ID"]) for m in inbox.to(recipient)]


# --- a TCP relay that cuts the SMTP conversation --------------------------------------------

TERMINATOR = b"\r\n.\r\n"  # the end of a message in DATA (a line with a single dot)


class CuttingRelay:
    """A TCP relay in front of the SMTP server that cuts its first connection at one point of DATA.

    - "data-command": the server's 354 go-ahead never reaches digest: nothing of the message left it.
    - "mid-message": digest sends the whole message; the server gets only its first kilobyte.
    - "before-reply": the server gets the whole message; its 250 never reaches digest.

    Later connections are relayed untouched. `cuts` counts the cuts made.
    """

    def __init__(self, upstream: int, cut: str):
        assert cut in ("data-command", "mid-message", "before-reply")
        self.upstream, self.cut = upstream, cut
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self.cuts = 0
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            server = socket.create_connection(("127.0.0.1", self.upstream))
            link = _Link(self, client, server, self.cut if self.connections == 1 else None)
            self._spawn(link.client_to_server)
            self._spawn(link.server_to_client)

    def close(self) -> None:
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not, on Linux)
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=10)

    def __enter__(self) -> CuttingRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Link:
    def __init__(self, relay: CuttingRelay, client: socket.socket, server: socket.socket, cut: str | None):
        self.relay, self.client, self.server, self.cut = relay, client, server, cut
        self.in_data = False
        self.swallow_reply = False  # set before the bytes that the next reply answers go to the server
        self.lock = threading.Lock()
        self.closed = False

    def close(self, *, cut: bool = False) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if cut:
                self.relay.cuts += 1
        for s in (self.client, self.server):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def client_to_server(self) -> None:
        pending = b""  # an unfinished command line
        message = bytearray()  # the DATA payload seen so far
        try:
            while chunk := self.client.recv(65536):
                if self.cut is None:
                    self.server.sendall(chunk)
                elif not self.in_data:
                    pending += chunk
                    *lines, pending = pending.split(b"\r\n")
                    if any(line.strip().lower() == b"data" for line in lines):
                        self.in_data = True  # digest waits for 354 before the message: what follows is it
                        self.swallow_reply = self.cut == "data-command"
                    self.server.sendall(chunk)
                else:
                    message += chunk
                    whole = message.endswith(TERMINATOR)
                    if self.cut == "mid-message":
                        if whole:  # all of it left digest; the server gets a part, then the line drops
                            self.server.sendall(bytes(message[:1024]))
                            self.close(cut=True)
                            return
                    else:
                        self.swallow_reply = whole
                        self.server.sendall(chunk)
        except OSError:
            pass
        self.close()

    def server_to_client(self) -> None:
        try:
            while chunk := self.server.recv(65536):
                if self.swallow_reply:
                    self.close(cut=True)
                    return
                self.client.sendall(chunk)
        except OSError:
            pass
        self.close()


# --- a) the server drops the connection during DATA -----------------------------------------


@pytest.mark.parametrize(
    ("cut", "first", "arrived", "resolve"),
    [
        ("data-command", "failed", 0, None),  # nothing went out: a temporary failure, retried
        ("mid-message", "unknown", 0, "--resend"),  # digest sent it all; it cannot know the server lost it
        ("before-reply", "unknown", 1, "--mark-sent"),  # the server has it; only the reply was lost
    ],
)
def test_a_connection_dropped_during_data_is_retried_or_left_unknown_never_sent_twice(
    tmp_path: Path, cut: str, first: str, arrived: int, resolve: str | None
) -> None:
    with smtp_server() as (inbox, port), CuttingRelay(port, cut) as relay:
        config = write_config(tmp_path, relay.port)
        made = digest(config, "once", "--date", DAY)
        assert made.returncode == 0, made.stderr
        assert relay.cuts == 1
        assert f"{ANN}: {first} (" in made.stderr
        assert f"{BOB}: sent (" in made.stderr  # the next reader goes out on a new connection
        assert len(inbox.to(ANN)) == arrived and len(inbox.to(BOB)) == 1
        assert ledger_rows(config) == {ANN: first, BOB: "sent"}

        # the next run: a failed delivery is sent; an unknown one is not, and is explained
        again = digest(config, "send", "--date", DAY)
        if first == "failed":
            assert again.returncode == 0, again.stderr
            assert f"{ANN}: sent (" in again.stderr
        else:
            assert again.returncode == 1, again.stderr
            assert f"{ANN}: unknown (not resent" in again.stderr
            assert f"--mark-sent {ANN}" in again.stderr and f"--resend {ANN}" in again.stderr
            assert len(inbox.to(ANN)) == arrived
            rerun = digest(config, "once", "--date", DAY)  # re-making the date does not resend either
            assert rerun.returncode == 0 and f"{ANN}: unknown (not resent" in rerun.stderr
            assert len(inbox.to(ANN)) == arrived
            assert resolve is not None
            resolved = digest(config, "send", "--date", DAY, resolve, ANN)
            assert resolved.returncode == 0, resolved.stderr
        assert f"{BOB}: skipped (already sent)" in again.stderr

        final = digest(config, "send", "--date", DAY)
        assert final.returncode == 0, final.stderr
    assert len(inbox.to(ANN)) == 1 and len(inbox.to(BOB)) == 1  # nothing lost, nothing twice
    assert ledger_rows(config) == {ANN: "sent", BOB: "sent"}
    assert relay.cuts == 1 and relay.connections >= 2


def test_an_uncertain_send_is_never_retried_even_with_retries_configured() -> None:
    from digest.config import SmtpSettings
    from digest.deliver import SmtpMailer
    from digest.errors import DeliveryUncertain
    from tests.test_deliver import message_for

    waits: list[float] = []
    with smtp_server() as (inbox, port), CuttingRelay(port, "before-reply") as relay:
        settings = SmtpSettings(host="127.0.0.1", port=relay.port, security="none", timeout_seconds=30)
        with SmtpMailer(settings, None, retry_delays=(0.1, 0.2), sleep=waits.append) as mailer:
            with pytest.raises(DeliveryUncertain, match="reply was lost"):
                mailer.send(message_for(ANN), ANN)
            mailer.send(message_for(BOB), BOB)  # the mailer is not "down": the next reader goes out
    assert waits == []
    assert len(inbox.to(ANN)) == 1 and len(inbox.to(BOB)) == 1


# --- b) SIGKILL after the 250 reply, before the ledger records it ----------------------------


@dataclass
class LockingInbox(Inbox):
    """On the first message, takes the state file's write lock before replying 250.

    digest then cannot record 'sent' (it waits on SQLite's busy timeout) until the test lets go.
    """

    database: Path | None = None
    held: threading.Event = field(default_factory=threading.Event)
    lock: sqlite3.Connection | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        if self.database is not None and not self.held.is_set():
            self.lock = sqlite3.connect(self.database, timeout=60, isolation_level=None, check_same_thread=False)
            self.lock.execute("BEGIN IMMEDIATE")
            self.held.set()
        return reply

    def release(self) -> None:
        if self.lock is not None:
            self.lock.execute("ROLLBACK")
            self.lock.close()
            self.lock = None


@contextmanager
def serving(handler: Inbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.mark.parametrize("resolve", ["--mark-sent", "--resend", "--resend-unknown"])
def test_killed_after_the_250_before_the_ledger_commit_is_unknown_and_resolved_only_when_asked(
    tmp_path: Path, resolve: str
) -> None:
    inbox = LockingInbox()
    with serving(inbox) as port:
        config = write_config(tmp_path, port)
        inbox.database = database(config)
        proc = start_digest(config, "once", "--date", DAY)
        try:
            # The lock is held from before the 250 until after the kill: whether digest is killed just
            # before reading the reply or while it waits to record 'sent', what survives is the same.
            assert inbox.held.wait(timeout=120), "no message arrived"
            err = kill(proc)
        finally:
            if proc.poll() is None:
                kill(proc)
            inbox.release()
        assert proc.returncode == -signal.SIGKILL, err  # it was still waiting to record the delivery
        assert len(inbox.to(ANN)) == 1 and not inbox.to(BOB)
        # what the kill left: the message is out, the ledger still says 'sending'; bob was owed it before any SMTP
        assert ledger_rows(config) == {ANN: "sending", BOB: "pending"}

        rerun = digest(config, "once", "--date", DAY)  # the next run: bob gets it, ann is not sent it again
        assert rerun.returncode == 0, rerun.stderr
        assert f"{ANN}: unknown (not resent" in rerun.stderr and f"{BOB}: sent (" in rerun.stderr
        assert len(inbox.to(ANN)) == 1 and len(inbox.to(BOB)) == 1

        rows, advice = listed(config)
        assert rows == {ANN: "unknown", BOB: "sent"}
        assert f"digest send --date {DAY} --mark-sent {ANN}" in advice
        assert f"digest send --date {DAY} --resend {ANN}" in advice

        send = digest(config, "send", "--date", DAY)
        assert send.returncode == 1 and f"{ANN}: unknown (not resent" in send.stderr
        assert len(inbox.to(ANN)) == 1

        wrong = digest(config, "send", "--date", DAY, "--mark-sent", BOB)  # bob is not unknown: refused, no change
        assert wrong.returncode == 1 and "only resolves 'unknown' deliveries" in wrong.stderr

        args = [resolve] if resolve == "--resend-unknown" else [resolve, ANN]
        resolved = digest(config, "send", "--date", DAY, *args)
        assert resolved.returncode == 0, resolved.stderr
        copies = 1 if resolve == "--mark-sent" else 2  # --resend sends exactly once more, as asked
        assert len(inbox.to(ANN)) == copies
        assert len(set(message_ids(inbox, ANN))) == 1  # the same Message-ID: a mail client shows one

        twice = digest(config, "send", "--date", DAY, "--resend", ANN)  # now sent: never again
        assert twice.returncode == 1 and "never sent twice" in twice.stderr
        final = digest(config, "send", "--date", DAY)
        assert final.returncode == 0, final.stderr
        assert f"{ANN}: skipped (already sent)" in final.stderr
    assert len(inbox.to(ANN)) == copies and len(inbox.to(BOB)) == 1
    assert listed(config)[0] == {ANN: "sent", BOB: "sent"}


# --- c) SIGKILL in the middle of writing the archive ----------------------------------------


class _Parses(HTMLParser):
    pass


def check_archive(archive: Path, issues: dict[str, Any], titles: set[str]) -> dict[str, int]:
    """Every file under its final name is whole; returns how many pages carry each title."""
    seen: dict[str, int] = {}
    expected = {"index.html", "about.html", "feed.xml", "style.css", "search.js", "search-index.js"}
    expected |= {f"issues/{d}.{ext}" for d in issues for ext in ("html", "json")}
    for path in archive.rglob("*"):
        name = path.relative_to(archive).as_posix()
        if path.is_dir() or path.name.endswith(".tmp"):
            continue
        assert name in expected, name
        text = path.read_text(encoding="utf-8")
        if name.endswith(".html"):
            assert text.rstrip().endswith("</html>"), f"{name} is cut short"
            parser = _Parses()
            parser.feed(text)
            parser.close()
            site = re.search(r'<meta property="og:site_name" content="([^"]*)">', text)
            assert site and site.group(1) in titles, name
            seen[site.group(1)] = seen.get(site.group(1), 0) + 1
        elif name.endswith(".json"):
            assert json.loads(text) == issues[name[len("issues/") : -len(".json")]], name
        elif name == "feed.xml":
            ET.fromstring(text)
        elif name == "search-index.js":
            assert text.startswith("window.DIGEST_SEARCH = ") and text.endswith(";\n"), name
            json.loads(text[len("window.DIGEST_SEARCH = ") : -2])
        else:
            assert text == (ROOT / "templates" / name).read_text(encoding="utf-8"), name
    return seen


def test_archive_build_killed_at_random_moments_leaves_only_whole_files_and_the_next_build_completes(
    tmp_path: Path,
) -> None:
    from digest.pipeline import issue_json_text
    from digest.store import open_store
    from tests.sample import sample_issue

    count = 400  # long enough that a kill lands mid-build even on a fast machine
    config = write_config(tmp_path, None, title="Before")
    first_day = date(2025, 1, 1)
    stored: dict[str, Any] = {}
    with open_store(database(config)) as store, store.transaction():
        for k in range(count):
            issue = sample_issue(day=first_day + timedelta(days=k), number=k + 1)
            text = issue_json_text(issue)
            store.save_issue(issue.date, issue.number, text, [], datetime(2026, 1, 1, tzinfo=UTC))
            stored[issue.date.isoformat()] = json.loads(text)
    built = digest(config, "archive", "build")
    assert built.returncode == 0, built.stderr
    archive = tmp_path / "archive"
    assert check_archive(archive, stored, {"Before"}) == {"Before": count + 2}  # pages, index, about

    write_config(tmp_path, None, title="After")  # the rebuilds being killed change every page
    rng = random.Random(20261124)
    first_page = archive / "issues" / f"{first_day}.html"
    killed = mixed = 0

    def version(path: Path) -> tuple[int, int]:
        st = path.stat()
        return st.st_ino, st.st_mtime_ns  # a rename over it brings a new inode and time

    for _ in range(5):
        before = version(first_page)
        proc = start_digest(config, "archive", "build")
        try:
            deadline = time.monotonic() + 120
            while version(first_page) == before and proc.poll() is None:  # wait until it writes
                assert time.monotonic() < deadline, "the rebuild never started writing"
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.25))  # a random moment of the rebuild (the outcome is checked either way)
            kill(proc)
        finally:
            if proc.poll() is None:
                kill(proc)
        killed += proc.returncode == -signal.SIGKILL
        seen = check_archive(archive, stored, {"Before", "After"})
        mixed += len(seen) == 2
    assert killed >= 1 and mixed >= 1, (killed, mixed)  # the kills did land in the middle of a rebuild

    # leftovers: one a killed writer left an hour ago (cleared), one a live writer may be using (kept)
    stale = archive / "issues" / f".{first_day}.html.k1ll3d.tmp"
    stale.write_text("<!DOCTYPE html><html><head><title>cut sh", encoding="utf-8")
    an_hour_ago = time.time() - 3700
    os.utime(stale, (an_hour_ago, an_hour_ago))
    fresh = archive / ".index.html.l1v3.tmp"
    fresh.write_text("<!DOCTYPE html>", encoding="utf-8")

    recovered = digest(config, "archive", "build")
    assert recovered.returncode == 0, recovered.stderr
    assert check_archive(archive, stored, {"After"}) == {"After": count + 2}
    assert not stale.exists() and fresh.exists()
    index = (archive / "index.html").read_text(encoding="utf-8")
    assert len(set(re.findall(r'href="issues/(\d{4}-\d\d-\d\d)\.html"', index))) == count
    assert ".tmp" not in index


# --- d) two `digest serve` on one state file ------------------------------------------------


def test_two_serves_started_together_one_runs_and_after_a_sigkill_the_next_takes_over_without_repeating(
    tmp_path: Path,
) -> None:
    # Midnight UTC has passed, so the winner catches up with today's issue; the next fire is tomorrow.
    config = write_config(tmp_path, None, extra='timezone = "UTC"\n[schedule]\ncron = "0 0 * * *"')
    outbox = tmp_path / "outbox"
    a, b = start_digest(config, "serve"), start_digest(config, "serve")
    procs = [a, b]
    try:
        deadline = time.monotonic() + 60
        while a.poll() is None and b.poll() is None:  # the loser exits at once; the winner keeps running
            assert time.monotonic() < deadline, "both serves are still running"
            time.sleep(0.05)
        loser, winner = (a, b) if a.poll() is not None else (b, a)
        assert winner.poll() is None
        _, err = loser.communicate(timeout=30)
        assert loser.returncode == 1
        assert "another digest serve is running" in err and f"(pid {winner.pid})" in err
        log = wait_for(winner, "next run at", timeout=120)
        assert "catching up now" in log and "issue #1" in log
        assert len(list(outbox.glob("*.eml"))) == 2  # ann and bob, once each
        kill(winner)  # no clean shutdown: the kernel drops its lock

        third = start_digest(config, "serve")
        procs.append(third)
        log = wait_for(third, "next run at", timeout=120)
        assert "catching up" not in log  # today's issue exists: no second one
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=60) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill(proc)
            elif proc.stderr:
                proc.stderr.close()
    assert len(list(outbox.glob("*.eml"))) == 2
    assert ledger_rows(config, datetime.now(UTC).date().isoformat()) == {ANN: "written", BOB: "written"}


# --- a fetch killed late ----------------------------------------------------------------------


def test_a_fetch_killed_late_keeps_what_it_had_stored_and_the_next_run_asks_only_if_changed(tmp_path: Path) -> None:
    """Results are stored in batches as they come: a SIGKILL while one feed hangs loses none of the rest."""
    from digest.sources import SETTLED_BATCH
    from tests.http_server import Response, http_server
    from tests.test_pool import rss_with

    quick = SETTLED_BATCH + 10

    def versioned(i: int) -> Any:
        def route(handler: Any) -> Response:
            if handler.headers.get("If-None-Match") == f'"v{i}"':
                return Response(304, headers={"ETag": f'"v{i}"'})
            return Response(body=rss_with(3, f"Quick {i}"), headers={"ETag": f'"v{i}"'})

        return route

    with http_server() as site:
        for i in range(quick):
            site.add(f"/q{i}.xml", versioned(i))
        site.add("/hang.xml", Response(body=rss_with(3, "Hang"), delay=60))
        feeds = "".join(f'[[feeds]]\nurl = "{site.base}/q{i}.xml"\n' for i in range(quick))
        extra = (
            f'[fetch]\nallow_private_networks = true\ntimeout_seconds = 120\n[[feeds]]\nurl = "{site.base}/hang.xml"\n'
            + feeds
        )
        config = write_config(tmp_path, None, extra=extra)
        proc = start_digest(config, "fetch")
        try:

            def stored_feeds() -> int:
                if not database(config).exists():
                    return 0
                ro = f"file:{database(config)}?mode=ro"
                with closing(sqlite3.connect(ro, uri=True)) as db, suppress(sqlite3.OperationalError):  # no table yet
                    return int(db.execute("SELECT count(*) FROM sources WHERE etag IS NOT NULL").fetchone()[0])
                return 0

            deadline = time.monotonic() + 60
            while stored_feeds() < SETTLED_BATCH and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert stored_feeds() >= SETTLED_BATCH
            assert proc.poll() is None  # still waiting for the hanging feed
        finally:
            kill(proc)
        kept = stored_feeds()
        with closing(sqlite3.connect(database(config))) as db:
            items = db.execute(
                "SELECT count(*) FROM items i JOIN sources s ON s.id = i.source_id WHERE s.etag IS NOT NULL"
            )
            assert items.fetchone()[0] == 3 * kept

        site.add("/hang.xml", Response(body=rss_with(3, "Hang")))
        site.hits.clear()
        done = digest(config, "fetch")
        assert done.returncode == 0, done.stderr
        asked_if_changed = [path for path, headers in site.hits if "if-none-match" in headers]
    assert len(asked_if_changed) >= kept >= SETTLED_BATCH  # what the killed run stored is not fetched as new
    with closing(sqlite3.connect(database(config))) as db:
        assert db.execute("SELECT count(*) FROM sources WHERE etag IS NOT NULL").fetchone()[0] == quick
