"""Advisory file locks beside the database, so two processes never write one state at once.

flock is released by the kernel when a process dies, so a crash never leaves a stale lock.

The holder's pid is written into the lock file after the lock is taken, so taking the
lock and writing the pid are two steps; a second process that is refused in between
would read an empty file, or the pid of an earlier holder that was killed. Both steps,
and a refused process's read of the pid, therefore happen while holding a second,
short-lived flock on `<lock>.guard`: a refused process waits (for a few system calls
at most) until the holder has written its pid, and so always names the process that
holds the lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StorageError


def _open(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StorageError(f"cannot create lock file {path}: {e.strerror or e}") from e


@contextmanager
def hold_lock(database: Path, purpose: str) -> Iterator[None]:
    """Hold `<database>.<purpose>.lock` or fail at once naming the holder's pid."""
    path = database.with_name(f"{database.name}.{purpose}.lock")
    fd = _open(path)
    try:
        guard = _open(path.with_name(f"{path.name}.guard"))
        try:
            fcntl.flock(guard, fcntl.LOCK_EX)  # held only while the lock is taken and the pid written or read
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise StorageError(
                    f"another digest {purpose} is running on {database} (pid {holder}); try again when it ends"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        finally:
            os.close(guard)  # releases the guard, not the lock
        yield
    finally:
        os.close(fd)
