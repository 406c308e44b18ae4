"""What keeps an ingest's source safe and its files checked, reused from imaging and
identification: BLKROSET on a block-device source while it is read (imaging/readonly.py),
and the ClamAV virus check of every copied file and of an image's boot sector
(scan/virus.py), "not scanned" with the reason when ClamAV cannot run."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.config import Settings
from workbench.imaging import readonly
from workbench.ingest.copy import FILES, IngestReport
from workbench.ingest.sources import BLOCK, FolderSource, ImageSource


def is_block(mode: int) -> bool:
    return stat.S_ISBLK(mode)


def protect(src: FolderSource | ImageSource, policy: str
            ) -> tuple[readonly.Protection | None, dict[str, Any]]:
    """BLKROSET on a block device read as an image; for anything else the record says
    why nothing was set (never an empty entry)."""
    if isinstance(src, ImageSource):
        st = os.fstat(src.image.fd)
        if is_block(st.st_mode):
            prot = readonly.guard_fd(src.image.fd, str(src.path), st.st_rdev, policy)
            return prot, prot.to_dict()
        why = "an image file: no block device to set read-only (opened read-only)"
    else:
        why = ("a folder: read through its mounted file system, opened read-only; "
               "no block device is set read-only")
    return None, {"policy": policy, "block_device": False, "set_by_workbench": False,
                  "not_set": why}


def release(src: FolderSource | ImageSource, prot: readonly.Protection | None,
            record: dict[str, Any]) -> None:
    if prot is not None and isinstance(src, ImageSource) and src.image.fd >= 0:
        readonly.release_fd(src.image.fd, prot)
        record.update(prot.to_dict())


def scan(job: Path, report: IngestReport, settings: Settings,
         src: FolderSource | ImageSource, cancel: threading.Event) -> dict[str, Any]:
    """The virus check of the copied files (the bytes just read and hashed) and, for an
    image or device, its boot sector: the report's virus_scan entry."""
    from workbench.identify.report import FileRecord, FormatReport
    from workbench.scan.virus import VirusScan
    scanner = VirusScan.for_settings(settings)
    scanner.cancel = cancel
    records = [FileRecord(i, 0, f.path, f.size) for i, f in enumerate(report.files)]
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
