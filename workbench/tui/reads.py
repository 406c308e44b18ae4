"""The board's ledger reads on a thread of their own, off the UI's loop.

When a carrier moves (imaged, bagged, on tape) the board reads today's counts and the
work list: 5-40 ms of queries and state building that, on the UI thread, delayed the
key presses of a technician while four drives imaged. Here they run on one thread with
its own Station (an SQLite connection belongs to the thread that opened it), and the
result is shown on the UI's loop. Reads asked for while one runs collapse into one
read after it: only the latest state is worth showing."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from workbench.config import Settings
from workbench.errors import WorkbenchError
from workbench.station import Station

T = TypeVar("T")


class BackgroundReads(Generic[T]):
    def __init__(self, settings: Callable[[], Settings], read: Callable[[Station], T],
                 show: Callable[[T], None], failed: Callable[[str], None]) -> None:
        self._settings, self._read, self._show, self._failed = settings, read, show, failed
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board-reads")
        self._loop = asyncio.get_running_loop()
        self._station: Station | None = None  # opened and used on the pool's thread only
        self._lock = threading.Lock()
        self._running = self._again = self._closed = False
        self.reads = 0  # reads done (tests)

    def request(self) -> None:
        """Read soon; the result is shown on the UI's loop."""
        with self._lock:
            if self._closed:
                return
            if self._running:
                self._again = True
                return
            self._running = True
        self._pool.submit(self._run).add_done_callback(self._finished)

    def close(self) -> None:
        """No more reads; the station is closed on its own thread after any read."""
        with self._lock:
            self._closed = True
        self._pool.submit(self._close)
        self._pool.shutdown(wait=False)

    # -- on the pool's thread ---------------------------------------------------------

    def _run(self) -> T:
        settings = self._settings()
        if self._station is None:
            self._station = Station(settings)
        self._station.settings = settings  # sign-in and set-up change them
        return self._read(self._station)

    def _close(self) -> None:
        if self._station is not None:
            self._station.close()

    def _finished(self, future: Future[T]) -> None:
        with self._lock:
            again, self._again = self._again, False
            self._running = again and not self._closed
            closed = self._closed
        if self._running:
            self._pool.submit(self._run).add_done_callback(self._finished)
        if closed:
            return
        self.reads += 1
        error = future.exception()
        with contextlib.suppress(RuntimeError):  # RuntimeError: the app's loop has ended
            if error is None:
                self._loop.call_soon_threadsafe(self._show, future.result())
            else:  # said on the board, never hidden: the lists shown are not current
                self._loop.call_soon_threadsafe(self._failed, error.message() if isinstance(
                    error, WorkbenchError) else f"{type(error).__name__}: {error}")
