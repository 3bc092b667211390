"""Seed documents in the seeds folder -> ItemData, the reader chosen by file extension.

Each reader turns its format into the block text ItemData carries (blocks split by
blank lines, "• " bullets, "# " headings) so extraction treats every format alike.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import SourceError
from ..models import ItemData, SourceResult, SourceStatus

log = logging.getLogger("digest.sources")

MAX_SEED_BYTES = 5 * 1024 * 1024  # a seed bigger than this is not a note or an article
_BULLET = re.compile(r"^\s*(?:[•·▪‣◦*+-]|\d{1,2}[.)])\s+")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def read_seeds(folder: Path) -> list[SourceResult]:
    """One SourceResult per seed file; an unreadable file fails alone."""
    if not folder.is_dir():
        return []
    results = []
    for path in sorted(folder.iterdir()):
        reader = READERS.get(path.suffix.lower())
        if reader is None or not path.is_file() or path.name.startswith("."):
            continue
        results.append(_read_one(path, folder, reader))
    return results


def _read_one(path: Path, folder: Path, reader: Callable[[str], tuple[str | None, str, str]]) -> SourceResult:
    rel = path.relative_to(folder).as_posix()
    name = path.stem
    try:
        data = path.read_bytes()
        if len(data) > MAX_SEED_BYTES:
            raise SourceError(rel, f"larger than {MAX_SEED_BYTES} bytes")
        raw = data.decode("utf-8", errors="replace")  # a stray byte must not cost the document
        title, text, html = reader(raw)
    except (OSError, SourceError) as e:
        reason = e.reason if isinstance(e, SourceError) else f"cannot read: {e.strerror or e}"
        log.warning("seed %s failed: %s", rel, reason)
        return SourceResult(name=name, url=rel, status=SourceStatus.FAILED, error=reason)
    guid = f"{rel}@{hashlib.sha1(data).hexdigest()[:16]}"  # an edited seed is a new item
    item = ItemData(
        source=name,
        source_url=rel,
        guid=guid,
        title=title or name,  # templates show no title line when it only repeats the source
        text=text,
        html=html,
    )
    return SourceResult(name=name, url=rel, status=SourceStatus.OK, items=(item,))


def read_text(raw: str) -> tuple[str | None, str, str]:
    """Plain text: one block per line, unless the file is hard-wrapped prose."""
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if _is_hard_wrapped(lines):
        return None, _join_wrapped(lines), ""
    return None, "\n\n".join(_block_line(line) for line in lines if line.strip()), ""


def read_markdown(raw: str) -> tuple[str | None, str, str]:
    title = None
    blocks: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(_strip_markdown(" ".join(para)))
            para.clear()

    for line in raw.replace("\r\n", "\n").split("\n"):
        heading = _HEADING.match(line)
        if not line.strip() or heading or _BULLET.match(line):
            flush()
        if heading:
            title = title or _strip_markdown(heading.group(2))
            blocks.append("# " + _strip_markdown(heading.group(2)))
        elif _BULLET.match(line):
            blocks.append("• " + _strip_markdown(_BULLET.sub("", line, count=1)))
        elif line.strip():
            if line.startswith((" ", "\t")) and blocks and blocks[-1].startswith("• ") and not para:
                blocks[-1] += " " + _strip_markdown(line.strip())  # continued list item
            else:
                para.append(line.strip())
    flush()
    return title, "\n\n".join(blocks), ""


def read_html(raw: str) -> tuple[str | None, str, str]:
    from ..htmltext import html_to_text, sanitize_html  # nh3 loads only when a seed is HTML

    m = _HTML_TITLE.search(raw)
    title = re.sub(r"\s+", " ", html_to_text(m.group(1))).strip() if m else None
    clean = sanitize_html(raw)
    return title or None, html_to_text(raw), clean


READERS: dict[str, Callable[[str], tuple[str | None, str, str]]] = {
    ".txt": read_text,
    ".text": read_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
}


def _block_line(line: str) -> str:
    if _BULLET.match(line):
        return "• " + _BULLET.sub("", line, count=1).strip()
    return line.strip()


def _is_hard_wrapped(lines: list[str]) -> bool:
    """Prose wrapped at a fixed width: most lines long-ish, short of it, and unpunctuated."""
    body = [line for line in lines if line.strip()]
    if len(body) < 4:
        return False
    wrapped = [line for line in body if 40 <= len(line) <= 100 and not line.rstrip().endswith((".", "!", "?", ":"))]
    return len(wrapped) / len(body) > 0.5 and max(len(line) for line in body) <= 100


def _join_wrapped(lines: list[str]) -> str:
    blocks: list[str] = []
    para: list[str] = []
    for line in [*lines, ""]:
        if (_BULLET.match(line) or not line.strip()) and para:
            blocks.append(" ".join(para))
            para = []
        if _BULLET.match(line):
            blocks.append(_block_line(line))
        elif line.strip():
            para.append(line.strip())
    return "\n\n".join(blocks)


def _strip_markdown(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    return _MD_EMPHASIS.sub(r"\2", text).strip()
