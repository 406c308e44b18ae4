"""Durable writes: temp file, fsync, rename, fsync of the folder; and exclusive file
locks taken within a deadline."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from workbench.errors import Aborted


class DiskFull(Aborted):
    """Exit 5: the work is kept and resumes once space is freed."""


def flock_within(fd: int, wait: float, poll: float = 0.05) -> bool:
    """Take an exclusive flock on fd, waiting at most `wait` seconds (polled, so the
    wait has a deadline); False when another holds it still."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path | str, data: bytes | str) -> None:
    """Replace path with data so that a crash leaves either the old or the new file."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull("error.disk_full", path=str(path)) from exc
        if exc.errno is None:
            raise
        # the file the caller named, not our temporary one (OSError(errno, ...) is the
        # matching subclass: FileNotFoundError, PermissionError, ...)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    fsync_dir(path.parent)
