"""TOML config -> frozen Settings: validation and defaults live here and nowhere else.

Every problem is a ConfigError naming the file and the dotted key, so the CLI can
print it as one line. Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .models import FeedSpec
from .rank.score import WEIGHTS as DEFAULT_WEIGHTS

DEFAULT_CONFIG = Path("config/digest.toml")
CONFIG_ENV = "DIGEST_CONFIG"
DEFAULT_TOP_N = 5
DEFAULT_CRON = "0 7 * * *"
DEFAULT_CONCURRENCY = 64  # over clients of 2 connections: one pool of 32+ turns CPU-bound (shared/bench)
DEFAULT_TIMEOUT_SECONDS = 20.0
DEFAULT_PER_HOST_CONCURRENCY = 4  # many feeds on one host (a blog platform) are fetched a few at a time
DEFAULT_RUN_DEADLINE_SECONDS = 600.0  # a daily run still waiting on feeds after this gives up on them
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # a feed bigger than this is a mistake or an attack
DEFAULT_MAX_PER_SOURCE = 2  # with top_n 5 this forces picks from three sources or more
FULL_TEXT_EXTRACTOR = "trafilatura"  # feeds with `full_text = true` need it; the `fulltext` extra installs it
FULL_TEXT_MISSING = "which needs trafilatura: pip install 'digest[fulltext]'"
SECURITY_CHOICES = ("none", "starttls", "ssl")
DEFAULT_SENDER = "Daily Insights <digest@localhost>"
# local@domain as dot-atoms, without what trips the stdlib's header parser ("<@" and "a@[" raised
# from build_message; "a@b." came out as To: <>)
_ATOM = r"[^\s\x00-\x1f\x7f-\x9f@<>()\[\],;:\"\\.]+"
_ADDRESS = re.compile(rf"{_ATOM}(\.{_ATOM})*@{_ATOM}(\.{_ATOM})*")


@dataclass(frozen=True, slots=True)
class Paths:
    seeds: Path
    archive: Path
    database: Path
    outbox: Path
    templates: Path | None = None  # a folder whose templates override the bundled ones


@dataclass(frozen=True, slots=True)
class FetchSettings:
    concurrency: int = DEFAULT_CONCURRENCY
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    allow_private_networks: bool = False
    per_host_concurrency: int = DEFAULT_PER_HOST_CONCURRENCY
    run_deadline_seconds: float = DEFAULT_RUN_DEADLINE_SECONDS
    parse_workers: int | None = None  # processes that parse feeds; None: one per core, 0: parse in this process


@dataclass(frozen=True, slots=True)
class RankSettings:
    interests: tuple[str, ...] = ()
    max_per_source: int = DEFAULT_MAX_PER_SOURCE
    novelty_days: int = 30  # an insight sent within this many days is not sent again
    recency_half_life_hours: float = 36.0
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


@dataclass(frozen=True, slots=True)
class EmailSettings:
    sender: str = DEFAULT_SENDER
    to: tuple[str, ...] = ()
    unsubscribe_url: str | None = None  # one-click (RFC 8058) when set
    unsubscribe_mailto: str | None = None
    send_when_empty: bool = False  # a day with nothing new sends no issue unless this is true


@dataclass(frozen=True, slots=True)
class Recipient:
    """A reader with interests of their own: they get their own ranking of the same candidates."""

    email: str
    interests: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    timeout_seconds: float = 30.0
    ca_file: Path | None = None  # a private CA for the server's certificate
    retry_seconds: tuple[float, ...] = (2.0, 10.0)  # waits before retrying a temporary failure


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path
    paths: Paths
    title: str = "Daily Insights"
    top_n: int = DEFAULT_TOP_N
    timezone: str = "UTC"
    archive_url: str | None = None
    cron: str = DEFAULT_CRON
    feeds: tuple[FeedSpec, ...] = ()
    fetch: FetchSettings = field(default_factory=FetchSettings)
    rank: RankSettings = field(default_factory=RankSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    recipients: tuple[Recipient, ...] = ()
    smtp: SmtpSettings | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def has_full_text_extractor() -> bool:
    """Whether trafilatura (the `fulltext` extra) is installed; looked up without importing it."""
    return importlib.util.find_spec(FULL_TEXT_EXTRACTOR) is not None


def is_email_address(value: str) -> bool:
    """A bare address (no display name) that a message header can carry safely."""
    return bool(_ADDRESS.fullmatch(value))


def sender_address(sender: str) -> str | None:
    """The one address in a From value as a mail parser reads it ("Acme, Inc. <a@b>" is two), else None."""
    from email.errors import InvalidHeaderDefect
    from email.policy import default

    try:
        header = default.header_factory("From", sender)
        addresses = header.addresses
    except (IndexError, AttributeError, ValueError):  # the stdlib parser trips on some broken values ("<@")
        return None
    if len(addresses) != 1 or any(isinstance(d, InvalidHeaderDefect) for d in header.defects):
        return None
    return addresses[0].addr_spec if is_email_address(addresses[0].addr_spec) else None


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """--config, else $DIGEST_CONFIG, else ./config/digest.toml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and validate one config file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config: {e}", path=str(path)) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", path=str(path)) from e
    return _Reader(path).settings(raw)


# --- validation -------------------------------------------------------------

Check = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_num_list(v: Any) -> bool:
    return isinstance(v, list) and all(_is_num(x) for x in v)


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


_TYPE_NAMES: dict[Check, str] = {
    _is_str: "a string",
    _is_int: "an integer",
    _is_num: "a number",
    _is_bool: "true or false",
    _is_str_list: "a list of strings",
    _is_table: "a table",
    _is_num_list: "a list of numbers",
}


class _Reader:
    """Walks the raw TOML once, checking keys and types with dotted names."""

    def __init__(self, path: Path):
        self.path = path
        self.base = path.parent

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=str(self.path), key=key)

    def table(self, raw: Any, key: str, allowed: Mapping[str, Check]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(key, "must be a table")
        out: dict[str, Any] = {}
        for name, value in raw.items():
            dotted = f"{key}.{name}" if key else name
            check = allowed.get(name)
            if check is None:
                raise self.fail(dotted, "unknown key")
            if not check(value):
                raise self.fail(dotted, f"must be {_TYPE_NAMES[check]}")
            out[name] = value
        return out

    def resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else self.base / p))

    def settings(self, raw: dict[str, Any]) -> Settings:
        top = {"title": _is_str, "top_n": _is_int, "timezone": _is_str, "archive_url": _is_str}
        tables = ("paths", "schedule", "feeds", "fetch", "rank", "email", "recipients", "smtp")
        scalars = self.table({k: v for k, v in raw.items() if k not in tables}, "", top)
        top_n = scalars.get("top_n", DEFAULT_TOP_N)
        if not 1 <= top_n <= 50:
            raise self.fail("top_n", "must be between 1 and 50")
        timezone = scalars.get("timezone", "UTC")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("timezone", f"unknown time zone {timezone!r}") from None
        schedule = self.table(raw.get("schedule", {}), "schedule", {"cron": _is_str})
        cron = schedule.get("cron", DEFAULT_CRON)
        if len(cron.split()) not in (5, 6):
            raise self.fail(
                "schedule.cron", "must have five fields (minute hour day month weekday) or six with seconds first"
            )
        return Settings(
            path=self.path,
            paths=self.paths(raw.get("paths", {})),
            title=scalars.get("title", "Daily Insights"),
            top_n=top_n,
            timezone=timezone,
            archive_url=scalars.get("archive_url"),
            cron=cron,
            feeds=self.feeds(raw.get("feeds", [])),
            fetch=self.fetch(raw.get("fetch", {})),
            rank=self.rank(raw.get("rank", {})),
            email=(email := self.email(raw.get("email", {}))),
            recipients=self.recipients(raw.get("recipients", []), email),
            smtp=self.smtp(raw["smtp"]) if "smtp" in raw else None,
        )

    def paths(self, raw: Any) -> Paths:
        keys = ("seeds", "archive", "database", "outbox", "templates")
        t = self.table(raw, "paths", {k: _is_str for k in keys})
        defaults = {
            "seeds": "../seeds",
            "archive": "../archive",
            "database": "../state/digest.sqlite3",
            "outbox": "../outbox",
        }
        resolved = {k: self.resolve(t.get(k, d)) for k, d in defaults.items()}
        templates = self.resolve(t["templates"]) if "templates" in t else None
        return Paths(**resolved, templates=templates)

    def feeds(self, raw: Any) -> tuple[FeedSpec, ...]:
        if not isinstance(raw, list):
            raise self.fail("feeds", "must be an array of tables: [[feeds]]")
        specs = []
        for i, entry in enumerate(raw):
            key = f"feeds[{i}]"
            t = self.table(entry, key, {"url": _is_str, "name": _is_str, "weight": _is_num, "full_text": _is_bool})
            url = t.get("url")
            if not url:
                raise self.fail(f"{key}.url", "is required")
            if not url.lower().startswith(("http://", "https://")):
                raise self.fail(f"{key}.url", "must be an http:// or https:// URL")
            weight = float(t.get("weight", 1.0))
            if weight < 0:
                raise self.fail(f"{key}.weight", "must not be negative")
            full_text = t.get("full_text", False)
            if full_text and not has_full_text_extractor():
                raise self.fail(f"{key}.full_text", f"{url} asks for full text, {FULL_TEXT_MISSING}")
            specs.append(FeedSpec(url=url, name=t.get("name"), weight=weight, full_text=full_text))
        return tuple(specs)

    def fetch(self, raw: Any) -> FetchSettings:
        t = self.table(
            raw,
            "fetch",
            {
                "concurrency": _is_int,
                "timeout_seconds": _is_num,
                "max_bytes": _is_int,
                "allow_private_networks": _is_bool,
                "per_host_concurrency": _is_int,
                "run_deadline_seconds": _is_num,
                "parse_workers": _is_int,
            },
        )
        for k in ("concurrency", "timeout_seconds", "max_bytes", "per_host_concurrency", "run_deadline_seconds"):
            if k in t and t[k] <= 0:
                raise self.fail(f"fetch.{k}", "must be positive")
        if t.get("parse_workers", 0) < 0:
            raise self.fail("fetch.parse_workers", "must be 0 (parse in the main process) or more")
        for k in ("timeout_seconds", "run_deadline_seconds"):
            if k in t:
                t[k] = float(t[k])
        return FetchSettings(**t)

    def rank(self, raw: Any) -> RankSettings:
        t = self.table(
            raw,
            "rank",
            {
                "interests": _is_str_list,
                "max_per_source": _is_int,
                "novelty_days": _is_int,
                "recency_half_life_hours": _is_num,
                "weights": _is_table,
            },
        )
        if "weights" in t:
            given = self.table(t["weights"], "rank.weights", {name: _is_num for name in DEFAULT_WEIGHTS})
            if any(v < 0 for v in given.values()):
                raise self.fail("rank.weights", "weights must not be negative")
            t["weights"] = {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in given.items()}}
        if "interests" in t:
            t["interests"] = tuple(t["interests"])
        for k in ("max_per_source", "recency_half_life_hours"):
            if k in t and t[k] <= 0:
                raise self.fail(f"rank.{k}", "must be positive")
        if t.get("novelty_days", 0) < 0:
            raise self.fail("rank.novelty_days", "must not be negative")
        return RankSettings(**t)

    def email(self, raw: Any) -> EmailSettings:
        t = self.table(
            raw,
            "email",
            {
                "from": _is_str,
                "to": _is_str_list,
                "unsubscribe_url": _is_str,
                "unsubscribe_mailto": _is_str,
                "send_when_empty": _is_bool,
            },
        )
        url, mailto = t.get("unsubscribe_url"), t.get("unsubscribe_mailto")
        if url is not None and (not url.startswith("https://") or any(c in url for c in " \r\n<>")):
            raise self.fail("email.unsubscribe_url", "must be an https:// URL without spaces")
        if mailto is not None and not is_email_address(mailto):
            raise self.fail("email.unsubscribe_mailto", f"not an email address: {mailto!r}")
        for i, addr in enumerate(t.get("to", [])):
            if not is_email_address(addr):
                raise self.fail(f"email.to[{i}]", f"not an email address: {addr!r}")
        sender = t.get("from", DEFAULT_SENDER)
        if any(c in sender for c in "\r\n"):
            raise self.fail("email.from", "must be one line")
        if sender_address(sender) is None:
            raise self.fail("email.from", f"must be one address, like Name <name@example.org>: {sender!r}")
        return EmailSettings(
            sender=sender,
            to=tuple(t.get("to", ())),
            unsubscribe_url=url,
            unsubscribe_mailto=mailto,
            send_when_empty=t.get("send_when_empty", False),
        )

    def recipients(self, raw: Any, email: EmailSettings) -> tuple[Recipient, ...]:
        if not isinstance(raw, list):
            raise self.fail("recipients", "must be an array of tables: [[recipients]]")
        seen = {a.lower() for a in email.to}
        out = []
        for i, entry in enumerate(raw):
            key = f"recipients[{i}]"
            t = self.table(entry, key, {"email": _is_str, "interests": _is_str_list})
            address = t.get("email", "")
            if not is_email_address(address):
                raise self.fail(f"{key}.email", f"not an email address: {address!r}")
            if address.lower() in seen:
                raise self.fail(f"{key}.email", f"{address} is listed twice (here or in [email] to)")
            seen.add(address.lower())
            out.append(Recipient(email=address, interests=tuple(t.get("interests", ()))))
        return tuple(out)

    def smtp(self, raw: Any) -> SmtpSettings:
        t = self.table(
            raw,
            "smtp",
            {
                "host": _is_str,
                "port": _is_int,
                "security": _is_str,
                "username": _is_str,
                "password_env": _is_str,
                "timeout_seconds": _is_num,
                "ca_file": _is_str,
                "retry_seconds": _is_num_list,
            },
        )
        if "retry_seconds" in t:
            if any(v < 0 for v in t["retry_seconds"]) or len(t["retry_seconds"]) > 10:
                raise self.fail("smtp.retry_seconds", "must be at most ten non-negative numbers")
            t["retry_seconds"] = tuple(float(v) for v in t["retry_seconds"])
        if "ca_file" in t:
            t["ca_file"] = self.resolve(t["ca_file"])
            if not t["ca_file"].is_file():
                raise self.fail("smtp.ca_file", f"no such file: {t['ca_file']}")
        if not t.get("host"):
            raise self.fail("smtp.host", "is required when [smtp] is present")
        if t.get("security", "starttls") not in SECURITY_CHOICES:
            raise self.fail("smtp.security", f"must be one of {', '.join(SECURITY_CHOICES)}")
        if "password_env" in t and "username" not in t:
            raise self.fail("smtp.username", "is required when smtp.password_env is set")
        if "timeout_seconds" in t:
            t["timeout_seconds"] = float(t["timeout_seconds"])
        return SmtpSettings(**t)
