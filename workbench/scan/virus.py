"""The virus check of one image: every file identification streams from the image, and
the boot sectors, scanned with ClamAV; the verdicts go into the format report.

    scan = VirusScan.for_settings(settings)      # "not scanned" (and why) without ClamAV
    identify_image(..., scanner=scan)            # feeds it each file's bytes as it reads
    scan.result                                  # the report's virus_scan entry

Nothing is altered: an infected file is flagged in the report (its VIRUS column), the
image and the bag keep it as it is, and the carrier migrates as any other. A file that
could not be scanned is listed as such; the report never says "clean" for it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.imaging.record import utc_now
from workbench.imaging.rescue import Cancelled
from workbench.scan.clamav import ClamScan, Verdict, find_clamscan, open_file_limit

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.identify.model import Image, Volume
    from workbench.identify.report import FileRecord, FormatReport

SCANNER = "ClamAV clamscan"
BATCH_BYTES = 256 << 20  # memory held for one clamscan run (its files' bytes)
BATCH_FILES = 8192  # descriptors held for one run (the open-file limit is raised for it)
MAX_IN_MEMORY = 1 << 30  # a larger file is not held in memory: listed as not scanned
BOOT_SECTOR = 512
NOT_SCANNED = "not scanned"


@dataclass
class _Item:
    """One file's (or boot sector's) bytes in a memory file, on its way to clamscan."""

    scan: VirusScan
    fd: int
    path: str
    volume: int | None
    record: FileRecord | None  # None: a boot sector
    size: int = 0

    def write(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        while view:
            done = os.write(self.fd, view)
            view = view[done:]
        self.size += len(chunk)

    def done(self) -> None:
        """All its bytes are in: it joins the batch (scanned when the batch is full)."""
        self.scan.add(self)

    def abandon(self, why: str) -> None:
        os.close(self.fd)
        self.scan.skip(self.path, self.volume, why, self.record)


@dataclass
class VirusScan:
    engine: ClamScan | None
    why_not: str = ""  # why nothing is scanned (no clamscan, no database, turned off)
    batch_bytes: int = BATCH_BYTES
    batch_files: int = BATCH_FILES
    result: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event | None = None  # identification's: stops a clamscan run
    _batch: list[_Item] = field(default_factory=list)
    _batch_size: int = 0
    _infected: list[dict[str, Any]] = field(default_factory=list)
    _skipped: list[dict[str, Any]] = field(default_factory=list)
    _scanned: int = 0
    _boot: int = 0
    _bytes: int = 0
    _runs: int = 0
    _seconds: float = 0.0
    _started: str = ""
    _pending: threading.Thread | None = None  # the clamscan run under way
    _failure: BaseException | None = None  # what stopped it (Cancelled)

    @classmethod
    def for_settings(cls, settings: Settings) -> VirusScan:
        if not settings.virus_scan:
            return cls(None, "virus scanning is turned off in the station settings "
                             "([virus_scan] enabled = false)")
        engine, why = find_clamscan(settings.virus_command, settings.virus_database)
        return cls(engine, why)

    @property
    def active(self) -> bool:
        return self.engine is not None

    # -- fed by identification --------------------------------------------------------
    def open(self, record: FileRecord) -> _Item | None:
        """A memory file for one file's bytes, or None (not scanning, nothing to scan)."""
        if self.engine is None or record.size == 0:
            return None
        self._started = self._started or utc_now()
        if record.size > MAX_IN_MEMORY:
            self.skip(record.path, record.volume, f"larger than {MAX_IN_MEMORY >> 20} MiB",
                       record)
            return None
        fd = os.memfd_create("workbench-scan", os.MFD_CLOEXEC)
        return _Item(self, fd, record.path, record.volume, record)

    def add(self, item: _Item) -> None:
        self._batch.append(item)
        self._batch_size += item.size
        if self._batch_size >= self.batch_bytes or len(self._batch) >= self.batch_files:
            self._run()

    def boot_sectors(self, image: Image, volumes: list[Volume]) -> None:
        """The image's first sector (a floppy's boot sector, a disk's MBR) and each
        volume's first sector where it starts further in (a partition's boot record)."""
        if self.engine is None:
            return
        self._started = self._started or utc_now()
        starts: list[tuple[int, int | None, str]] = [(0, None, "[boot sector]")]
        starts += [(v.offset, v.index, f"[volume {v.index} boot sector]")
                   for v in volumes if v.offset > 0]
        for offset, volume, name in starts:
            data = image.read(offset, BOOT_SECTOR)
            if len(data) < BOOT_SECTOR:
                self.skip(name, volume, "the image ends before it", None)
                continue
            item = _Item(self, os.memfd_create("workbench-boot", os.MFD_CLOEXEC), name,
                         volume, None)
            item.write(data)
            item.done()

    # -- verdicts ---------------------------------------------------------------------
    def skip(self, path: str, volume: int | None, why: str,
              record: FileRecord | None) -> None:
        self._skipped.append({"path": path, "volume": volume, "reason": why})
        if record is not None:
            record.virus = NOT_SCANNED

    def _run(self) -> None:
        """Hand the full batch to clamscan in the background: identification reads on
        while it scans (two processors busy, not one after the other). One clamscan run
        at a time: the previous one is waited for first, so at most two batches' bytes
        are held in memory."""
        batch, self._batch, self._batch_size = self._batch, [], 0
        if not batch or self.engine is None:
            return
        self._wait()
        open_file_limit(2 * len(batch) + 256)
        self._pending = threading.Thread(target=self._scan, args=(batch,), daemon=True,
                                         name="clamscan")
        self._pending.start()

    def _wait(self) -> None:
        """The clamscan run under way, to its end (clamscan's own timeout bounds it);
        what stopped it (Cancelled) is raised here, in identification's thread."""
        if self._pending is not None:
            self._pending.join()
            self._pending = None
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _scan(self, batch: list[_Item]) -> None:
        assert self.engine is not None
        started = time.monotonic()
        try:
            verdicts = self.engine.scan([i.fd for i in batch], self.cancel)
        except Cancelled as exc:
            self._failure = exc
            return
        except Exception as exc:  # no memory, too many descriptors, a timeout: listed
            verdicts = {i.fd: Verdict("error", f"{type(exc).__name__}: {exc}") for i in batch}
        finally:
            for item in batch:
                os.close(item.fd)
        self._seconds += time.monotonic() - started
        self._runs += 1
        for item in batch:
            self._judge(item, verdicts.get(item.fd, Verdict("unknown")))

    def _judge(self, item: _Item, verdict: Verdict) -> None:
        if verdict.status in ("ok", "found"):
            self._scanned += item.record is not None
            self._boot += item.record is None
            self._bytes += item.size
        if verdict.status == "found":
            self._infected.append({"id": item.record.id if item.record else None,
                                   "path": item.path, "volume": item.volume,
                                   "signature": verdict.signature})
            if item.record is not None:
                item.record.virus = verdict.signature
        elif verdict.status == "limit":
            self.skip(item.path, item.volume, f"scanned only in part ({verdict.signature})",
                       item.record)
        elif verdict.status != "ok":
            self.skip(item.path, item.volume, verdict.signature or
                       "clamscan gave no verdict for it", item.record)

    def finish(self, report: FormatReport) -> dict[str, Any]:
        """Scan what is left, and put the result into the report (virus_scan, and each
        file's virus column)."""
        self._run()
        self._wait()
        if self.engine is None:
            self.result = {"scanner": SCANNER, "status": "not_scanned",
                           "reason": self.why_not or "no scanner", "infected": [],
                           "not_scanned": []}
            for rec in report.files:
                if rec.link is None:  # archive members too: nothing was scanned
                    rec.virus = NOT_SCANNED
        else:
            complete = not self._skipped and report.complete
            nothing = not (self._scanned or self._boot) and bool(self._skipped)
            self.result = {
                "scanner": SCANNER, "engine_version": self.engine.engine_version,
                "signatures": self.engine.signatures, "database": str(self.engine.database),
                "status": "scanned" if complete else
                "not_scanned" if nothing else "partly_scanned",
                "files_scanned": self._scanned, "boot_sectors_scanned": self._boot,
                "bytes_scanned": self._bytes, "infected": self._infected,
                "not_scanned": self._skipped, "listing_complete": report.complete,
                "clamscan_runs": self._runs, "seconds": round(self._seconds, 3),
                "started": self._started or utc_now(), "ended": utc_now(),
                "note": "archive members are scanned inside their archive by ClamAV",
            }
            if nothing:
                self.result["reason"] = self._skipped[0]["reason"]
            by_id = {rec.id: rec for rec in report.files}
            for rec in report.files:  # an archive's members were scanned inside it
                outer = by_id.get(rec.container) if rec.container is not None else None
                if outer is not None and outer.virus == NOT_SCANNED:
                    rec.virus = NOT_SCANNED
        report.virus_scan = self.result
        return self.result

    def discard(self) -> None:
        """Identification stopped (cancelled, failed): close the memory files."""
        with contextlib.suppress(Cancelled):
            self._wait()  # the run under way closes its own
        for item in self._batch:
            os.close(item.fd)
        self._batch, self._batch_size = [], 0


def not_scanned(why: str) -> dict[str, Any]:
    """The entry for an image with nothing to scan (a disc of audio tracks only)."""
    return {"scanner": SCANNER, "status": "not_scanned", "reason": why, "infected": [],
            "not_scanned": []}
