"""The station: the one API through which the CLI and the UI act on carriers.

    station = Station(settings, progress, cancel)
    station.state("FD-1")                       # what state, what may happen next
    station.migrate(source, profile, "FD-1")    # image, then accept (verify, identify, bag, tape)
    station.retry("FD-1", drive=...)            # a new attempt
    station.withdraw("FD-1", reason=...)        # a supervisor; the next bag is a new version

Every action takes the item's lock (one worker per item), brings the ledger up to date
with the job folder (a crash between a step and its record loses nothing), asks the
state machine (states.py) whether it may happen, acts through the engines, and records
each step in the ledger. Engines know nothing of the ledger; the front ends hold no rules.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.errors import BadInput, IntegrityFailure, Refused, WorkbenchError
from workbench.imaging.engine import image, job_dir
from workbench.imaging.preflight import Check
from workbench.imaging.record import JobRecord, utc_now
from workbench.imaging.sources import Source
from workbench.ledger import record as ledger
from workbench.ledger.link import open_ledger
from workbench.profiles import MediaProfile, load_profiles
from workbench.station.book import bag_name
from workbench.station.elsewhere import refuse_overtaken
from workbench.station.locks import Lock, drive_lock, folder_lock, held
from workbench.station.records import Records
from workbench.station.result import MigrationResult, imaging_detail, verify_image
from workbench.station.states import Action, NotAllowed, State, check
from workbench.station.tapes import TapeDesk
from workbench.station.view import CarrierState, pending, state_of

# failures that say nothing about the carrier: the same command images again
RESUMABLE_FAILURES = ("vanished", "no_medium", "permission")
Progress = Callable[[str, Any], None]


class Station:
    def __init__(self, settings: Settings, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.settings = settings
        self.progress: Progress = progress or (lambda step, p: None)
        self.cancel = cancel or threading.Event()
        self.profiles = load_profiles(settings.paths.profiles)
        self.con = open_ledger(settings)  # its file, or the server (and a journal)
        self.locks = settings.paths.logs / "locks"
        self.tapes = TapeDesk(self)
        self.records = Records(self)
        # the technician says the disc in the drive is another copy of the last one
        # (a library may hold two copies of one pressing): not refused as unchanged
        self.another_copy = False

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------

    def state(self, item_id: str) -> CarrierState:
        from workbench.imaging.preflight import check_item_id
        return state_of(self.con, check_item_id(item_id), self.settings.tape_pools)

    def pending(self, limit: int = 500) -> list[CarrierState]:
        """The work list. Job folders the ledger has not heard of (a crash while imaging
        a carrier for the first time) are recorded first."""
        staging = self.settings.paths.staging
        for job in sorted(staging.iterdir()) if staging.is_dir() else []:
            if job.name.startswith(".") or not (job / "job.json").is_file():
                continue
            # one look-up per job folder (few), not a read of every carrier (many)
            if self.con.execute("SELECT 1 FROM carriers WHERE item_id = ?",
                                (job.name,)).fetchone() is None:
                with contextlib.suppress(WorkbenchError):
                    self.refresh(job.name)
        return pending(self.con, self.settings.tape_pools, self.settings.station_id, limit)

    def result_of(self, item_id: str) -> MigrationResult:
        """The carrier's latest imaging result (the UI's result screen for a work-list item)."""
        st = self.state(item_id)
        job = job_dir(self.settings, st.item_id)
        record = JobRecord.load(job)
        if record is None:
            raise BadInput("error.no_job", folder=str(job))
        report = None
        if (job / "formats.json").is_file():
            try:
                report = json.loads((job / "formats.json").read_text(encoding="utf-8"))
            except ValueError:
                report = None  # damaged: accepting makes it again (formats.key no longer fits)
                (job / "formats.key").unlink(missing_ok=True)
        return MigrationResult(st.item_id, record, job, report=report, state=st.state)

    def preflight(self, source: str | Path, profile: MediaProfile, item_id: str
                  ) -> list[Check]:
        """The pre-flight results before anything is read (the UI's checklist)."""
        from workbench.imaging.engine import preflight_checks
        return preflight_checks(source, profile, item_id, self.settings)

    # -- locking and bookkeeping ---------------------------------------------------------

    def lock(self, item_id: str, action: Action) -> Lock:
        return self.records.item_lock(item_id, action.value)  # files (and the server)

    def _begin(self, item_id: str, action: Action) -> tuple[Lock, CarrierState]:
        """Lock the item, bring the ledger up to date, check the action is allowed."""
        from workbench.imaging.preflight import check_item_id
        item_id = check_item_id(item_id)
        lock = self.lock(item_id, action).acquire()
        try:
            self._reconcile(item_id)
            st = state_of(self.con, item_id, self.settings.tape_pools)
            check(item_id, st.state, action)
            return lock, st
        except BaseException:
            lock.release()
            raise

    def _reconcile(self, item_id: str, batch: str = "") -> str | None:
        """Record what the job folder says (a crash between imaging and its record), and
        finish a bag's hand-over that a crash cut short (the caller holds the lock)."""
        from workbench.station.recover import finish_hand_over
        job = job_dir(self.settings, item_id)
        record = JobRecord.load(job)
        if record is None or not record.runs:
            return None
        attempt = self._record_imaging(record, job, batch)
        st = state_of(self.con, item_id, self.settings.tape_pools)
        if st.state is State.IMAGED:  # its bag may be on disk, not yet recorded
            finish_hand_over(job, record, self.settings.paths.bags /
                             bag_name(item_id, len(st.bags) + 1))
        return attempt

    def refresh(self, item_id: str) -> CarrierState:
        """The state after recording what the job folder says, when no other process is
        working on the carrier (`show`, the work list: a crash while imaging a carrier
        for the first time leaves it only in its job folder)."""
        from workbench.imaging.preflight import check_item_id
        item_id = check_item_id(item_id)
        try:
            lock = self.lock(item_id, Action.NOTE).acquire()
        except Refused:
            return self.state(item_id)
        try:
            self._reconcile(item_id)
        finally:
            lock.release()
        return self.state(item_id)

    def _record_imaging(self, record: JobRecord, job: Path, batch: str) -> str:
        """The attempt and its imaging step (stable ids: recording twice adds nothing)."""
        profile = self.profiles.get(record.profile_id)
        attempt = ledger.record_job(self.con, record, job, batch=batch,
                                    label=profile.label("en") if profile else "")
        assert attempt is not None  # a record with runs has a current attempt
        if record.runs[-1].ended and record.media_family != "ingest":  # ingest: own step
            ledger.record_event(self.con, attempt, record.item_id, self.settings.station_id,
                                "imaging", record.runs[-1].started, record.runs[-1].ended,
                                record.outcome, record.reason.text if record.reason else "",
                                key=record.runs[-1].started)
        return attempt

    def _step(self, result: MigrationResult, attempt: str, step: str, outcome: str,
              detail: str, started: str, key: str = "") -> None:
        result.steps.append((step, outcome, detail))
        ledger.record_event(self.con, attempt, result.item_id, self.settings.station_id, step,
                            started, utc_now(), outcome, detail, key=key)

    # -- imaging -------------------------------------------------------------------------

    def migrate(self, source: str | Path | None, profile: MediaProfile, item_id: str,
                batch: str = "", retries: int | None = None, command: str = "",
                review_partial: bool = False, review: bool = False) -> MigrationResult:
        """One carrier through the pipeline; the same call after a crash continues.
        review: stop after imaging and identification (the UI shows the result first);
        review_partial: stop after imaging a partial carrier (retry or accept later)."""
        lock, st = self._begin_migrate(item_id)
        try:
            item_id = st.item_id
            job = job_dir(self.settings, item_id)
            record = JobRecord.load(job)
            if record is not None and record.profile_id != profile.id:
                raise BadInput("error.job_mismatch", folder=str(job), item=record.item_id,
                               profile=record.profile_id)
            if st.state in (State.NEW, State.INTERRUPTED, State.FAILED):
                if source is None:
                    raise BadInput("error.no_source_for", item=item_id)
                self._image(source, profile, item_id, batch, retries, command)
                return self._continue(item_id, batch, review, review_partial, imaged=True)
            return self._continue(item_id, batch, review, review_partial)
        finally:
            lock.release()

    def _begin_migrate(self, item_id: str) -> tuple[Lock, CarrierState]:
        from workbench.imaging.preflight import check_item_id
        item_id = check_item_id(item_id)
        lock = self.lock(item_id, Action.IMAGE).acquire()
        try:
            self._reconcile(item_id)
            st = state_of(self.con, item_id, self.settings.tape_pools)
            resumable = st.state is State.FAILED and st.attempt is not None and \
                st.attempt["reason_code"] in RESUMABLE_FAILURES
            if st.state not in (State.NEW, State.INTERRUPTED, State.IMAGED, State.BAGGED,
                                State.ON_TAPE) and not resumable:
                raise NotAllowed(item_id, st.state, Action.IMAGE)
            return lock, st
        except BaseException:
            lock.release()
            raise

    def image(self, source: str | Path, profile: MediaProfile, item_id: str,
              batch: str = "", retries: int | None = None, command: str = ""
              ) -> MigrationResult:
        """Imaging alone: the first imaging of a carrier, or the resume of an
        interrupted one (a new attempt is `retry`)."""
        lock, st = self._begin(item_id, Action.IMAGE)
        try:
            self._image(source, profile, st.item_id, batch or st.batch, retries, command)
            result = self.result_of(st.item_id)
            result.state = self.state(st.item_id).state
            return result
        finally:
            lock.release()

    def image_carrier(self, source: str | Path, profile: MediaProfile, item_id: str,
                      retries: int | None = None, command: str = "") -> MigrationResult:
        """`workbench image`: image or resume where that is allowed, else a new attempt
        where a retry is; a bagged carrier is refused (its bag never changes)."""
        st = self.state(item_id)
        if Action.IMAGE in st.next_actions or Action.RETRY not in st.next_actions:
            return self.image(source, profile, item_id, retries=retries, command=command)
        return self.retry(item_id, retries=retries, drive=str(source), command=command,
                          review=True)

    def image_elsewhere(self, source: str | Path, profile: MediaProfile, item_id: str,
                        out_dir: Path, retries: int | None = None, command: str = ""
                        ) -> JobRecord:
        """Imaging into a folder outside the station (`workbench image --out DIR`): not
        an attempt of the station's carriers, so never inside its staging or bags."""
        out_dir = out_dir.resolve()
        for root in (self.settings.paths.staging, self.settings.paths.bags):
            root = root.resolve()
            if out_dir == root or root in out_dir.parents:
                raise BadInput("error.out_in_staging", out=str(out_dir), staging=str(root))
        with held(folder_lock(out_dir, self.settings.station_id)), \
                held(drive_lock(self.locks, source, self.settings.station_id, item_id), 1.0):
            return image(source, profile, item_id, self.settings, out_dir=out_dir,
                         retries=retries, command=command,
                         progress=lambda p: self.progress("image", p), cancel=self.cancel)

    def retry(self, item_id: str, retries: int | None = None, drive: str | None = None,
              command: str = "", review_partial: bool = False, review: bool = False,
              keep_going: bool = False) -> MigrationResult:
        """A new attempt on the same or another drive, into the same map (its image back
        from a bag first); one imaged from flux is read from flux again (station/flux.py).
        keep_going: past a dead-medium sample or the profile's budgets."""
        from workbench.station.flux import flux_retry
        if (flux := flux_retry(self, item_id, drive, command)) is not None:
            return flux
        lock, st = self._begin(item_id, Action.RETRY)
        try:
            item_id = st.item_id
            before = JobRecord.load(job_dir(self.settings, item_id))
            self._ready_for_reading(st)
            from workbench.station.recover import retry_source
            source, profile = retry_source(self, st, before, drive)
            self._image(source, profile, item_id, st.batch, retries, command, keep_going)
            return self._continue(item_id, st.batch, review, review_partial, imaged=True)
        finally:
            lock.release()

    def _ready_for_reading(self, st: CarrierState) -> JobRecord | None:
        from workbench.station.recover import ready_for_reading
        return ready_for_reading(self, st)

    def _image(self, source: str | Path, profile: MediaProfile, item_id: str, batch: str,
               retries: int | None, command: str, keep_going: bool = False) -> None:
        job = job_dir(self.settings, item_id)
        previous = JobRecord.load(job)
        if previous is not None and previous.profile_id != profile.id:
            raise BadInput("error.job_mismatch", folder=str(job), item=previous.item_id,
                           profile=previous.profile_id)
        from workbench.station.locks import refuse_while_autoloading  # the robot's own drive
        refuse_while_autoloading(self.locks, source, item_id)
        with held(drive_lock(self.locks, source, self.settings.station_id, item_id), 1.0):
            record = image(source, profile, item_id, self.settings, out_dir=job,
                           retries=retries, command=command, cancel=self.cancel,
                           progress=lambda p: self.progress("image", p), keep_going=keep_going,
                           check_source=lambda s: self._not_the_last_disc(s, item_id))
        self._record_imaging(record, job, batch)

    def wait_for_next_disc(self, source: str | Path, previous_item: str,
                           waiting: Callable[[], None] | None = None) -> None:
        """In a batch: wait until the drive holds another disc than previous_item's
        (Refused after the station's next_disc_wait_seconds)."""
        from workbench.station.drives import wait_for_next_disc
        wait_for_next_disc(self.settings, source, previous_item,
                           self.settings.next_disc_wait_seconds, self.cancel, waiting)

    def _not_the_last_disc(self, source: Source, item_id: str) -> None:
        if not self.another_copy:
            from workbench.station.drives import refuse_the_last_disc
            refuse_the_last_disc(self.con, self.settings.station_id, source, item_id)

    def _continue(self, item_id: str, batch: str, review: bool, review_partial: bool,
                  imaged: bool = False) -> MigrationResult:
        """After imaging: stop for review, or accept (lock held by the caller)."""
        st = state_of(self.con, item_id, self.settings.tape_pools)
        result = self.result_of(item_id)
        attempt = str(st.attempt["attempt"]) if st.attempt else ""
        if imaged:
            result.steps.append(("imaging", result.record.outcome,
                                 imaging_detail(self.con, result.record)))
        if st.state is State.IMAGED and (review or (review_partial and
                                                    result.record.outcome == "partial")):
            if review:
                self._identify(result, attempt)
            return result
        if st.state is State.IMAGED:
            self._accept(st, result, batch or st.batch, stage=True)
        elif st.bag is not None:  # bagged before (a crash, or run again): on to tape
            if imaged:  # never another station's bag as this imaging's result
                refuse_overtaken(self, st)
            result.bag = Path(st.bag.path)
            if st.state is State.BAGGED:
                result.copies = self.tapes.stage_one(result.bag, result, attempt)
        result.state = state_of(self.con, item_id, self.settings.tape_pools).state
        return result

    # -- accepting -----------------------------------------------------------------------

    def accept(self, item_id: str, batch: str | None = None, stage: bool = True,
               bag_count: str | None = None) -> MigrationResult:
        """Verify the image, identify, bag (a new version after a withdrawal), and stage
        the bag to tape when tapes are mounted."""
        lock, st = self._begin(item_id, Action.ACCEPT)
        try:
            result = self.result_of(st.item_id)
            self._accept(st, result, batch if batch is not None else st.batch, stage,
                         bag_count)
            result.state = state_of(self.con, st.item_id, self.settings.tape_pools).state
            return result
        finally:
            lock.release()

    def _accept(self, st: CarrierState, result: MigrationResult, batch: str, stage: bool,
                bag_count: str | None = None) -> None:
        from workbench.package.carrier import bag_job
        assert st.attempt is not None and st.state is State.IMAGED
        attempt, record, job = str(st.attempt["attempt"]), result.record, result.job_dir
        from workbench.station.recover import bag_image_digest, set_aside_stale_bag
        version = len(st.bags) + 1
        name = bag_name(st.item_id, version)
        target = self.settings.paths.bags / name
        first, digests = (record.payload() or [("", {})])[0]
        if target.exists() and bag_image_digest(target, first) != \
                digests.get("sha256"):  # a crashed accept of an earlier image
            aside = set_aside_stale_bag(target)
            self._step(result, attempt, "packaging", "set aside", str(aside), utc_now(),
                       key=str(aside))
        if not target.exists():  # else: a crash after bagging this very image
            started = utc_now()
            ok, detail = verify_image(job, record, self.cancel)
            self._step(result, attempt, "verification", "success" if ok else "failed",
                       detail, started, key=digests.get("sha256", ""))
            if not ok:
                raise IntegrityFailure("error.verify_failed", item=record.item_id,
                                       detail=detail)
            self._identify(result, attempt)
        started = utc_now()
        from workbench.station.metadata import carrier_tags
        bag = bag_job(job, self.settings, batch=batch or None, bag_count=bag_count,
                      progress=lambda p: self.progress("bag", p), cancel=self.cancel,
                      name=name, carrier=carrier_tags(self, st.item_id))
        ledger.record_bag(self.con, attempt, record.item_id, self.settings.station_id,
                          bag.path, bag.payload_oxum, version, digests.get("sha256", ""))
        self._step(result, attempt, "packaging", "success",
                   f"{bag.path} ({bag.payload_oxum})", started, key=bag.payload_oxum)
        result.bag = bag.path
        if stage:
            result.copies = self.tapes.stage_one(bag.path, result, attempt)

    def _identify(self, result: MigrationResult, attempt: str) -> dict[str, Any]:
        """The format report (kept in the job folder, made again when the image or the
        map changed), recorded in the ledger."""
        from workbench.package.carrier import format_report

        record, job = result.record, result.job_dir
        started = utc_now()
        format_report(job, record, self.settings, lambda p: self.progress("identify", p),
                      self.cancel)
        try:
            report: dict[str, Any] = json.loads(
                (job / "formats.json").read_text(encoding="utf-8"))
        except ValueError as exc:  # written atomically: damaged after the fact
            raise IntegrityFailure("error.report_damaged", file=str(job / "formats.json"),
                                   detail=str(exc)) from exc
        ledger.record_formats(self.con, attempt, record.item_id, self.settings.station_id,
                              report["files"])
        summary = report["summary"]
        cut = summary.get("incomplete_volumes", [])
        # a listing cut short (time limit, a reader that failed) is never a success
        complete = report.get("complete", True) and not cut
        detail = (f"{summary['files']} files, {len(summary['unidentified'])} unidentified"
                  + ("" if complete else "; not listed in full: volume "
                     + ", ".join(str(i + 1) for i in cut)))
        self._step(result, attempt, "identification", "success" if complete else "incomplete",
                   detail, started, key=report.get("started", ""))
        result.report = report
        return report

    # -- routing, notes, withdrawal ---------------------------------------------------------

    def route(self, item_id: str, outcome: str, note: str = "") -> CarrierState:
        """Send the carrier to other equipment (needs_flux, audio_disc)."""
        if outcome not in ("needs_flux", "audio_disc"):
            raise BadInput("station.bad_route", route=outcome)
        lock, st = self._begin(item_id, Action.ROUTE)
        try:
            ledger.mark(self.con, st.item_id, outcome, note, self.settings.operator)
            return self.state(st.item_id)
        finally:
            lock.release()

    def note(self, item_id: str, text: str) -> None:
        """A technician's note on the carrier's current attempt (an event, kept)."""
        lock, st = self._begin(item_id, Action.NOTE)
        try:
            assert st.attempt is not None
            now = utc_now()
            ledger.record_event(self.con, str(st.attempt["attempt"]), st.item_id,
                                self.settings.station_id, "note", now, now, "recorded", text,
                                key=text)
        finally:
            lock.release()

    def withdraw(self, item_id: str, reason: str) -> CarrierState:
        """Withdraw this station's bag of the carrier (it stays, with its tape copies,
        listed as superseded); the carrier may then be imaged again into a new bag
        version. Another station's bag is refused naming it (station/withdrawal.py)."""
        from workbench.station.withdrawal import withdraw
        return withdraw(self, item_id, reason)

    # -- tape (the desk holds the tape lock) ---------------------------------------------------

    def release(self, item_id: str) -> list[Path]:
        lock, st = self._begin(item_id, Action.RELEASE)
        try:
            return self.tapes.release(st)
        finally:
            lock.release()
