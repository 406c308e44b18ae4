"""What keeps an ingest's source safe and its files checked, reused from imaging and
identification: BLKROSET on a block-device source while it is read (imaging/readonly.py),
and the ClamAV virus check of every copied file and of an image's boot sector
(scan/virus.py), "not scanned" with the reason when ClamAV cannot run."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.config import Settings
from workbench.imaging import readonly_left
from workbench.ingest.copy import FILES, IngestReport
from workbench.ingest.sources import BLOCK, FolderSource, ImageSource


def is_block(mode: int) -> bool:
    return stat.S_ISBLK(mode)


class _Device:
    """An image source on a block device, as imaging/readonly_left.guarded sees one."""

    is_block = True

    def __init__(self, src: ImageSource) -> None:
        self.src = src
        self.path = str(src.path.resolve())
        self.rdev = os.fstat(src.image.fd).st_rdev

    def fileno(self) -> int:
        return self.src.image.fd


@contextlib.contextmanager
def protected(src: FolderSource | ImageSource, settings: Settings, job: Path, item_id: str,
              record: dict[str, Any]) -> Iterator[None]:
    """BLKROSET on a block device read as an image, as imaging does it
    (imaging/readonly_left.guarded): noted as held in logs/readonly-held.json before it is
    set, so a killed ingest's flag is taken back by the next run or by
    `workbench setup --clear-read-only`. record: the run's protection entry, filled in
    (for anything else it says why nothing was set, never an empty entry)."""
    if isinstance(src, ImageSource) and is_block(os.fstat(src.image.fd).st_mode):
        prot = None
        try:
            with readonly_left.guarded(_Device(src), settings, job, item_id) as prot:
                if prot is not None:
                    record.update(prot.to_dict())
                yield
        finally:  # released as the guard is left: what was done after, too
            if prot is not None:
                record.update(prot.to_dict())
        return
    why = ("an image file: no block device to set read-only (opened read-only)"
           if isinstance(src, ImageSource) else
           "a folder: read through its mounted file system, opened read-only; "
           "no block device is set read-only")
    record.update({"policy": settings.block_read_only, "block_device": False,
                   "set_by_workbench": False, "not_set": why})
    yield


def scan(job: Path, report: IngestReport, settings: Settings,
         src: FolderSource | ImageSource, cancel: threading.Event) -> dict[str, Any]:
    """The virus check of the copied files (the bytes just read and hashed) and, for an
    image or device, its boot sector: the report's virus_scan entry."""
    from workbench.identify.report import FileRecord, FormatReport
    from workbench.scan.virus import VirusScan
    scanner = VirusScan.for_settings(settings)
    scanner.cancel = cancel
    # named by their payload names (under data/ in the bag), not the source's names: the
    # records point at files the bag holds
    records = [FileRecord(i, 0, f.name, f.size) for i, f in enumerate(report.files)]
    out = FormatReport(image=str(report.source.get("path", "")), image_size=report.bytes,
                       workbench_version=__version__, files=records)
    try:
        if scanner.active and isinstance(src, ImageSource):
            scanner.boot_sectors(src.image, [])
        for f, rec in zip(report.files, records, strict=True):
            item = scanner.open(rec)
            if item is None:
                continue
            with open(job / FILES / f.name, "rb") as fh:
                while block := fh.read(BLOCK):
                    item.write(block)
            item.done()
        return scanner.finish(out)
    except BaseException:
        scanner.discard()
        raise
