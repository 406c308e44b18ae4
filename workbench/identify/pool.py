"""fido in worker processes: each worker loads the signatures once; files go in batches.

A job carries the file's first and last bytes and, for zip/OLE2 containers, where the
whole file is: extents in the image (the worker reads them itself: no temp files, no
large transfers) or the bytes when they are small.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from workbench.errors import BadInput
from workbench.identify.formats import FormatIdentifier, Identification
from workbench.identify.model import ExtentFile
from workbench.identify.signatures import SignatureSet
from workbench.spawning import become_worker, real_stderr, spawn_can_start

WORKERS_ENV = "WORKBENCH_IDENTIFY_WORKERS"
_identifier: FormatIdentifier | None = None
# identifiers of this process, one per signature set: loading one takes seconds; a lock
# each, as one identifier reads one file at a time
_loaded: dict[SignatureSet, tuple[FormatIdentifier, threading.Lock]] = {}
_loading = threading.Lock()


def default_workers() -> int:
    """Worker processes when none are asked for: $WORKBENCH_IDENTIFY_WORKERS (0: in this
    process; the test suite sets it, as starting workers costs seconds an image), else
    one per CPU."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value:
        return os.cpu_count() or 1
    if not value.isdigit():
        raise BadInput("error.bad_value", file="environment", key=WORKERS_ENV,
                       value=repr(value), allowed="0 or more")
    return int(value)


def _in_this_process(signatures: SignatureSet) -> tuple[FormatIdentifier, threading.Lock]:
    with _loading:
        if signatures not in _loaded:
            _loaded[signatures] = (FormatIdentifier(signatures), threading.Lock())
        return _loaded[signatures]


@dataclass(frozen=True)
class Job:
    name: str
    size: int
    bof: bytes
    eof: bytes
    image: str | None = None
    extents: tuple[tuple[int, int], ...] | None = None
    data: bytes | None = None


def identify_job(identifier: FormatIdentifier, job: Job) -> Identification:
    data, image, extents = job.data, job.image, job.extents
    opener: Callable[[], BinaryIO] | None = None
    if data is not None:
        def opener() -> BinaryIO:
            return io.BytesIO(data)
    elif image is not None and extents is not None:
        def opener() -> BinaryIO:
            return io.BufferedReader(ExtentFile(os.open(image, os.O_RDONLY), extents,
                                                owns_fd=True))
    return identifier.identify(job.name, job.size, job.bof, job.eof, opener)


def _init(parent: int | None = None, signatures: str | None = None) -> None:
    """Worker start: die with the parent, leave Ctrl-C to it, load the signatures once."""
    global _identifier
    become_worker(parent)
    _identifier = FormatIdentifier(signatures)


def _run(jobs: list[Job]) -> list[Identification]:
    assert _identifier is not None
    return [identify_job(_identifier, job) for job in jobs]


class IdentifyPool:
    """Identification in worker processes (or in this process when workers == 0)."""

    def __init__(self, workers: int | None = None, signatures: str | None = None) -> None:
        """signatures: the station's signature folder (its loaded set is used when it has
        one: workbench.identify.signatures); None: fido's own set."""
        from workbench.identify.signatures import active
        self.signatures = active(None if signatures is None else Path(signatures))
        self.workers = default_workers() if workers is None else workers
        if not spawn_can_start():
            self.workers = 0
        self._local: tuple[FormatIdentifier, threading.Lock] | None = None
        self._pool: ProcessPoolExecutor | None = None
        if self.workers > 0:
            with real_stderr():  # its queues start multiprocessing's resource tracker
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init, initargs=(os.getpid(), signatures))
        else:
            self._local = _in_this_process(self.signatures)

    def submit(self, jobs: list[Job]) -> Future[list[Identification]]:
        if self._pool is not None:
            with real_stderr():  # a worker may be spawned now
                return self._pool.submit(_run, jobs)
        future: Future[list[Identification]] = Future()
        assert self._local is not None
        identifier, lock = self._local
        with lock:
            future.set_result([identify_job(identifier, j) for j in jobs])
        return future

    def identify_all(self, jobs: Iterable[Job]) -> list[Identification]:
        return [r for f in [self.submit([j]) for j in jobs] for r in f.result()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> IdentifyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
