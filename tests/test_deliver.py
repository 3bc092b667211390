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

    waits: list[float] = []
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout_seconds=2)
    mailer = SmtpMailer(settings, None, retry_delays=(0.5, 1.0), sleep=waits.append)
    with pytest.raises(DeliveryError) as info:
        mailer.send(message_for("ann@example.org"), "ann@example.org")
    assert not info.value.permanent and "Connection refused" in info.value.reason
    assert waits == [0.5, 1.0]  # retried with growing waits
    with pytest.raises(DeliveryError):  # the next recipient fails at once instead of waiting again
        mailer.send(message_for("bob@example.org"), "bob@example.org")
    assert waits == [0.5, 1.0]
    mailer.close()


def test_outbox_files_parse_as_the_same_message(tmp_path: Path) -> None:
    msg = message_for("ann@example.org")
    path = Path(FileMailer(tmp_path / "outbox").send(msg, "ann@example.org"))
    assert path.name == "2026-11-24-ann@example.org.eml"
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == msg["Message-ID"] and parsed["Subject"] == msg["Subject"]
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left over


def test_an_internationalised_address_stays_an_address_in_the_outbox_file(tmp_path: Path) -> None:
    recipient = "jörg@bücher.example"
    path = Path(FileMailer(tmp_path).send(message_for(recipient), recipient))
    raw = path.read_bytes()
    assert f"To: {recipient}".encode() in raw  # RFC 6532: UTF-8 in the header, not an RFC 2047 word
    parsed = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == [recipient]
    assert parsed.get_body(("plain",)) is not None  # still a whole message
    ascii_only = Path(FileMailer(tmp_path).send(message_for("ann@example.org"), "ann@example.org")).read_bytes()
    assert ascii_only.split(b"\n\n", 1)[0].isascii()  # plain addresses keep 7-bit headers every tool reads


def test_once_over_smtp_delivers_each_recipient_once_across_runs(tmp_path: Path) -> None:
    with smtp_server() as (inbox, port):
        inbox.reject["gone@example.org"] = "550 5.1.1 No such user"
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        config.write_text(
            f'[paths]\nseeds = "{ROOT / "seeds"}"\n'
            '[email]\nfrom = "Digest <digest@example.org>"\nto = ["ann@example.org", "gone@example.org", "bob@example.org"]\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nretry_seconds = []\n',
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


def test_a_temporary_refusal_is_retried_and_then_delivered() -> None:
    with smtp_server() as (inbox, port):
        inbox.reject["ann@example.org"] = "451 4.7.1 Greylisted, try again"
        waits: list[float] = []

        def wait(seconds: float) -> None:
            waits.append(seconds)
            inbox.reject.clear()  # the greylisting period ends while we wait

        mailer = SmtpMailer(
            SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_seconds=5),
            None,
            retry_delays=(0.1, 0.2),
            sleep=wait,
        )
        try:
            mailer.send(message_for("ann@example.org"), "ann@example.org")
        finally:
            mailer.close()
    assert waits == [0.1]
    assert len(inbox.to("ann@example.org")) == 1


def test_starttls_and_login_with_the_password_from_the_environment(tmp_path: Path) -> None:
    import ssl

    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.smtp_server import Inbox, free_port

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    controller.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1", port=port, security="starttls", username="digest", timeout_seconds=5, ca_file=ca_file
        )
        mailer = SmtpMailer(settings, "s3cret", retry_delays=())
        try:
            mailer.send(message_for("ann@example.org"), "ann@example.org")
        finally:
            mailer.close()
        wrong = SmtpMailer(settings, "wrong", retry_delays=())
        with pytest.raises(DeliveryError) as info:
            wrong.send(message_for("bob@example.org"), "bob@example.org")
        wrong.close()
        untrusted = SmtpMailer(
            SmtpSettings(host="127.0.0.1", port=port, security="starttls", timeout_seconds=5), None, retry_delays=()
        )
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.send(message_for("bob@example.org"), "bob@example.org")
        untrusted.close()
    finally:
        controller.stop()
    assert logins[0] == (b"digest", b"s3cret")
    assert len(inbox.to("ann@example.org")) == 1 and not inbox.to("bob@example.org")
    assert info.value.permanent and "535" in info.value.reason


def test_list_unsubscribe_headers() -> None:
    issue = sample_issue()
    rendered = render_issue(make_environment(), issue, BRAND)
    msg = build_message(
        rendered,
        issue,
        "D <d@example.org>",
        "ann@example.org",
        list_id="D <d.example.org>",
        now=NOW,
        unsubscribe_url="https://example.org/u?id=1",
        unsubscribe_mailto="leave@example.org",
    )
    assert msg["List-Unsubscribe"] == "<mailto:leave@example.org?subject=unsubscribe>, <https://example.org/u?id=1>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain = build_message(rendered, issue, "D <d@example.org>", "ann@example.org", list_id="D <d.example.org>", now=NOW)
    assert plain["List-Unsubscribe"] is None and plain["List-Unsubscribe-Post"] is None


def test_html_part_stays_under_gmails_clipping_size_for_a_big_issue() -> None:
    from digest.models import RelatedRef

    long_text = " ".join(["A long and specific insight sentence about model release policies in 2026."] * 12)
    related = tuple(RelatedRef(long_text, f"Source {k}", f"https://example.org/{k}") for k in range(30))
    issue = sample_issue(*(make_pick(r, long_text, related=related) for r in range(1, 11)))
    html_part = message_for("ann@example.org", issue).get_body(("html",)).get_content()
    assert len(html_part.encode()) < 100_000
    assert html_part.count(long_text[:60]) >= 10


def test_send_command_delivers_what_is_still_pending(tmp_path: Path) -> None:
    with smtp_server() as (inbox, port):
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        body = (
            f'[paths]\nseeds = "{ROOT / "seeds"}"\n'
            '[email]\nfrom = "Digest <digest@example.org>"\nto = ["ann@example.org"]\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nretry_seconds = []\n'
        )
        config.write_text(body, encoding="utf-8")
        once = [sys.executable, "-m", "digest", "once", "--config", str(config), "--date", "2026-11-24"]
        assert subprocess.run(once, capture_output=True, text=True, timeout=60).returncode == 0
        # a new reader joins: `digest send` gives the same issue to them only
        config.write_text(
            body.replace('["ann@example.org"]', '["ann@example.org", "bob@example.org"]'), encoding="utf-8"
        )
        send = [sys.executable, "-m", "digest", "send", "--config", str(config), "--date", "2026-11-24"]
        proc = subprocess.run(send, capture_output=True, text=True, timeout=60)
        again = subprocess.run(send, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ann@example.org: skipped (already sent)" in proc.stderr and "bob@example.org: sent" in proc.stderr
    assert len(inbox.to("ann@example.org")) == 1 and len(inbox.to("bob@example.org")) == 1
    assert inbox.to("ann@example.org")[0]["Message-ID"] != inbox.to("bob@example.org")[0]["Message-ID"]
    assert "bob@example.org: skipped (already sent)" in again.stderr and len(inbox.messages) == 2


def test_each_reader_with_interests_gets_their_own_ranking(tmp_path: Path) -> None:
    def plain(path: Path) -> str:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        return msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir()
    config.write_text(
        f'[paths]\nseeds = "{ROOT / "seeds"}"\n'
        '[email]\nto = ["carol@example.org"]\n'
        '[[recipients]]\nemail = "ann@example.org"\ninterests = ["employment, jobs and labor displacement"]\n'
        '[[recipients]]\nemail = "bob@example.org"\ninterests = ["data security and privacy of AI agents"]\n',
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "once", "--config", str(config), "--date", "2026-11-24"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    outbox = tmp_path / "outbox"
    carol, ann, bob = (plain(outbox / f"2026-11-24-{who}@example.org.eml") for who in ("carol", "ann", "bob"))
    first = {
        who: text.split("\n1. ", 1)[1].split("\n\n", 1)[0]
        for who, text in (("carol", carol), ("ann", ann), ("bob", bob))
    }
    assert "employment" in ann and "employment" not in carol
    assert "security" in first["bob"] or "privacy" in first["bob"] or "leaked" in first["bob"]
    assert len({first["carol"], first["ann"], first["bob"]}) == 3
    # the archive holds the general issue only
    page = (tmp_path / "archive" / "issues" / "2026-11-24.json").read_text()
    assert json.loads(page)["insights"][0]["text"].startswith(first["carol"].strip().split()[0])


def test_config_rejects_a_reader_listed_twice(tmp_path: Path) -> None:
    from digest.config import load_settings
    from digest.errors import ConfigError

    path = tmp_path / "digest.toml"
    path.write_text('[email]\nto = ["Ann@example.org"]\n[[recipients]]\nemail = "ann@example.org"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"recipients\[0\].email: .*listed twice"):
        load_settings(path)


def test_smtp_mailer_as_a_context_manager_closes_its_connection() -> None:
    with smtp_server() as (inbox, port):
        settings = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_seconds=5)
        with SmtpMailer(settings, None, retry_delays=()) as mailer:
            mailer.send(message_for("ann@example.org"), "ann@example.org")
            assert mailer.conn is not None
        assert mailer.conn is None
        with pytest.raises(DeliveryError), SmtpMailer(settings, None, retry_delays=()) as failing:
            inbox.reject["bad@example.org"] = "550 5.1.1 No such user"
            failing.send(message_for("bad@example.org"), "bad@example.org")
        assert failing.conn is None
    assert len(inbox.messages) == 1


def test_header_values_lose_line_breaks_of_every_kind() -> None:
    issue = sample_issue()
    rendered = render_issue(make_environment(), issue, BRAND)
    msg = build_message(
        rendered,
        issue,
        "Digest\x85Bcc: evil@example.com <digest@example.org>",
        "ann@example.org\u2028Cc: evil@example.com",
        list_id="Digest\x0b<digest.example.org>\x1c",
        now=NOW,
    )
    head = bytes(msg).split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nCc:" not in head
    assert b"\nTo: ann@example.org Cc: evil@example.com\n" in head  # harmless text on one line, not a header
    assert msg["List-Id"] == "Digest <digest.example.org>"


def test_outbox_files_are_private(tmp_path: Path) -> None:
    path = Path(FileMailer(tmp_path).send(message_for("ann@example.org"), "ann@example.org"))
    assert path.stat().st_mode & 0o777 == 0o600
    with FileMailer(tmp_path) as mailer:  # a context manager too, like SmtpMailer
        written = Path(mailer.send(message_for("../bob@example.org"), "../bob@example.org"))
    assert written.parent == tmp_path and written.name == "2026-11-24-.._bob@example.org.eml"


def test_send_status_lists_every_reader_and_resolutions_are_refused_when_they_do_not_fit(tmp_path: Path) -> None:
    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir()
    body = f'[paths]\nseeds = "{ROOT / "seeds"}"\n[email]\nto = ["ann@example.org"]\n'
    config.write_text(body, encoding="utf-8")

    def digest(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "digest", *args, "--config", str(config)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    assert digest("once", "--date", "2026-11-24").returncode == 0
    config.write_text(body.replace('["ann@example.org"]', '["ann@example.org", "bob@example.org"]'), encoding="utf-8")
    status = digest("send", "--date", "2026-11-24", "--status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split()[:2] == ["written", "ann@example.org"] and "2026-11-24-ann@example.org.eml" in lines[0]
    assert lines[1].split()[:2] == ["pending", "bob@example.org"] and len(lines) == 2

    mixed = digest("send", "--date", "2026-11-24", "--status", "--resend", "bob@example.org")
    assert mixed.returncode == 2 and "--status only lists" in mixed.stderr
    dry = digest("send", "--date", "2026-11-24", "--dry-run", "--resend", "bob@example.org")
    assert dry.returncode == 1 and "--dry-run records nothing" in dry.stderr
    bad = digest("send", "--date", "2026-11-24", "--mark-sent", "bob@example.org", "--resend", "ann@example.org")
    assert bad.returncode == 1
    assert "bob@example.org: no delivery of 2026-11-24 to mark" in bad.stderr
    assert "ann@example.org: already written; an issue is never sent twice" in bad.stderr
    assert "Nothing was sent or changed" in bad.stderr
    assert not (tmp_path / "outbox" / "2026-11-24-bob@example.org.eml").exists()  # all or nothing

    sent = digest("send", "--date", "2026-11-24")
    assert sent.returncode == 0, sent.stderr
    assert "bob@example.org: written" in sent.stderr and "ann@example.org: skipped (already written)" in sent.stderr
    assert [ln.split()[0] for ln in digest("send", "--date", "2026-11-24", "--status").stdout.splitlines()] == [
        "written",
        "written",
    ]
