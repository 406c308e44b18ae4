"""Is it the same carrier? The fingerprint a job keeps of its carrier (from what was
read, never an extra read of the medium) and the comparison made before a run writes
anything into a job folder that holds data (checks.py holds the areas and their words).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from workbench.imaging.checks import (
    DifferentCarrier,
    compare_carrier,
    describe_differences,
    update_fingerprint,
)
from workbench.imaging.mapfile import FINISHED, RescueMap
from workbench.imaging.record import JobRecord
from workbench.imaging.sources import ReadError, Source
from workbench.profiles import MediaProfile


def is_finished(rmap: RescueMap, pos: int, size: int) -> bool:
    if pos < 0 or pos + size > rmap.size:
        return False
    block = rmap.block_at(pos)
    return block.status == FINISHED and block.end >= pos + size


def note_fingerprint(record: JobRecord, rmap: RescueMap, profile: MediaProfile, fd: int,
                 final: bool = False) -> None:
    """Complete the carrier's fingerprint from what is now in the image (never a read
    of the medium): at the first run, and later runs once the carrier was shown to be
    the same."""
    fingerprint = record.fingerprint if record.fingerprint is not None else {}
    if update_fingerprint(fingerprint, rmap.size, record.sector_size or profile.sector_size,
                          profile.iso9660_check, lambda p, n: is_finished(rmap, p, n),
                          lambda p, n: os.pread(fd, n, p), final=final) \
            or record.fingerprint is None:
        record.fingerprint = fingerprint


def _image_fingerprint(rmap: RescueMap, image_path: Path, size: int, sector: int,
                       optical: bool) -> dict:
    """A fingerprint of what an image left in the job folder holds (its map's finished
    areas), for a folder whose job.json has none (GNU ddrescue's, or left by hand)."""
    fingerprint: dict = {}
    if not image_path.exists() or not rmap.total(FINISHED):
        return fingerprint
    with open(image_path, "rb") as fh:
        update_fingerprint(fingerprint, size, sector, optical,
                           lambda p, n: is_finished(rmap, p, n),
                           lambda p, n: os.pread(fh.fileno(), n, p), final=True)
    return fingerprint


def same_carrier(source: Source, profile: MediaProfile, record: JobRecord, rmap: RescueMap,
                  image_path: Path, out_dir: Path, item_id: str, extends: bool
                  ) -> tuple[dict | None, dict]:
    """Before a run writes anything into a job folder that holds data: show that the
    drive holds the carrier it came from. Returns the fingerprint to keep and the check
    for the run record; raises DifferentCarrier (exit 6) with what differs.

    The evidence is the fingerprint in job.json (checked against the image too, so an
    image left by another carrier is caught), or, for a folder without one, the image's
    own finished areas. Areas this drive cannot read, or that lie past the end of what
    it reports (a truncating drive), are not compared; a drive that reads none of them
    is refused when the folder holds data, as nothing shows it is the same carrier."""
    fingerprint = record.fingerprint
    finished = rmap.total(FINISHED) if image_path.exists() else 0
    if fingerprint and fingerprint.get("areas") and finished:
        foreign = []
        with open(image_path, "rb") as fh:
            for area in fingerprint["areas"]:
                if is_finished(rmap, area["pos"], area["size"]):
                    data = os.pread(fh.fileno(), area["size"], area["pos"])
                    if hashlib.sha256(data).hexdigest() != area["sha256"]:
                        foreign.append(area)
        if foreign:
            raise DifferentCarrier("refuse.foreign_image", folder=str(out_dir), item=item_id,
                                   differences=describe_differences(foreign, 0, 0))
    if not (fingerprint and fingerprint.get("areas")):
        fingerprint = _image_fingerprint(rmap, image_path, rmap.size,
                                         record.sector_size or source.sector_size,
                                         profile.iso9660_check) or fingerprint
    if not (fingerprint and fingerprint.get("areas")):
        return fingerprint, {"result": "first_read", "size_now": source.size}
    size_before = int(fingerprint.get("size", 0))
    counters = source.bytes_read, source.read_calls
    try:
        check = compare_carrier(fingerprint, source.read, source.size, ReadError)
    finally:  # the medium's counters measure the passes; the run records these apart
        source.bytes_read, source.read_calls = counters
    if check.differs or (not check.matched and finished):
        differences = describe_differences(check.differs, size_before, source.size) \
            if check.differs else ""
        if check.differs:
            raise DifferentCarrier("refuse.different_carrier", drive=source.identity.describe(),
                                   folder=str(out_dir), item=item_id, differences=differences)
        raise DifferentCarrier("refuse.carrier_unproven", drive=source.identity.describe(),
                               folder=str(out_dir), item=item_id, count=check.compared)
    result = "nothing_to_compare" if not check.matched else \
        "same_extended" if extends else "same"
    return fingerprint, check.summary(result, size_before, source.size)
