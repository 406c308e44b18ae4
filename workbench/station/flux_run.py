"""A flux job's run recorded from its first step, like a drive's: a capture or decode
killed (or cancelled, or out of disk) leaves an interrupted carrier in the work list,
and the same command (or `retry`) goes on from there.

The imaging engine records its run only when it starts reading the laid-out sectors,
minutes after a Greaseweazle began capturing. So before the capture (or the copy of a
capture brought in), begin() adds a run to the job record (job.json, made if there is
none) and records it in the ledger as running. stopped() ends it as aborted, with why,
when the capture or decode stops with an error. Before the engine starts, for_engine()
takes the run away again: the engine's own run takes its place (its attempt in the
ledger is the same one, so the running row is superseded, never doubled).

Which runs were begun here is kept beside the captures (flux/runs.json), not in the
record's flux facts: those say the carrier was imaged from flux, which is not so until
a decode is imaged (a drive may read the carrier after a capture was given up).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import __version__
from workbench.atomic import write_atomic
from workbench.errors import WorkbenchError
from workbench.flux.capture import FLUX_DIR
from workbench.imaging.record import JobRecord, Outcome, Reason, Run, utc_now
from workbench.imaging.sources import DriveIdentity
from workbench.profiles import MediaProfile

if TYPE_CHECKING:
    from workbench.station.core import Station

RUNS_NAME = "runs.json"


def capture_runs(job: Path) -> list[str]:
    """The start times of the runs begun here (a damaged file: none, the record stands)."""
    try:
        return [str(s) for s in json.loads((job / FLUX_DIR / RUNS_NAME).read_text(
            encoding="utf-8"))["capture_runs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _save_runs(job: Path, runs: list[str]) -> None:
    (job / FLUX_DIR).mkdir(parents=True, exist_ok=True)
    write_atomic(job / FLUX_DIR / RUNS_NAME, json.dumps({"capture_runs": runs}) + "\n")


def decoded(record: JobRecord | None) -> bool:
    """Whether the job has a decoded flux result (a layout), not only a capture begun."""
    return record is not None and bool((record.flux or {}).get("decoded"))


def capturing(job: Path, record: JobRecord | None) -> bool:
    """Whether the job's last run is a flux capture begun here (cut short, or going on)."""
    return record is not None and bool(record.runs) and \
        record.runs[-1].started in capture_runs(job)


def brought_from(job: Path, record: JobRecord) -> str:
    """The capture a job's last capture run was bringing in ("" for a Greaseweazle
    capture, or when it was not a capture run)."""
    if not capturing(job, record):
        return ""
    drive = record.runs[-1].drive or {}
    return str(drive.get("path", "")) if drive.get("vendor") != "Greaseweazle" else ""


def settled(job: Path, record: JobRecord | None) -> JobRecord | None:
    """The record, unless its only runs are capture runs begun here (nothing imaged yet:
    the profile the ID fields say may still be chosen)."""
    runs = capture_runs(job)
    if record is None or all(r.started in runs for r in record.runs):
        return None
    return record


def begin(station: Station, job: Path, item_id: str, profile: MediaProfile,
          identity: DriveIdentity, command: str, batch: str) -> None:
    """A run begun (or the one a killed process left, taken up again) in the job record
    and the ledger: from here a kill leaves an interrupted carrier."""
    settings = station.settings
    record = JobRecord.load(job) or JobRecord(
        item_id=item_id, profile_id=profile.id, media_family=profile.family,
        station_id=settings.station_id, organisation=settings.organisation,
        operator=settings.operator, workbench_version=__version__,
        image=f"image.{profile.image_extension}",
        expected_sizes=list(profile.expected_sizes), job_id=uuid.uuid4().hex)
    runs = capture_runs(job)
    last = record.runs[-1] if record.runs else None
    if last is None or last.ended or last.started not in runs:
        last = Run(started=utc_now(), command=command, operator=settings.operator,
                   station_id=settings.station_id, drive=asdict(identity))
        record.runs.append(last)
        _save_runs(job, [*runs, last.started])  # first: a run in the record is known
    record.outcome, record.reason = Outcome.RUNNING.value, None
    record.started = record.started or last.started
    record.save(job)
    station._record_imaging(record, job, batch)


def _reason(exc: WorkbenchError) -> Reason:
    if exc.key == "reason.cancelled":
        return Reason.of("cancelled")
    if exc.key in ("flux.gw_disk_full", "flux.copy_disk_full", "error.disk_full"):
        return Reason.of("disk_full", path=str(exc.params.get("folder")
                                               or exc.params.get("path", "")))
    return Reason.of("flux_stopped", detail=exc.message("en"))


@contextlib.contextmanager
def stopping(station: Station, job: Path, batch: str) -> Iterator[None]:
    """The capture run ended as aborted, with why, when the work inside stops with a
    typed error (cancel, a full disk, gw failing): the carrier is interrupted, to resume."""
    try:
        yield
    except WorkbenchError as exc:
        record = JobRecord.load(job)
        if record is not None and capturing(job, record) and not record.runs[-1].ended:
            run = record.runs[-1]
            run.ended, run.outcome = utc_now(), Outcome.ABORTED.value
            record.outcome, record.reason = Outcome.ABORTED.value, _reason(exc)
            with contextlib.suppress(WorkbenchError):  # a full disk: the error says it
                record.save(job)
                station._record_imaging(record, job, batch)
        raise


def for_engine(job: Path, profile: MediaProfile) -> None:
    """The capture run begun here taken away before the engine adds its own (same place,
    so the same attempt). A job nothing was imaged in yet takes the profile the ID
    fields chose, as a new job would."""
    record = JobRecord.load(job)
    if record is None:
        return
    if capturing(job, record) and not record.runs[-1].ended:
        record.runs.pop()
    if settled(job, record) is None and record.profile_id != profile.id:
        record.profile_id, record.media_family = profile.id, profile.family
        record.image = f"image.{profile.image_extension}"
        record.expected_sizes = list(profile.expected_sizes)
    record.save(job)
