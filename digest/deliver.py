"""Deliver an issue: build_message (pure) and the Mailer port, by SMTP or as .eml files.

One message per recipient, so recipients never see each other. Header values pass
through `_header` so CR, LF and other control characters never reach a header.

A lost connection is not always a failure: once the whole message (up to its final
CRLF.CRLF) has gone to the server, the server may have accepted it even though its
reply never arrived (RFC 1047). That case raises DeliveryUncertain, which is never
retried, so a reader never gets the issue twice.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol, Self

from .config import SmtpSettings
from .errors import DeliveryError, DeliveryUncertain
from .fsutil import PRIVATE_MODE, write_atomic
from .models import Issue, RenderedIssue

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # C0, DEL, C1, Unicode line breaks
# The email package decodes RFC 2047 words in any value it is given: "=?utf-8?q?=0D=0ABcc:_x?=" in a feed
# title became a raw CRLF and a Bcc header. A zero-width space after "=" keeps such text literal (issue #7).
_ENCODED_WORD_START = re.compile(r"=\?(?=.*\?=)")
_ID_DOMAIN = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")  # the right of a Message-ID's @
SMTP_ERRORS = (smtplib.SMTPException, OSError)
log = logging.getLogger("digest.deliver")


class Mailer(Protocol):
    def send(self, msg: EmailMessage, recipient: str) -> str:
        """Deliver one message; returns a detail for the ledger, raises DeliveryError."""
        ...

    def close(self) -> None: ...


def build_message(
    rendered: RenderedIssue,
    issue: Issue,
    sender: str,
    recipient: str,
    *,
    list_id: str,
    now: datetime,
    unsubscribe_url: str | None = None,
    unsubscribe_mailto: str | None = None,
) -> EmailMessage:
    """multipart/alternative (text, then HTML) with a Message-ID stable per issue and recipient."""
    msg = EmailMessage()
    msg["From"] = _header(sender)
    msg["To"] = _header(recipient)
    msg["Subject"] = _header(rendered.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(issue, sender, recipient)
    msg["List-Id"] = _header(list_id)
    unsubscribe = [f"<mailto:{unsubscribe_mailto}?subject=unsubscribe>"] if unsubscribe_mailto else []
    unsubscribe += [f"<{unsubscribe_url}>"] if unsubscribe_url else []
    if unsubscribe:
        msg["List-Unsubscribe"] = _header(", ".join(unsubscribe))
    if unsubscribe_url:  # RFC 8058: the URL takes a POST, so a mail client can unsubscribe in one click
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Digest-Issue"] = f"{issue.date.isoformat()} #{issue.number}"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def message_id(issue: Issue, sender: str, recipient: str) -> str:
    token = hashlib.sha1(recipient.strip().lower().encode()).hexdigest()[:16]
    return f"<digest.{issue.date.isoformat()}.{token}@{id_domain(sender)}>"


def id_domain(sender: str) -> str:
    """The sender's domain for Message-ID and List-Id: ASCII (an IDN in its xn-- form), else localhost."""
    domain = parseaddr(sender)[1].rpartition("@")[2]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "localhost"
    return domain if _ID_DOMAIN.fullmatch(domain) else "localhost"


def _header(value: str) -> str:
    return _ENCODED_WORD_START.sub("=\u200b?", " ".join(_CONTROL.sub(" ", value).split()))


class FileMailer:
    """Writes each message to the outbox as `<date>-<recipient>.eml` (no [smtp], or --dry-run)."""

    def __init__(self, outbox: Path):
        self.outbox = outbox

    def send(self, msg: EmailMessage, recipient: str) -> str:
        issue = str(msg.get("X-Digest-Issue", "message")).split()[0]
        safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient)  # no path separators
        path = self.outbox / f"{issue}-{safe}.eml"
        try:
            write_atomic(path, eml_bytes(msg), mode=PRIVATE_MODE, durable=True)  # on disk for good before 'written'
        except OSError as e:
            raise DeliveryError(recipient, f"cannot write {path}: {e.strerror or e}") from e
        return str(path)

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def eml_bytes(msg: EmailMessage) -> bytes:
    """The message as a file: UTF-8 headers when an address is not ASCII, as smtplib's SMTPUTF8 send does.

    The default policy would put an internationalised address into an RFC 2047 word,
    which no mail program reads as an address.
    """
    addresses = (str(msg.get(name, "")) for name in ("From", "To"))
    if all(a.isascii() for a in addresses):
        return bytes(msg)
    return msg.as_bytes(policy=email.policy.default.clone(utf8=True))


class SmtpMailer:
    """One SMTP connection, opened on first use and reused for every recipient; use it in a `with`.

    A temporary failure (4xx, a dropped or refused connection) is retried after each
    of `retry_delays`; a permanent one (5xx) is not.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        password: str | None,
        *,
        retry_delays: Sequence[float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.password = password
        self.retry_delays = tuple(settings.retry_seconds if retry_delays is None else retry_delays)
        self.sleep = sleep
        self.conn: _SMTP | None = None
        self.down: str | None = None
        self.connecting = False  # the last failure happened while connecting (or logging in)

    def send(self, msg: EmailMessage, recipient: str) -> str:
        """Send one message; DeliveryError when refused or unreachable, DeliveryUncertain when unknowable."""
        if self.down is not None:  # the server stayed unreachable: do not wait again for each recipient
            raise DeliveryError(recipient, self.down)
        for delay in (*self.retry_delays, None):
            try:
                return self._send_once(msg, recipient)
            except DeliveryError as e:
                if e.permanent or isinstance(e, DeliveryUncertain):  # retrying an uncertain send could send twice
                    raise
                if delay is None:
                    if self.connecting:  # not a dropped connection: the server could not be reached at all
                        self.down = e.reason
                    raise
                log.warning("temporary failure for %s (%s); retrying in %g s", recipient, e.reason, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _send_once(self, msg: EmailMessage, recipient: str) -> str:
        conn: _SMTP | None = None
        try:
            self.connecting = self.conn is None
            conn = self.conn or self._connect()
            self.connecting = False
            refused = conn.send_message(msg, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as e:
            code, reply = e.recipients.get(recipient, (550, b"refused"))
            raise DeliveryError(recipient, _reply(code, reply), permanent=code >= 500) from e
        except smtplib.SMTPResponseException as e:
            self._drop()
            raise DeliveryError(recipient, _reply(e.smtp_code, e.smtp_error), permanent=e.smtp_code >= 500) from e
        except SMTP_ERRORS as e:
            message_out = conn is not None and conn.message_out
            self._drop()
            where = f"SMTP {self.settings.host}:{self.settings.port}"
            if message_out:
                raise DeliveryUncertain(
                    recipient, f"{where}: the whole message went out but the server's reply was lost ({e})"
                ) from e
            raise DeliveryError(recipient, f"{where}: {e}") from e
        if refused:
            code, reply = refused[recipient]
            raise DeliveryError(recipient, _reply(code, reply), permanent=code >= 500)
        return f"accepted by {self.settings.host}"

    def _connect(self) -> _SMTP:
        s = self.settings
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if s.security == "ssl":
            conn: _SMTP = _SMTPSSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
        else:
            conn = _SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            if s.security == "starttls":
                conn.starttls(context=context)
            if s.username:
                _login(conn, s.username, self.password or "")
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        return conn

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except SMTP_ERRORS:
                pass
            finally:
                self._drop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # the connection is closed however the sends ended


class _SMTP(smtplib.SMTP):
    """smtplib.SMTP that knows whether the whole message of the current transaction went out."""

    message_out = False

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        self.message_out = False  # each transaction starts with MAIL FROM
        return super().mail(sender, options)

    def send(self, s: str | bytes) -> None:  # type: ignore[override]
        super().send(s)
        # The DATA payload is the one write that ends with the terminator; a command never does.
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.message_out = True


class _SMTPSSL(_SMTP, smtplib.SMTP_SSL):
    pass


def _login(conn: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN when offered (one clear 535 on a wrong password), else smtplib's choice."""
    conn.ehlo_or_helo_if_needed()
    if "plain" not in conn.esmtp_features.get("auth", "").lower().split():
        conn.login(username, password)
        return
    conn.user, conn.password = username, password
    conn.auth("PLAIN", conn.auth_plain)


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(message.split())}"
