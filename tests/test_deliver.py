"""Delivery through a real SMTP server on 127.0.0.1, and to the outbox; messages parsed as they arrive."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.config import SmtpSettings
from digest.deliver import FileMailer, SmtpMailer, build_message
from digest.errors import DeliveryError
from digest.render import make_environment, render_issue
from tests.sample import BRAND, make_pick, sample_issue
from tests.smtp_server import smtp_server

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 24, 7, 0, 5, tzinfo=UTC)


def message_for(recipient: str, issue=None):  # type: ignore[no-untyped-def]
    issue = issue or sample_issue()
    rendered = render_issue(make_environment(), issue, BRAND)
    return build_message(
        rendered,
        issue,
        "Daily Insights <digest@example.org>",
        recipient,
        list_id="Daily Insights <daily-insights.example.org>",
        now=NOW,
    )


def test_message_shape_and_headers() -> None:
    msg = message_for("ann@example.org")
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["To"] == "ann@example.org"
    assert msg["From"] == "Daily Insights <digest@example.org>"
    assert msg["Subject"].startswith("Daily Insights — 2026-11-24: Open-weight models")
    assert msg["Message-ID"] == message_for("ann@example.org")["Message-ID"]  # stable per issue and recipient
    assert msg["Message-ID"] != message_for("bob@example.org")["Message-ID"]
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg["List-Id"] and msg["Date"]
    assert len(msg.get_body(("html",)).get_content().encode()) < 100_000


@given(st.text(min_size=1, max_size=200))
def test_nothing_from_a_feed_reaches_a_header_raw(text: str) -> None:
    msg = message_for("ann@example.org", sample_issue(make_pick(1, text + "\r\nBcc: evil@example.com")))
    raw = bytes(msg).split(b"\n\n", 1)[0].decode("ascii", errors="replace")
    assert "\nBcc:" not in raw and "\rBcc:" not in raw
    for name, value in msg.items():
        assert "\n" not in str(value).replace("\n ", "") and "\r" not in str(value), name


def test_smtp_sends_one_message_per_recipient_over_one_connection() -> None:
    with smtp_server() as (inbox, port):
        mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_seconds=5), None)
        try:
            for rcpt in ("ann@example.org", "bob@example.org"):
                assert "accepted" in mailer.send(message_for(rcpt), rcpt)
        finally:
            mailer.close()
    assert [rcpts for rcpts, _ in inbox.messages] == [["ann@example.org"], ["bob@example.org"]]
    got = inbox.to("bob@example.org")[0]
    assert got["To"] == "bob@example.org" and "ann@" not in str(got)
    assert "Open-weight models" in got.get_body(("plain",)).get_content()
    assert "Open-weight models" in got.get_body(("html",)).get_content()


def test_a_refused_recipient_is_a_permanent_error_and_others_still_get_theirs() -> None:
    with smtp_server() as (inbox, port):
        inbox.reject["bad@example.org"] = "550 5.1.1 No such user"
        mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_seconds=5), None)
        try:
            mailer.send(message_for("ann@example.org"), "ann@example.org")
            with pytest.raises(DeliveryError) as info:
                mailer.send(message_for("bad@example.org"), "bad@example.org")
            mailer.send(message_for("bob@example.org"), "bob@example.org")
        finally:
            mailer.close()
    assert info.value.permanent and "550" in info.value.reason
    assert len(inbox.to("ann@example.org")) == 1 and len(inbox.to("bob@example.org")) == 1


def test_a_down_server_is_a_temporary_error() -> None:
    from tests.smtp_server import free_port

    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout_seconds=2), None)
    with pytest.raises(DeliveryError) as info:
        mailer.send(message_for("ann@example.org"), "ann@example.org")
    mailer.close()
    assert not info.value.permanent


def test_outbox_files_parse_as_the_same_message(tmp_path: Path) -> None:
    msg = message_for("ann@example.org")
    path = Path(FileMailer(tmp_path / "outbox").send(msg, "ann@example.org"))
    assert path.name == "2026-11-24-ann@example.org.eml"
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == msg["Message-ID"] and parsed["Subject"] == msg["Subject"]
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left over


def test_once_over_smtp_delivers_each_recipient_once_across_runs(tmp_path: Path) -> None:
    with smtp_server() as (inbox, port):
        inbox.reject["gone@example.org"] = "550 5.1.1 No such user"
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        config.write_text(
            f'[paths]\nseeds = "{ROOT / "seeds"}"\n'
            '[email]\nfrom = "Digest <digest@example.org>"\nto = ["ann@example.org", "gone@example.org", "bob@example.org"]\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n',
            encoding="utf-8",
        )
        cmd = [sys.executable, "-m", "digest", "once", "--config", str(config), "--date", "2026-11-24", "--json"]
        first = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert len(inbox.to("ann@example.org")) == 1 and len(inbox.to("bob@example.org")) == 1
    assert "gone@example.org: rejected (550" in first.stderr
    assert "ann@example.org: sent" in first.stderr
    assert second.returncode == 0, second.stderr
    assert "ann@example.org: skipped (already sent)" in second.stderr
    assert "gone@example.org: skipped (already rejected)" in second.stderr  # a 5xx is not retried
    assert len(inbox.messages) == 2
    issue = json.loads(first.stdout)
    assert issue["insights"][0]["text"][:20] in inbox.to("ann@example.org")[0]["Subject"]
    assert not (tmp_path / "outbox").exists()
