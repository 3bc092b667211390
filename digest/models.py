"""Frozen data types for every stage of a run; no I/O, no behaviour beyond derived fields.

RawFeed -> ItemData -> Insight -> Cluster -> ScoredInsight -> Selection -> Issue -> RenderedIssue
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime


class SourceStatus(str, enum.Enum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"
    DEFERRED = "deferred"  # not fetched this run: backing off, asked to wait, or gone


class InsightKind(str, enum.Enum):
    PARAGRAPH = "paragraph"
    BULLET = "bullet"
    KEY_POINT = "key_point"
    SUMMARY = "summary"


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as configured (or stored): where to fetch it and how much to trust it."""

    url: str
    name: str | None = None
    weight: float = 1.0
    full_text: bool = False  # the feed carries summaries: read each new item's article page


@dataclass(frozen=True, slots=True)
class RawFeed:
    """A fetched feed body before parsing."""

    url: str  # final URL, after redirects
    content: bytes
    headers: Mapping[str, str]
    etag: str | None = None
    last_modified: str | None = None
    moved: bool = False  # every redirect was permanent (301/308): `url` is the feed's new address


@dataclass(frozen=True, slots=True)
class ItemData:
    """One item from one source: a feed entry or a seed document.

    `text` holds plain text in blocks separated by blank lines; list items start
    with "• " and headings with "# ", so extraction keeps the structure without
    reparsing HTML. `html` is already sanitised (empty for plain-text seeds).
    """

    source: str  # the source's display name
    source_url: str  # feed URL, or seed path relative to the seeds folder
    guid: str
    title: str
    text: str
    url: str | None = None
    published: datetime | None = None
    html: str = ""
    weight: float = 1.0
    date_note: str = ""  # why a date the source gave was not believed (then `published` is None)

    @property
    def key(self) -> str:
        return f"{self.source_url}#{self.guid}"


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What happened to one source in one run; failures are values, not exceptions."""

    name: str
    url: str
    status: SourceStatus
    items: tuple[ItemData, ...] = ()
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    body_hash: str | None = None  # of the last body parsed: the same bytes are not parsed again
    retry_after: float | None = None
    gone: bool = False
    moved_to: str | None = None  # a permanent redirect: the feed's new address
    note: str | None = None  # something a person should know about an ok source (articles not read)


@dataclass(frozen=True, slots=True)
class Insight:
    """One candidate claim cut from an item."""

    text: str
    item: ItemData
    position: int  # index among the item's candidates, 0 = first
    kind: InsightKind = InsightKind.PARAGRAPH

    @property
    def key(self) -> tuple[str, int]:
        return (self.item.key, self.position)


@dataclass(frozen=True, slots=True)
class Cluster:
    """Candidates that say the same thing; `best` stands for all of them."""

    best: Insight
    members: tuple[Insight, ...]  # best included, in a stable order

    @property
    def source_names(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for m in (self.best, *self.members):
            seen.setdefault(m.item.source, None)
        return tuple(seen)

    @property
    def related(self) -> tuple[Insight, ...]:
        return tuple(m for m in self.members if m is not self.best)


@dataclass(frozen=True, slots=True)
class ScoredInsight:
    cluster: Cluster
    score: float
    features: Mapping[str, float]
    fingerprint: str  # stable id of the claim, used for novelty across issues


@dataclass(frozen=True, slots=True)
class Selection:
    picks: tuple[ScoredInsight, ...]
    runners_up: tuple[ScoredInsight, ...] = ()
    held_back: tuple[str, ...] = ()  # for each runner-up, why it is not a pick


@dataclass(frozen=True, slots=True)
class SourceRef:
    name: str
    url: str | None


@dataclass(frozen=True, slots=True)
class RelatedRef:
    text: str
    source: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Pick:
    """One insight as published in an issue (the JSON contract in DESIGN.md)."""

    rank: int
    text: str
    title: str
    source: str
    url: str | None
    published: datetime | None
    score: float
    why: Mapping[str, float]
    sources: tuple[SourceRef, ...]
    related: tuple[RelatedRef, ...] = ()
    fingerprint: str = ""
    note: str = ""  # for a runner-up: why it was held back


@dataclass(frozen=True, slots=True)
class FailedSource:
    name: str
    url: str
    reason: str


@dataclass(frozen=True, slots=True)
class IssueStats:
    sources_ok: int
    sources_failed: int
    items: int
    candidates: int
    clusters: int
    sources_not_modified: int = 0
    failures: tuple[FailedSource, ...] = ()


@dataclass(frozen=True, slots=True)
class Issue:
    date: date
    number: int
    title: str
    generated_at: datetime
    insights: tuple[Pick, ...]
    stats: IssueStats
    runners_up: tuple[Pick, ...] = ()  # the next few by score, for `digest explain`


@dataclass(frozen=True, slots=True)
class RenderedIssue:
    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class Brand:
    """What templates may know about the digest itself (never the whole Settings)."""

    title: str
    archive_url: str | None = None  # public base URL of the archive, if any


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One source as the about page shows it."""

    name: str
    status: str
    items: int
    error: str | None = None
    last_success: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    recipient: str
    status: str  # "sent" | "written" | "skipped" | "failed" | "rejected" | "unknown"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One ledger row as `digest send` shows it."""

    recipient: str
    status: str  # pending | sending | sent | written | failed | rejected | unknown
    detail: str
    updated_at: str
    message_id: str


@dataclass(frozen=True, slots=True)
class RunReport:
    """Everything a caller needs to print a run summary."""

    issue: Issue | None
    sources: tuple[SourceResult, ...]
    issue_page: str | None = None
    deliveries: tuple[DeliveryResult, ...] = ()
    reused: bool = False  # the date already had an issue; it was re-made
