"""A drive between two carriers: in an unattended disc batch the next disc must really
be another one before it is imaged under the next item ID."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config import Settings
from workbench.errors import BadInput, Refused, WorkbenchError
from workbench.imaging.disc import same_toc
from workbench.imaging.engine import job_dir
from workbench.imaging.record import JobRecord
from workbench.imaging.rescue import Cancelled
from workbench.imaging.sources import (
    DRIVE_SUFFIX,
    Source,
    SourceGone,
    VirtualDrive,
    open_source,
)
from workbench.ledger.query import has_attempt, recent_attempts
from workbench.profiles import MediaProfile

if TYPE_CHECKING:
    from workbench.ledger.db import Con


def wait_for_next_disc(settings: Settings, source: str | Path, previous_item: str,
                       timeout: float, cancel: threading.Event,
                       waiting: Callable[[], None] | None = None,
                       poll: float = 2.0) -> None:
    """Return once the drive holds a disc other than previous_item's (its TOC differs),
    or a drive that tells no TOC; an empty drive is waited on. Refused when no other
    disc came within timeout seconds (the batch goes on with the next row)."""
    try:
        before = JobRecord.load(job_dir(settings, previous_item))
    except BadInput:
        return
    if before is None or not before.disc:
        return
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            with open_source(source, sector_size=2048) as now:
                if now.disc is None or not same_toc(before.disc, now.disc):
                    return
        except SourceGone:
            pass  # the tray is open or empty: the disc is being changed
        if cancel.is_set():
            raise Cancelled()
        if time.monotonic() >= deadline:
            raise Refused("refuse.no_next_disc", drive=str(source), item=previous_item,
                          seconds=round(timeout))
        if not told and waiting is not None:
            waiting()
            told = True
        cancel.wait(min(poll, max(0.0, deadline - time.monotonic())))


def refuse_the_last_disc(con: Con, station_id: str, source: Source,
                         item_id: str) -> None:
    """A disc whose TOC is the last carrier's imaged in this very drive, under another
    item ID: the disc was not changed. Refused (exit 6) before anything is written.
    A carrier with attempts of its own is not asked: its job's same-carrier proof
    decides (a resume after another drive finished a carrier is never refused)."""
    if source.disc is None or has_attempt(con, item_id):
        return
    for last in recent_attempts(con, station_id, LAST_IN_DRIVE):
        try:
            record = JobRecord.load(Path(last["job_dir"]))
        except BadInput:
            continue
        if record is None or record.drive.get("path") != source.identity.path:
            continue  # another drive's carrier
        if last["item_id"] != item_id and record.disc and \
                same_toc(record.disc, source.disc):
            raise Refused("refuse.same_disc", item=item_id, previous=last["item_id"],
                          drive=source.identity.describe())
        return


LAST_IN_DRIVE = 32  # how far back the station's attempts are searched for this drive's


# -- which drive takes which carrier ------------------------------------------------------

OPTICAL, OTHER, ANY = "optical", "other", "any"


def drive_kind(drive: str | Path, profiles: dict[str, MediaProfile]) -> str:
    """OPTICAL (a CD/DVD/BD drive), OTHER (floppy, MO, USB, disk) or ANY (an image file:
    the drive says nothing). Refused when the drive is not there or cannot be read as
    one (a batch names it at start, not when a carrier is already waiting for it)."""
    path = Path(drive)
    if str(path).endswith(DRIVE_SUFFIX):
        try:
            with VirtualDrive.from_file(path) as vd:
                hint = profiles.get(vd.profile_hint)
                if hint is not None:
                    return OPTICAL if hint.family == OPTICAL else OTHER
                return OPTICAL if vd.identity.transport == "sr" else OTHER
        except (WorkbenchError, OSError) as exc:
            raise Refused("station.drive_missing", drive=str(drive),
                          detail=exc.message() if isinstance(exc, WorkbenchError)
                          else str(exc)) from exc
    if not path.exists():
        raise Refused("station.drive_missing", drive=str(drive), detail="not found")
    real = path.resolve()
    if not real.is_block_device():
        return ANY
    name = real.name
    # SCSI peripheral type 5 is a CD/DVD/BD drive (Linux names them sr0, sr1, ...)
    kind = (Path("/sys/class/block") / name / "device" / "type")
    try:
        optical = name.startswith("sr") or kind.read_text().strip() == "5"
    except OSError:
        optical = False
    return OPTICAL if optical else OTHER


def fits(profile: MediaProfile, kind: str) -> bool:
    """A disc goes to an optical drive, any other carrier to a drive that is not one."""
    return kind == ANY or (profile.family == OPTICAL) == (kind == OPTICAL)
