"""Loud, early, secret-free config errors (issue #7, guarantee 10), through the real CLI.

Unknown keys, wrong types, unknown time zones and a missing secret: one line naming the
key, exit 2, before any work (nothing written). The SMTP password never appears in
output, debug logs, the archive, the outbox or the state file, not even with -vv.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.smtp_server import Inbox, free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-Pa55word-7f3a"
SMTP_USER = "digest"

BAD_CONFIGS = {
    "unknown key": ("[fetch]\nspeed = 3\n", "fetch.speed"),
    "unknown top-level key": ("colour = 'red'\n", "colour"),
    "wrong type": ("top_n = 'five'\n", "top_n"),
    "wrong type in a table": ("[smtp]\nhost = '127.0.0.1'\nport = '25'\n", "smtp.port"),
    "unknown time zone": ("timezone = 'Mars/Olympus_Mons'\n", "timezone"),
    "bad recipient": ("[email]\nto = ['a@[']\n", "email.to[0]"),
    "two senders in one": ("[email]\nfrom = 'Acme, Inc. <news@example.org>'\n", "email.from"),
}
COMMANDS = {
    "once": ["once"],
    "fetch": ["fetch"],
    "serve": ["serve"],
    "send": ["send", "--date", "2026-11-24"],
    "archive build": ["archive", "build"],
    "sources list": ["sources", "list"],
}
MISSING_SECRET = (
    "[email]\nto = ['ann@example.org']\n"
    "[smtp]\nhost = '127.0.0.1'\nusername = 'u'\npassword_env = 'DIGEST_TEST_UNSET_PASSWORD'\n"
)


def write_config(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "config" / "digest.toml"
    config.parent.mkdir(exist_ok=True)
    # Every path inside tmp_path, so "nothing was written" can be checked by listing it.
    config.write_text(f'[paths]\nseeds = "{ROOT / "seeds"}"\n' + body, encoding="utf-8")
    return config


def digest(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=config.parent,
        env={**os.environ, **(env or {})},
    )


def written_files(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.name != "digest.toml")


def assert_one_line_exit_2(proc: subprocess.CompletedProcess[str], key: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("digest: config error: ") and key in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and not proc.stdout
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS.values(), ids=list(COMMANDS))
@pytest.mark.parametrize(("body", "key"), BAD_CONFIGS.values(), ids=list(BAD_CONFIGS))
def test_a_bad_config_is_one_line_exit_2_before_any_work(
    tmp_path: Path, command: list[str], body: str, key: str
) -> None:
    config = write_config(tmp_path, body)
    assert_one_line_exit_2(digest(config, *command), key)
    assert written_files(tmp_path) == ["config"]  # no state file, no archive, no outbox, no lock


@pytest.mark.parametrize(
    "command", [COMMANDS["once"], COMMANDS["serve"], COMMANDS["send"]], ids=["once", "serve", "send"]
)
def test_a_missing_secret_is_one_line_exit_2_before_any_work(tmp_path: Path, command: list[str]) -> None:
    config = write_config(tmp_path, MISSING_SECRET)
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_TEST_UNSET_PASSWORD"}
    proc = subprocess.run(
        [sys.executable, "-m", "digest", *command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    line = assert_one_line_exit_2(proc, "smtp.password_env")
    assert "DIGEST_TEST_UNSET_PASSWORD" in line  # which variable to set
    assert written_files(tmp_path) == ["config"]


def test_a_password_written_into_the_config_is_refused_without_echoing_it(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"[email]\nto = ['ann@example.org']\n[smtp]\nhost = '127.0.0.1'\nusername = 'u'\npassword = '{SECRET}'\n",
    )
    proc = digest(config, "once", "-vv")
    assert_one_line_exit_2(proc, "smtp.password")
    assert SECRET not in proc.stderr + proc.stdout
    assert written_files(tmp_path) == ["config"]


def secret_forms() -> list[bytes]:
    """The password as text and as it travels in AUTH PLAIN and AUTH LOGIN (base64)."""
    plain = base64.b64encode(f"\0{SMTP_USER}\0{SECRET}".encode())
    return [SECRET.encode(), base64.b64encode(SECRET.encode()), plain, plain.decode().encode("utf-16-le")]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # loopback only
def test_the_smtp_password_never_appears_in_output_logs_or_files_even_at_debug_level(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == SECRET.encode(), handled=False)

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        auth_required=True,
        auth_require_tls=False,  # AUTH over plain TCP on loopback: the password is on the wire in the test only
        authenticator=authenticator,
    )
    body = (
        "[email]\nfrom = 'Digest <digest@example.org>'\nto = ['ann@example.org']\n"
        f"[smtp]\nhost = '127.0.0.1'\nport = {port}\nsecurity = 'none'\nusername = '{SMTP_USER}'\n"
        "password_env = 'DIGEST_TEST_SMTP_PASSWORD'\nretry_seconds = []\n"
    )
    config = write_config(tmp_path, body)
    controller.start()
    try:
        sent = digest(
            config, "once", "-vv", "--date", "2026-11-24", "--json", env={"DIGEST_TEST_SMTP_PASSWORD": SECRET}
        )
        config.write_text(body.replace("'ann@example.org'", "'ann@example.org', 'bob@example.org'"), encoding="utf-8")
        refused = digest(
            config, "send", "-vv", "--date", "2026-11-24", env={"DIGEST_TEST_SMTP_PASSWORD": "not-" + SECRET}
        )
    finally:
        controller.stop()
    assert sent.returncode == 0, sent.stderr
    assert "ann@example.org: sent" in sent.stderr and len(inbox.to("ann@example.org")) == 1
    assert (SMTP_USER.encode(), SECRET.encode()) in logins  # the password was really used
    assert "DEBUG" in sent.stderr  # -vv did turn debug logging on
    assert refused.returncode == 1 and "535" in refused.stderr  # a wrong password is reported, not echoed
    outputs = [p.stdout.encode() + p.stderr.encode() for p in (sent, refused)]
    files = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    received = [m.as_bytes() for _, m in inbox.messages]
    for blob in outputs + files + received:
        for form in secret_forms():
            assert form not in blob
    for proc in (sent, refused):  # smtplib's debuglevel would print the SMTP dialogue, AUTH included
        assert "send: " not in proc.stderr and "reply: " not in proc.stderr and "AUTH" not in proc.stderr
