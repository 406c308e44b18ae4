"""Ingest at the station: an existing preservation image (a disc or disk holding files
and their checksum lists) copied, checked, bagged, staged to tape and recorded in the
ledger under its own media type (ingest-folder / ingest-image, family "ingest"), so it
is counted apart from carrier migration.

A checksum mismatch is never bagged silently. The ingest stops before bagging with every
mismatching file named (state imaged, outcome partial, exit 3): the lists were written
when the masters were made, so a mismatch says the bytes read now are not the bytes
recorded, and only a person can say whether to take them (or read the other copy of the
disc). `--accept-mismatch` bags them, the decision recorded in the ledger and the bag
(bag-info and metadata/ingest.json name each file). Unreadable files follow the partial
rules of bad sectors: the bytes that could not be read are zero-filled and named, and
the partial ingest is bagged unless the operator asked to review partials first.
The same command again continues an interrupted or waiting ingest.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import __version__
from workbench.config import Settings
from workbench.errors import Aborted, Refused
from workbench.i18n import t
from workbench.imaging.engine import job_dir
from workbench.imaging.preflight import check_item_id
from workbench.imaging.record import JobRecord, Reason, Run, utc_now
from workbench.ingest import guard
from workbench.ingest.bag import bag_ingest
from workbench.ingest.copy import (
    DAMAGED,
    FILES,
    MISMATCH,
    REPORT,
    IngestProgress,
    IngestReport,
    copy_files,
    save,
    shown,
)
from workbench.ingest.provenance import provenance
from workbench.ingest.sources import ImageSource, image_digest, open_source
from workbench.ledger import record as ledger
from workbench.station.book import bag_name
from workbench.station.result import MigrationResult
from workbench.station.states import Action, State
from workbench.station.view import state_of
from workbench.tape.catalogue import CopyEntry

if TYPE_CHECKING:
    from workbench.station.core import Station

FAMILY = "ingest"
MEDIA_TYPES = ("ingest-folder", "ingest-image")


@dataclass
class Ingested:
    item_id: str
    report: IngestReport
    state: State
    bag: Path | None = None
    copies: list[CopyEntry] = field(default_factory=list)
    waiting: str = ""  # why it stopped before bagging: mismatch | review
    cancelled: str = ""  # where a cancel stopped it: copied | bagged | staging | staged
    steps: list[tuple[str, str, str]] = field(default_factory=list)
    missing_pools: tuple[str, ...] = ()  # pools the bag still waits for (no tape: said)


def _record(station: Station, record: JobRecord, job: Path, batch: str) -> str:
    attempt = ledger.record_job(station.con, record, job, batch=batch,
                                label=f"ingest ({record.profile_id[7:]})")
    assert attempt is not None
    return attempt


def _event(station: Station, attempt: str, item: str, step: str, outcome: str, detail: str,
           started: str, key: str = "") -> None:
    ledger.record_event(station.con, attempt, item, station.settings.station_id, step,
                        started, utc_now(), outcome, detail, key=key or started)


def ingest(station: Station, source: Path, item_id: str, accept_mismatch: bool = False,
           review_partial: bool = False, batch: str = "", operator: str = "",
           progress: Callable[[IngestProgress], None] | None = None,
           source_digest: bool = False, again: bool = False) -> Ingested:
    """source_digest: also read a disc or disk image (or device) whole once more for its
    own SHA-256, kept in the provenance (the files are read by their extents, never the
    image in order). again: an ingest waiting (a mismatch, a review) is read again from
    source, a new attempt (the other copy of the disc); its earlier report is kept."""
    item_id = check_item_id(item_id)
    if source_digest and source.is_dir():  # said, never silently ignored
        raise Refused("tapefix.source_digest_folder", path=str(source))
    settings = station.settings
    lock = station.lock(item_id, Action.IMAGE).acquire()
    try:
        job = job_dir(settings, item_id)
        record = JobRecord.load(job)
        if record is not None and record.media_family == FAMILY and record.runs and \
                record.outcome == "running":  # a run killed (we hold the lock): recorded
            _record(station, record, job, batch)  # as interrupted, as show/pending do
        st = state_of(station.con, item_id, settings.tape_pools)
        if st.state is not State.NEW and (record is None or record.media_family != FAMILY):
            raise Refused("ingest.not_an_ingest", item=item_id, state=st.state.value)
        if st.state not in (State.NEW, State.INTERRUPTED, State.IMAGED, State.WITHDRAWN):
            raise Refused("ingest.done", item=item_id, state=t(f"state.{st.state.value}"))
        report = IngestReport.load(job / REPORT) if st.state is State.IMAGED else None
        refuse_other_source(st.state, record, report, source, item_id, again)
        if st.state is State.WITHDRAWN:  # a new attempt, its bag the next version
            set_aside(job)
        elif report is not None and again:
            set_aside(job)
            report = None
        if report is None or record is None:
            from workbench.station.ingest_guard import check_source
            check_source(settings, source)
            try:
                record, report = _copy(station, source, item_id, job, batch, operator,
                                       progress, station.cancel, source_digest)
            except KeyboardInterrupt:  # the copy is begun again by the same command
                raise Aborted("ingest2.cancelled_copy", item=item_id) from None
            except OSError as exc:
                raise _copy_failed(exc, source, job, item_id, settings) from exc
        attempt = _record(station, record, job, batch)
        done = Ingested(item_id, report, State.IMAGED)
        if report.of(MISMATCH) and not accept_mismatch:
            done.waiting = "mismatch"
            return done
        if report.outcome == "partial" and review_partial and not report.of(MISMATCH):
            done.waiting = "review"
            return done
        if report.of(MISMATCH) and not report.decision:
            report.decision = f"{operator or settings.operator or 'operator'} at {utc_now()}"
            save(report, job)
            _event(station, attempt, item_id, "decision", "accepted",
                   f"{len(report.of(MISMATCH))} files bagged although they differ from "
                   f"their checksum lists, by {report.decision}", utc_now(), key="mismatch")
        if station.cancel.is_set():  # before bagging: the copies wait, checked
            done.cancelled = "copied"
            return done
        _bag(station, done, record, job, attempt, batch)
        return done
    finally:
        lock.release()


def refuse_other_source(state: State, record: JobRecord | None, report: IngestReport | None,
                       source: Path, item_id: str, again: bool) -> None:
    """An ingest with a recorded source (interrupted, waiting) is continued from that
    source only: another path needs --again, so a mistyped item ID (or the wrong disc in
    the drive) never replaces an item's files with another disc's (tryout 16c, N3). A
    withdrawn ingest is read anew from any source, as a new attempt."""
    if again or state not in (State.INTERRUPTED, State.IMAGED) or record is None:
        return
    recorded = str(report.source.get("path", "")) if report is not None else ""
    recorded = recorded or record.source
    if recorded and recorded != str(source.resolve()):
        # waiting with a report: ingestfix's words ("waits with files read from")
        raise Refused("ingestfix.other_source" if report is not None else
                      "ingest2.other_source", item=item_id, source=str(source),
                      recorded=recorded, state=t(f"state.{state.value}"))


def _copy_failed(exc: OSError, source: Path, job: Path, item_id: str,
                 settings: Settings) -> BaseException:
    """What stopped a copy, said for an ingest (which copies again from the start, unlike
    imaging's resumable map): a full staging disk, a source that went away."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        shutil.rmtree(job / FILES, ignore_errors=True)  # the room is given back now
        return Aborted("ingestfix.disk_full", item=item_id, out=str(settings.paths.staging))
    name = os.fsdecode(exc.filename) if exc.filename is not None else ""
    if exc.errno == errno.ENOENT and name and (not source.exists() or
                                               name.startswith(str(source))):
        return Aborted("ingestfix.source_gone", item=item_id, source=str(source),
                       path=shown(name))
    return exc


def set_aside(job: Path) -> None:
    """An ingest read again (--again): its earlier report is kept beside the job record
    (ingest-<ended>.json), its copies go (the new read replaces them)."""
    old = job / REPORT
    if old.exists():
        report = IngestReport.load(old)
        stamp = (report.ended or report.started if report else utc_now()).replace(":", "")
        old.rename(job / f"ingest-{stamp}.json")
    shutil.rmtree(job / FILES, ignore_errors=True)


def _job_record(job: Path, item_id: str, media: str, settings: Settings, operator: str,
                source: Path, run: Run) -> JobRecord:
    """The job record with this run added: the runs before it (a killed run's BLKROSET
    note among them) are kept, under the same job id, so the ledger's attempts stay
    the same ones and a killed run's flag is known as the workbench's."""
    old = JobRecord.load(job)
    if old is not None and old.media_family == FAMILY and old.item_id == item_id:
        old.runs.append(run)
        old.profile_id, old.source = media, str(source.resolve())
        old.outcome, old.ended, old.reason = "running", "", None
        return old
    return JobRecord(item_id, media, FAMILY, settings.station_id, settings.organisation,
                     operator or settings.operator, __version__, source=str(source.resolve()),
                     started=run.started, runs=[run], job_id=uuid.uuid4().hex)


def _copy(station: Station, source: Path, item_id: str, job: Path, batch: str,
          operator: str, progress: Callable[[IngestProgress], None] | None,
          cancel: threading.Event, source_digest: bool = False
          ) -> tuple[JobRecord, IngestReport]:
    settings = station.settings
    src = open_source(source, settings.legacy_codepage)
    media = "ingest-folder" if src.kind == "folder" else "ingest-image"
    started = utc_now()
    new_job = not job.exists()
    shutil.rmtree(job / FILES, ignore_errors=True)  # an interrupted copy starts again
    job.mkdir(parents=True, exist_ok=True)
    run = Run(started=started, command=f"workbench ingest {source}", operator=operator or
              settings.operator, station_id=settings.station_id,
              drive={"path": str(source.resolve())})
    record = _job_record(job, item_id, media, settings, operator, source, run)
    record.save(job)
    try:
        with guard.protected(src, settings, job, item_id, run.protection):
            record.save(job)  # what was set on the device, before it is read
            files = src.files()
            if not files:  # an unfinalised disc, a wrong image: never "success"
                raise Refused("ingestfix.empty_source", path=str(source), item=item_id)
            # no "running" row in the ledger (a superseded "in progress" line in every
            # show): the job record says running, and the next ingest, show or pending
            # records a killed run as interrupted, as for an imaged carrier
            report = copy_files(src, item_id, job, {}, started, settings.checksum_lists,
                                progress, cancel, files=files)
            report.source = provenance(source, src)
            if source_digest and isinstance(src, ImageSource):
                report.source["sha256"] = image_digest(src, cancel)
            report.virus_scan = guard.scan(job, report, settings, src, cancel)
    except Refused:
        record.runs.remove(run)  # nothing was read: no run, no attempt
        if new_job and not record.runs:
            shutil.rmtree(job, ignore_errors=True)
        else:
            record.save(job)
        raise
    except BaseException:
        record.outcome = run.outcome = "aborted"
        record.ended = run.ended = utc_now()
        record.save(job)
        _record(station, record, job, batch)
        raise
    finally:
        src.close()
    report.ended = utc_now()
    save(report, job)
    record.outcome = run.outcome = report.outcome
    record.ended = run.ended = report.ended
    record.size = record.bytes_rescued = run.bytes_read_from_medium = report.bytes
    record.bad_sector_count = len(report.of(DAMAGED))
    record.bytes_bad = sum(n for f in report.of(DAMAGED) for _, n in f.bad)
    if report.outcome == "partial" and report.unread_lines and not (
            report.of(MISMATCH) or report.of(DAMAGED) or report.missing):
        record.reason = Reason.of("ingest_unread_lines", lines=report.unread_lines)
    elif report.outcome == "partial" and report.nothing_verified and not (
            report.of(MISMATCH) or report.of(DAMAGED) or report.missing):
        record.reason = Reason.of("ingest_nothing_verified" if report.lists else
                                  "ingest_no_lists", files=len(report.files))
    elif report.outcome == "partial" and report.unverified and not (
            report.of(MISMATCH) or report.of(DAMAGED) or report.missing):
        record.reason = Reason.of("ingest_unlisted", unlisted=len(report.unverified),
                                  files=len(report.files))
    elif report.outcome == "partial":
        record.reason = Reason.of("ingest_partial", mismatches=len(report.of(MISMATCH)),
                                  damaged=len(report.of(DAMAGED)), missing=len(report.missing))
    record.save(job)
    attempt = _record(station, record, job, "")
    _event(station, attempt, item_id, "ingest", report.outcome,
           f"files: {len(report.files)}, bytes: {report.bytes}, from {source}; checksum "
           f"lists: {len(report.lists)}; files verified: {len(report.of('verified'))}; "
           f"files in no list: {len(report.unverified)}", started)
    for f in report.of(MISMATCH) + report.of(DAMAGED):
        wrong = [c for c in f.expected if not c["ok"]]
        detail = f"{f.path}: " + ("; ".join(
            f"{c['algorithm']} {f.digests[c['algorithm']]} read, {c['digest']} in "
            f"{c['list']} line {c['line']}" for c in wrong) or "; ".join(f.errors))
        _event(station, attempt, item_id, "fixity check", "failure", detail, started,
               key=f.path)
    for m in report.missing:
        _event(station, attempt, item_id, "fixity check", "failure",
               f"{m['name']}: listed in {m['list_path']} line {m['line']}, not on the source",
               started, key=f"missing|{m['name']}")
    return record, report


def _bag(station: Station, done: Ingested, record: JobRecord, job: Path, attempt: str,
         batch: str) -> None:
    settings = station.settings
    st = state_of(station.con, done.item_id, settings.tape_pools)
    version = len(st.bags) + 1
    target = settings.paths.bags / bag_name(done.item_id, version)
    started = utc_now()
    from workbench.ingest.bag import ingest_profile
    from workbench.package.bags import read_info
    from workbench.package.validate import validate_bag
    if target.exists():  # a crash between the bag's rename and its ledger row
        if dict(read_info(target)).get("External-Identifier") != done.item_id or \
                validate_bag(target, ingest_profile(settings), fast=True):
            raise Refused("ingest.bag_exists", bag=str(target))
        path = target
    else:
        try:
            path = bag_ingest(job, done.report, settings, target, record.profile_id,
                              (job / "job.json").read_bytes(), record.operator,
                              station.cancel)
        except Aborted:
            if not station.cancel.is_set():
                raise  # a full disk: said as such
            done.cancelled = "copied"  # the partial bag is gone; the copies wait
            return
    oxum = dict(read_info(path))["Payload-Oxum"]
    ledger.record_bag(station.con, attempt, done.item_id, settings.station_id, path, oxum,
                      version)
    shutil.rmtree(job / FILES, ignore_errors=True)  # the bag holds them now (hard links)
    _event(station, attempt, done.item_id, "packaging", "success", f"{path} ({oxum})",
           started, key=oxum)
    done.bag = path
    done.state = state_of(station.con, done.item_id, settings.tape_pools).state
    if station.cancel.is_set():  # bagged and recorded: `tape write` stages it later
        done.cancelled = "bagged"
        return
    result = MigrationResult(done.item_id, record, job, bag=path)
    try:
        done.copies = station.tapes.stage_one(path, result, attempt)
    except KeyboardInterrupt:  # the tape writer stopped: its partial copy is left for
        done.cancelled = "staging"  # the next `tape write` to clear
    else:
        if station.cancel.is_set():
            done.cancelled = "staged"  # the cancel came as the tape copies ended
    done.steps = result.steps
    after = state_of(station.con, done.item_id, settings.tape_pools)
    done.state, done.missing_pools = after.state, after.missing_pools

