"""Writing the image: positioned writes, early writeback, durable checkpoints.

Writeback of what was just written is started every few MiB (sync_file_range), so the
fdatasync that must precede each map save finds little left to flush: durability without
stalling the read pipeline.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Callable

from workbench.atomic import DiskFull

_KICK_BYTES = 32 << 20
_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's sync_file_range(fd, offset, nbytes, flags), or None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    return fn


_kick = _sync_file_range()


class ImageWriter:
    def __init__(self, fd: int, path: str) -> None:
        self.fd, self.path = fd, path
        self._lo, self._hi = -1, -1

    def write(self, pos: int, view: memoryview) -> None:
        start, end = pos, pos + len(view)
        try:
            while view:
                n = os.pwrite(self.fd, view, pos)
                view, pos = view[n:], pos + n
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull("error.disk_full", path=self.path) from exc
            raise
        self._note(start, end)

    def _note(self, start: int, end: int) -> None:
        self._lo = start if self._lo < 0 else min(self._lo, start)
        self._hi = max(self._hi, end)
        if _kick is not None and self._hi - self._lo >= _KICK_BYTES:
            _kick(self.fd, self._lo, self._hi - self._lo, _SYNC_FILE_RANGE_WRITE)
            self._lo = self._hi = -1

    def sync(self) -> None:
        os.fdatasync(self.fd)
        self._lo = self._hi = -1
