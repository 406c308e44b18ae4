"""Identify everything inside an image: volumes, files, digests, formats, damage.

    report = identify_image(path, settings, map_path=..., progress=cb, cancel=event)

Nothing is mounted or extracted: readers walk the file systems read-only, each file's
bytes are streamed from the image once (digests and fido's buffers from the same read),
and fido runs in worker processes. A volume that is corrupt or takes too long gets
errors in the report; the rest of the image is still listed.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from workbench import __version__
from workbench.config import Settings
from workbench.errors import BadInput
from workbench.identify import archives
from workbench.identify.emulation import EnvironmentObserver
from workbench.identify.formats import BUFSIZE, Identification
from workbench.identify.model import ZERO, FileEntry, Image, Reader, Volume
from workbench.identify.pool import IdentifyPool, Job
from workbench.identify.report import (
    INVISIBLE_WARNING,
    FileRecord,
    FormatReport,
    VolumeRecord,
    has_invisible,
)
from workbench.identify.signatures import fido_version, store_dir
from workbench.identify.volumes import find_volumes
from workbench.imaging.mapfile import RescueMap
from workbench.imaging.record import utc_now
from workbench.imaging.rescue import Cancelled
from workbench.scan.virus import VirusScan

CHUNK = 1 << 20
BATCH = 32
INLINE_CONTAINER = 1 << 20  # smaller files travel to the workers as bytes
FAT_IMAGE = "fmt/1087"


@dataclass(frozen=True)
class IdentifyProgress:
    volume: int
    volumes: int
    files: int
    bytes: int
    path: str


ReaderClass = Callable[[Image, Volume, str, float | None], Reader]


def _reader_for(fs_type: str) -> ReaderClass | None:
    if fs_type.startswith("fat"):
        from workbench.identify.fat import FatReader
        return FatReader
    if fs_type.startswith("iso9660"):
        from workbench.identify.iso import IsoReader
        return IsoReader
    if fs_type in ("ntfs", "exfat", "ext", "hfsplus"):
        from workbench.identify.tsk import TskReader
        return TskReader
    if fs_type == "hfs":
        from workbench.identify.hfs import HfsReader
        return HfsReader
    if fs_type == "udf":
        from workbench.identify.udf import UdfReader
        return UdfReader
    return None


def _overlap(extents: list[tuple[int, int]], bad: list[tuple[int, int]]) -> int:
    lost = 0
    for start, n in extents:
        if start == ZERO:
            continue  # zeros by definition: nothing on the medium to lose
        for b_start, b_n in bad:
            lo, hi = max(start, b_start), min(start + n, b_start + b_n)
            if lo < hi:
                lost += hi - lo
    return lost


class _Identification:
    def __init__(self, image: Image, settings: Settings, digests: tuple[str, ...],
                 bad: list[tuple[int, int]], pool: IdentifyPool,
                 progress: Callable[[IdentifyProgress], None] | None,
                 cancel: threading.Event, seconds: float,
                 scanner: VirusScan | None = None) -> None:
        self.image, self.settings, self.digests, self.bad = image, settings, digests, bad
        self.scanner = scanner if scanner is not None and scanner.active else None
        if self.scanner is not None:
            self.scanner.cancel = cancel
        self.pool, self.progress, self.cancel = pool, progress, cancel
        self.seconds = seconds  # the whole image's time limit
        self.deadline = time.monotonic() + seconds
        self.records: list[FileRecord] = []
        self.batch: list[tuple[FileRecord, Job]] = []
        self.pending: list[tuple[list[FileRecord], Future[list[Identification]]]] = []
        self.bytes = 0
        self.short = 0  # files read short
        self._last_tick = 0.0
        self.environment = EnvironmentObserver()

    def volume(self, v: Volume, count: int) -> VolumeRecord:
        rec = VolumeRecord(v.index, v.offset, v.size, v.scheme, v.partition_type, v.fs_type,
                           v.label, errors=list(v.errors), partition_label=v.partition_label,
                           blkid_type=v.blkid_type, sessions=list(v.sessions))
        if not v.fs_type:
            rec.errors.append("no file system recognised")
            return rec
        reader_class = _reader_for(v.fs_type)
        if reader_class is None:
            rec.errors.append(f"no reader for {v.fs_type}")
            return rec
        if time.monotonic() > self.deadline:
            rec.complete = False
            rec.errors.append(f"not listed: the time limit ({self.seconds:.0f} s) was reached")
            return rec
        reader, short = None, self.short
        try:
            reader = reader_class(self.image, v, self.settings.legacy_codepage, self.deadline)
            rec.fs_type, rec.label = reader.kind, v.report_label(reader.label)
            for entry in reader.walk():
                if self.cancel.is_set():
                    raise Cancelled
                if time.monotonic() > self.deadline:  # per file, not only per directory
                    raise TimeoutError
                if entry.is_dir:
                    rec.directories += 1  # a reader puts a directory's damage in its errors
                    continue
                rec.files += 1
                self.file(entry, reader)
                self._tick(v.index, count, entry.path)
        except TimeoutError:
            rec.complete = False
            rec.errors.append(f"listing stopped after {self.seconds:.0f} s (time limit)")
        except Cancelled:
            raise
        except Exception as exc:  # a corrupt volume must not stop the rest of the image
            rec.complete = False
            rec.errors.append(f"{v.fs_type} reader failed: {type(exc).__name__}: {exc}")
        finally:
            if reader is not None:
                rec.errors.extend(reader.errors)
                if hasattr(reader, "close"):
                    reader.close()
        if self.short > short:  # e.g. an image cut short: the file system is larger
            rec.errors.append(f"{self.short - short} files could not be read in full (is the "
                              "image cut short?): they have no digest and are damaged")
        return rec

    def _chunks(self, entry: FileEntry, reader: Reader) -> Iterator[bytes]:
        if entry.extents is not None:
            for start, n in entry.extents:
                if start == ZERO:
                    for done in range(0, n, CHUNK):
                        yield bytes(min(CHUNK, n - done))
                    continue
                for pos in range(start, start + n, CHUNK):
                    data = self.image.read(pos, min(CHUNK, start + n - pos))
                    if not data:
                        entry.errors.append("file data lies beyond the end of the image")
                        return
                    yield data
        elif hasattr(reader, "read"):
            yield from reader.read(entry)

    def file(self, entry: FileEntry, reader: Reader) -> None:
        rec = FileRecord(len(self.records) + 1, entry.volume, entry.path, entry.size,
                         entry.modified, entry.created, entry.accessed, entry.allocated,
                         name_raw_hex=entry.name_raw, warnings=list(entry.warnings),
                         errors=list(entry.errors))
        if has_invisible(entry.path):  # bidi, zero-width, separators: flagged
            rec.warnings.append(INVISIBLE_WARNING)
        if entry.link is not None:  # a symbolic link: listed with its target, nothing to read
            rec.link, rec.basis = entry.link, "symlink"
            self.records.append(rec)
            return
        hashes = {name: hashlib.new(name) for name in self.digests}
        head, tail, kept, got = b"", b"", [], 0
        scan = self.scanner.open(rec) if self.scanner is not None else None
        try:
            for chunk in self._chunks(entry, reader):
                if time.monotonic() > self.deadline:  # one huge file is bounded too
                    raise TimeoutError
                for h in hashes.values():
                    h.update(chunk)
                if scan is not None:  # the same bytes, for the virus scan
                    scan.write(chunk)
                if len(head) < BUFSIZE:
                    head += chunk[:BUFSIZE - len(head)]
                tail = (tail + chunk)[-BUFSIZE:]
                if entry.size <= INLINE_CONTAINER:
                    kept.append(chunk)
                got += len(chunk)
        except BaseException as exc:
            if scan is not None:
                scan.abandon("its bytes could not be read")
            if isinstance(exc, TimeoutError) or not isinstance(exc, Exception):
                raise
            rec.errors.append(f"reading failed: {type(exc).__name__}: {exc}")
            scan = None
        if scan is not None:  # what could be read is scanned (damage is in the report)
            scan.done()
        rec.errors += [e for e in entry.errors if e not in rec.errors]
        self.bytes += got
        source = entry.extents if entry.extents is not None else entry.stored
        if source is None:
            rec.damaged = None if self.bad else False
        else:  # for stored ranges: the medium's bytes lost under the file
            rec.bytes_lost = _overlap(source, self.bad)
            rec.damaged = rec.bytes_lost > 0
        if got == entry.size:
            rec.sha256 = hashes["sha256"].hexdigest()
            rec.md5 = hashes["md5"].hexdigest() if "md5" in hashes else ""
        else:  # a digest of part of a file would pass for the file's: none, and damaged
            rec.errors.append(f"read {got} of {entry.size} bytes")
            rec.damaged, rec.bytes_lost = True, max(rec.bytes_lost, entry.size - got)
            self.short += 1
        name = entry.path.rsplit("/", 1)[-1]
        if entry.size <= INLINE_CONTAINER or entry.extents is None:
            job = Job(name, got, head, tail, data=b"".join(kept) if kept else None)
        else:
            job = Job(name, got, head, tail, image=self.image.path,
                      extents=tuple(entry.extents))
        self.records.append(rec)
        self.environment.file(rec, head)
        self.batch.append((rec, job))
        kind = archives.kind_of(head)
        if kind is not None and not rec.errors:  # list and identify the members too
            self._members(rec, entry, reader, kind, job.data)
        if len(self.batch) >= BATCH:
            self.flush()

    def _members(self, rec: FileRecord, entry: FileEntry, reader: Reader, kind: str,
                 data: bytes | None) -> None:
        read = (lambda: reader.read(entry)) if hasattr(reader, "read") else None
        with archives.source(self.image, entry, data, read) as stream:
            if stream is None:
                return
            for member, job in archives.member_records(
                    rec, stream, kind, self.settings.legacy_codepage, self.digests,
                    lambda: len(self.records) + 1, archives.Limits(deadline=self.deadline)):
                if self.cancel.is_set():
                    raise Cancelled
                self.records.append(member)
                if job is not None:
                    self.batch.append((member, job))
                    if len(self.batch) >= BATCH:  # decoded bytes leave for the workers
                        self.flush()

    def flush(self) -> None:
        if self.batch:
            recs, jobs = zip(*self.batch, strict=True)
            self.pending.append((list(recs), self.pool.submit(list(jobs))))
            self.batch = []

    def collect(self) -> None:
        self.flush()
        for recs, future in self.pending:
            if self.cancel.is_set():
                raise Cancelled
            for rec, ident in zip(recs, future.result(), strict=True):
                # each answer arrives from a worker as new strings: share one copy of each
                rec.puid, rec.format_name, rec.format_version = (
                    sys.intern(ident.puid), sys.intern(ident.name), sys.intern(ident.version))
                rec.mime, rec.basis = sys.intern(ident.mime), sys.intern(ident.basis)
                rec.other_puids = [m.puid for m in ident.matches[1:]]
                rec.warnings += [w for w in ident.warnings if w not in rec.warnings]

    def _tick(self, volume: int, count: int, path: str) -> None:
        now = time.monotonic()
        if self.progress is not None and now - self._last_tick >= 0.1:
            self._last_tick = now
            self.progress(IdentifyProgress(volume, count, len(self.records), self.bytes, path))


# a pool that identification in this thread reuses (shared_pool), else one per image
_SHARED: contextvars.ContextVar[IdentifyPool | None] = contextvars.ContextVar(
    "identify_pool", default=None)


@contextlib.contextmanager
def shared_pool(pool: IdentifyPool) -> Iterator[IdentifyPool]:
    """Identification in this thread (its context) uses pool: a station's background
    worker keeps its worker processes, signatures loaded, from one carrier to the next
    instead of starting and stopping them for each (seconds per carrier)."""
    token = _SHARED.set(pool)
    try:
        yield pool
    finally:
        _SHARED.reset(token)


def identify_image(image_path: str | Path, settings: Settings, map_path: Path | None = None,
                   digests: tuple[str, ...] = ("sha256",), workers: int | None = None,
                   progress: Callable[[IdentifyProgress], None] | None = None,
                   cancel: threading.Event | None = None,
                   seconds: float | None = None,
                   pool: IdentifyPool | None = None,
                   sessions: list[int] | None = None,
                   scanner: VirusScan | None = None) -> FormatReport:
    """seconds: the time limit for the whole image (default: the station's
    [identify] time_limit_minutes); a listing cut short makes the report incomplete.
    pool: an IdentifyPool to reuse (batches, the TUI); else one is made for this call.
    sessions: a disc's data session start LBAs from its TOC (the image addressed by LBA
    from 0); without them a disc image's later sessions are scanned for.
    scanner: the virus scan (workbench.scan.virus), fed every file's bytes as they are
    read and the boot sectors; its result goes into the report's virus_scan."""
    path = Path(image_path)
    if not path.is_file():
        raise BadInput("error.no_image", path=str(path))
    bad = RescueMap.load(map_path).unfinished() if map_path else []
    digests = tuple(dict.fromkeys(("sha256", *digests)))
    cancel = cancel or threading.Event()
    pool = pool or _SHARED.get()
    own_pool = pool is None
    pool = pool or IdentifyPool(workers, str(store_dir(settings.paths.ledger)))
    try:
        return _identify(path, settings, map_path, bad, digests, pool, progress, cancel,
                         settings.identify_seconds if seconds is None else seconds, sessions,
                         scanner)
    finally:
        if scanner is not None:
            scanner.discard()  # memory files of a listing that stopped part-way
        if own_pool:
            pool.close()


def _identify(path: Path, settings: Settings, map_path: Path | None,
              bad: list[tuple[int, int]], digests: tuple[str, ...], pool: IdentifyPool,
              progress: Callable[[IdentifyProgress], None] | None, cancel: threading.Event,
              seconds: float, sessions: list[int] | None = None,
              scanner: VirusScan | None = None) -> FormatReport:
    with Image(path) as image:
        report = FormatReport(image=str(path), image_size=image.size,
                              workbench_version=__version__, map=str(map_path) if map_path
                              else None, started=utc_now(), signatures=pool.signatures.label,
                              fido_version=fido_version())
        head = image.read(0, BUFSIZE)
        tail = image.read(max(0, image.size - BUFSIZE), BUFSIZE)
        whole = pool.submit([Job("", image.size, head, tail)])
        volumes, errors = find_volumes(image, sessions, settings.legacy_codepage)
        report.errors += errors
        work = _Identification(image, settings, digests, bad, pool, progress, cancel, seconds,
                               scanner)
        for v in volumes:
            report.volumes.append(work.volume(v, len(volumes)))
        work.collect()
        report.files = work.records
        report.complete = all(v.complete for v in report.volumes)
        if scanner is not None:
            scanner.boot_sectors(image, volumes)
            scanner.finish(report)
        try:  # emulation readiness: never a reason to lose the listing
            report.environment = work.environment.environment(image, report.volumes)
        except Exception as exc:
            report.environment = {"error": f"{type(exc).__name__}: {exc}"}
        ident = whole.result()[0]
        fs = ", ".join(v.fs_type for v in report.volumes if v.fs_type)
        # fido's FAT disk image signature also matches NTFS: trust the reader there
        false_fat = ident.puid == FAT_IMAGE and not fs.startswith("fat")
        if ident.basis == "signature" and not false_fat:
            report.image_format = {"puid": ident.puid, "name": ident.name, "basis": "signature",
                                   "file_system": fs}
        else:
            report.image_format = {"puid": "", "name": "", "basis": "file system",
                                   "file_system": fs or "none recognised"}
            if false_fat:
                report.image_format["note"] = (f"fido matched {FAT_IMAGE} (FAT Disk Image), a "
                                               "known false positive on non-FAT volumes")
        report.ended = utc_now()
    return report
