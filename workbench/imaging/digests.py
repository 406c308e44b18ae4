"""Digests of the final image, computed while reading.

One thread per algorithm: hashlib releases the GIL on large buffers, so MD5 and SHA-256
run side by side instead of one after the other. Buffers are handed over, never reused.
The stream is fed strictly in image order; position says how far it has got.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterable

_CATCH_UP_CHUNK = 4 << 20
_STOP = None


class _Worker(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=f"digest-{name}", daemon=True)
        self.hash = hashlib.new(name)
        self.inbox: queue.Queue[memoryview | bytes | None] = queue.Queue(maxsize=64)
        self.error: BaseException | None = None

    def run(self) -> None:
        update = self.hash.update
        while (buf := self.inbox.get()) is not _STOP:
            try:
                update(buf)
            except BaseException as exc:  # surfaced by DigestStream.finish
                self.error = exc


class DigestStream:
    """Hashes the bytes 0..size of an image, in order, with several algorithms at once."""

    def __init__(self, algorithms: Iterable[str]) -> None:
        self.algorithms = tuple(algorithms)
        self.position = 0
        self._workers = [_Worker(a) for a in self.algorithms]
        for w in self._workers:
            w.start()
        self._finished: dict[str, str] | None = None

    def update(self, buf: memoryview | bytes) -> None:
        if not buf:
            return
        for w in self._workers:
            w.inbox.put(buf)
        self.position += len(buf)

    def feed_at(self, pos: int, buf: memoryview | bytes) -> bool:
        """Take buf if it continues the stream exactly; say whether it was taken."""
        if pos != self.position:
            return False
        self.update(buf)
        return True

    def catch_up(self, image_fd: int, until: int) -> int:
        """Hash image bytes from the stream's position to until, reading the image file
        (never the medium). Returns the bytes read."""
        done = 0
        while self.position < until:
            chunk = os.pread(image_fd, min(_CATCH_UP_CHUNK, until - self.position),
                             self.position)
            if not chunk:
                raise OSError(f"image ends at {self.position:#x}, before {until:#x}")
            self.update(chunk)
            done += len(chunk)
        return done

    def finish(self) -> dict[str, str]:
        if self._finished is None:
            for w in self._workers:
                w.inbox.put(_STOP)
            for w in self._workers:
                w.join()
                if w.error:
                    raise w.error
            self._finished = {w.hash.name: w.hash.hexdigest() for w in self._workers}
        return self._finished

    def abandon(self) -> None:
        """Stop the threads without a result (cancelled or failed run)."""
        for w in self._workers:
            w.inbox.put(_STOP)
        for w in self._workers:
            w.join()
