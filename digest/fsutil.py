"""Atomic file writes shared by the archive and the outbox: a crash never leaves half a file.

A reader of `path` sees the old file or the whole new one, never a part: the data goes
to a temporary file beside it (`.NAME.XXXX.tmp`), is fsynced, and renamed over `path`.
With `durable=True` the folder is fsynced too, so that the rename itself survives a power
cut (the outbox: the ledger says 'written' only once the file is there for good); archive
pages skip that second fsync, which doubles the cost of a rebuild, as a power cut can at
worst bring back a page's previous version, whole, and the next run rewrites it. A process
killed mid-write leaves at most a temporary file, which `remove_stale_temp_files` clears.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

PUBLIC_MODE = 0o644  # archive pages are served by a web server that may run as another user
PRIVATE_MODE = 0o600  # outbox mail is one reader's copy
STALE_TEMP_SECONDS = 3600  # a temporary file lives for milliseconds; one this old was left by a killed process


def write_atomic(path: Path, data: str | bytes, *, mode: int = PUBLIC_MODE, durable: bool = False) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    `mode` is set explicitly because mkstemp creates files readable by the owner only.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(tmp, mode)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the rename has happened all the same
    finally:
        os.close(fd)


def is_temp_file(path: Path) -> bool:
    """A name `write_atomic` writes to before renaming (`.NAME.XXXX.tmp`)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def remove_stale_temp_files(folder: Path, now: float | None = None, older_than: float = STALE_TEMP_SECONDS) -> int:
    """Delete temporary files a killed writer left in `folder` (not those a live writer may still use).

    Returns how many were removed.
    """
    now = time.time() if now is None else now
    removed = 0
    try:
        candidates = [p for p in folder.iterdir() if is_temp_file(p)]
    except OSError:
        return 0
    for p in candidates:
        try:
            if now - p.stat().st_mtime > older_than:
                p.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # a live writer renamed it, or another cleaner got there first
    return removed
