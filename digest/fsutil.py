"""Atomic file writes shared by the archive and the outbox: a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PUBLIC_MODE = 0o644  # archive pages are served by a web server that may run as another user
PRIVATE_MODE = 0o600  # outbox mail is one reader's copy


def write_atomic(path: Path, data: str | bytes, *, mode: int = PUBLIC_MODE) -> None:
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
