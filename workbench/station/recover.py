"""Putting a job folder back in order before a carrier is read again.

A bag holds its image alone: bagging hands the staging image over to it. So a new read
of a bagged (then withdrawn, or routed) carrier starts from a checked copy of the bag's
image, and a crash between a bag's rename and the hand-over is finished first, so a
retry can never write through a hard link into a bag. A job folder whose image is gone
everywhere is set aside (never deleted) and the carrier imaged afresh.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import BadInput
from workbench.imaging.engine import job_dir
from workbench.imaging.record import MAP_NAME, JobRecord, utc_now
from workbench.ledger import record as ledger
from workbench.package.bags import copy_hashed, read_manifest
from workbench.package.carrier import hand_over
from workbench.station.book import bag_name
from workbench.station.view import CarrierState

if TYPE_CHECKING:
    from workbench.profiles import MediaProfile
    from workbench.station.core import Station


def bag_image_digest(bag: Path, image: str) -> str:
    """The SHA-256 a bag's manifest gives its image ('' when there is none)."""
    try:
        return read_manifest(bag / "manifest-sha256.txt").get(f"data/{image}", "")
    except (OSError, UnicodeDecodeError):
        return ""


def finish_hand_over(job: Path, record: JobRecord, bag: Path) -> bool:
    """A crash right after a bag's rename leaves the staging image hard-linked into it:
    remove the staging name (the bytes stay, in the bag)."""
    handed = [hand_over(job / name, bag / "data" / name) for name, _ in record.payload()]
    return any(handed)


def set_aside_stale_bag(bag: Path) -> Path:
    """A bag folder left by a crashed accept of an earlier image (never recorded): moved
    aside under a dot name, never deleted, so the new bag can take its name."""
    target = bag.with_name(f".stale-{bag.name}-{utc_now().replace(':', '')}")
    os.rename(bag, target)
    return target


def restore_image(st: CarrierState, record: JobRecord, job: Path,
                  candidates: list[Path]) -> bool:
    """Give the job folder its image back from the first bag (on disk) that holds the
    same image (by its digest), copied and checked: the bag itself never changes.
    False when the image is in none of them."""
    if not record.image:  # a disc of raw tracks only: nothing is restored from a bag
        return all((job / name).exists() for name, _ in record.payload())
    image_path = job / record.image
    if image_path.exists():
        return True
    want = record.digests.get("sha256", "")
    for bag in candidates:
        source = bag / "data" / record.image
        if not want or not source.is_file() or bag_image_digest(bag, record.image) != want:
            continue
        partial = image_path.with_name(f".{image_path.name}.partial")
        digests = copy_hashed(source, partial, tuple(record.digests))
        if digests != record.digests:
            partial.unlink()
            raise BadInput("error.bag_copy_mismatch", file=str(source), algorithm="sha256",
                           known=want, got=digests.get("sha256", ""))
        partial.rename(image_path)
        return True
    return False


def set_aside_job(job: Path) -> Path:
    """A job folder whose image is gone everywhere (a released or lost bag): its map and
    record are kept under a dot name; the carrier is imaged afresh into a new folder."""
    target = job.with_name(f".set-aside-{job.name}-{utc_now().replace(':', '')}")
    os.rename(job, target)
    return target


def needs_image(job: Path, record: JobRecord | None) -> bool:
    """A map without its image: the next read must not start until it is back."""
    return record is not None and bool(record.image) and (job / MAP_NAME).exists() \
        and not (job / record.image).exists()


def ready_for_reading(station: Station, st: CarrierState) -> JobRecord | None:
    """The job folder ready for a new read: its image back from a bag that holds it,
    or, when the image is gone everywhere (released, deleted), the folder set aside
    and a fresh job begun (None). Never writes through a bag's file."""
    job = job_dir(station.settings, st.item_id)
    record = JobRecord.load(job)
    if st.is_ingest or (record is not None and record.media_family == "ingest"):
        from workbench.errors import Refused  # files ingested: no carrier to read again
        raise Refused("tapefix.retry_ingest", item=st.item_id,
                      source=str(record.source if record else st.attempt and
                                 st.attempt["drive"]))
    if not needs_image(job, record):
        return record
    assert record is not None
    bags = [Path(b.path) for b in reversed(st.bags)]
    bags.insert(0, station.settings.paths.bags / bag_name(st.item_id, len(st.bags) + 1))
    if restore_image(st, record, job, bags):
        return record
    aside = set_aside_job(job)
    if st.attempt is not None:
        now = utc_now()
        ledger.record_event(station.con, str(st.attempt["attempt"]), st.item_id,
                            station.settings.station_id, "job set aside", now, now,
                            "recorded", f"image gone from staging and bags: {aside}",
                            key=str(aside))
    return None


def retry_source(station: Station, st: CarrierState, before: JobRecord | None,
                 drive: str | None) -> tuple[str, MediaProfile]:
    """What a retry reads and with which profile: the drive named, else the one the
    carrier was read on (its job record), with the profile of its job."""
    source = drive or (before.drive.get("path") or before.source if before else "")
    if not source:
        raise BadInput("station.retry_needs_drive", item=st.item_id)
    from workbench.profiles import get_profile  # a profile gone from profiles/: said
    return str(source), get_profile(station.profiles, before.profile_id if before else
                                    str(st.attempt["profile_id"] if st.attempt else ""))

