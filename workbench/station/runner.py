"""Several drives at once: one imaging worker per busy drive, and a background queue that
verifies, identifies, bags and stages finished carriers without holding a drive.

    runner = StationRunner(settings, auto_accept=True)
    runner.start(Job("CD-1", "/dev/sr0", "cd"))      # the drive images; start returns
    runner.drives()                                   # snapshots for the board
    runner.accept("FD-7")                             # the technician accepts: background
    runner.shutdown(deadline=10)                      # cancel all, join within the deadline

Each worker opens its own Station (its own SQLite connection) and the per-item locks keep
two workers off one carrier. The front ends read only frozen snapshots (DriveView,
CarrierView), never the workers' objects. What happens after imaging is decided here,
once: a success is accepted in the background when auto-accept is on, a partial carrier
only when the batch says so; anything else waits for the technician (status "review"),
with its identification done in the background so the result screen shows its formats.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from workbench.config import Settings
from workbench.errors import Refused, WorkbenchError
from workbench.imaging.rescue import Cancelled
from workbench.station.background import (
    ACCEPTING,
    FAILED,
    IDENTIFYING,
    QUEUED,
    REVIEW,
    STAGING,
    TaskOutcome,
    Worker,
)
from workbench.station.background import DONE as DONE  # the boards ask the runner
from workbench.station.core import Station
from workbench.station.locks import Holder, drive_holder
from workbench.station.result import ImagingProgress, MigrationResult, imaging_detail
from workbench.station.states import Action, NotAllowed, State
from workbench.station.view import state_of

# a drive's phase
IDLE, WAITING, IMAGING, CANCELLING, FINISHED, ERROR = (
    "idle", "waiting", "imaging", "cancelling", "finished", "error")


@dataclass(frozen=True)
class Job:
    """One carrier for one drive: a first imaging, a resume, or a retry."""
    item_id: str
    drive: str
    profile_id: str = ""
    batch: str = ""
    retry: bool = False
    retries: int | None = None
    keep_going: bool = False
    another_copy: bool = False
    command: str = ""


@dataclass(frozen=True)
class DriveView:
    """A drive as the board shows it (a snapshot: safe to read on any thread)."""
    drive: str
    job: Job | None = None
    phase: str = IDLE
    progress: ImagingProgress | None = None
    outcome: str = ""  # the last imaging's outcome
    error: str = ""
    carriers: int = 0  # carriers this drive imaged since the runner started
    read_seconds: float = 0.0  # the time it spent imaging them

    @property
    def busy(self) -> bool:
        return self.phase in (WAITING, IMAGING, CANCELLING)

    @property
    def item_id(self) -> str:
        return self.job.item_id if self.job else ""

    @property
    def fraction(self) -> float:
        p = self.progress
        if p is None:
            return 1.0 if self.phase == FINISHED else 0.0
        return p.pass_fraction if p.per_pass else p.fraction

    @property
    def rate(self) -> float:
        return self.progress.rate if self.progress else 0.0

    @property
    def eta(self) -> float | None:
        p = self.progress
        return None if p is None else p.pass_eta if p.per_pass else p.eta


@dataclass(frozen=True)
class CarrierView:
    """A carrier after its drive: waiting, in the background queue, done or failed."""
    item_id: str
    drive: str
    outcome: str  # the imaging outcome
    status: str
    state: str = ""  # the station's state after the last step (State value)
    error: str = ""
    steps: tuple[tuple[str, str, str], ...] = ()
    result: MigrationResult | None = field(default=None, compare=False)


class _DriveStation(Station):
    """A Station whose imaging stops after imaging: identification, bagging and tape
    are the background queue's, so the drive is free at once."""

    def _continue(self, item_id: str, batch: str, review: bool, review_partial: bool,
                  imaged: bool = False) -> MigrationResult:
        result = self.result_of(item_id)
        if imaged:
            result.steps.append(("imaging", result.record.outcome,
                                 imaging_detail(self.con, result.record)))
        result.state = state_of(self.con, item_id, self.settings.tape_pools).state
        return result


@dataclass
class _Slot:
    view: DriveView
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    last_item: str = ""


Listener = Callable[[str, Any], None]  # ("drive", DriveView) / ("carrier", CarrierView)


class StationRunner:
    def __init__(self, settings: Settings, auto_accept: bool = True,
                 accept_partial: bool = False, accept_workers: int = 1,
                 next_disc: bool = True, listener: Listener | None = None) -> None:
        self.settings = settings
        self.auto_accept, self.accept_partial = auto_accept, accept_partial
        self.next_disc = next_disc  # a drive's next carrier waits for another disc
        self.listener = listener
        self._lock = threading.Condition()
        self._slots: dict[str, _Slot] = {}
        self._carriers: dict[str, CarrierView] = {}
        # accepting (verify, identify, bag) may run in several workers; tape staging runs
        # in one, as the station has one tape writer (the tape lock)
        self._tasks: queue.Queue[tuple[str, str, str | None] | None] = queue.Queue()
        self._tape: queue.Queue[tuple[str, str, str | None] | None] = queue.Queue()
        self._active_tasks = 0
        self._told_elsewhere: dict[str, Holder] = {}
        self._stop = threading.Event()
        self._background_workers: list[Worker] = []
        self._close_deadline = 10.0
        self._workers = [threading.Thread(target=self._background, args=(self._tasks,),
                                          daemon=True, name=f"accept-{n}")
                         for n in range(max(1, accept_workers))]
        self._workers.append(threading.Thread(target=self._background, args=(self._tape,),
                                              daemon=True, name="tape"))
        for worker in self._workers:
            worker.start()

    # -- reading (snapshots) ---------------------------------------------------------

    def drives(self) -> list[DriveView]:
        with self._lock:
            return [slot.view for slot in self._slots.values()]

    def drive(self, path: str) -> DriveView:
        with self._lock:
            slot = self._slots.get(path)
            return slot.view if slot else DriveView(path)

    def carriers(self) -> list[CarrierView]:
        """Every carrier the runner handled, in the order their drives finished."""
        with self._lock:
            return list(self._carriers.values())

    def carrier(self, item_id: str) -> CarrierView | None:
        with self._lock:
            return self._carriers.get(item_id)

    def busy(self) -> bool:
        """A drive imaging or a carrier in the background queue."""
        with self._lock:
            return self._busy()

    def _busy(self) -> bool:
        return any(s.view.busy for s in self._slots.values()) or self._active_tasks > 0

    # -- drives ----------------------------------------------------------------------

    def start(self, job: Job) -> None:
        """Image job's carrier on its drive in a worker; Refused when the drive is busy."""
        with self._lock:
            slot = self._slots.get(job.drive)
            if slot is not None and slot.view.busy:
                raise Refused("board.drive_busy", drive=job.drive, item=slot.view.item_id)
            if self._stop.is_set():
                raise Refused("board.shutting_down")
            holder = self.elsewhere(job.drive)
            if holder is not None:  # another process images on it: never two readers
                raise Refused("station.drive_locked", drive=job.drive, item=job.item_id,
                              holder_item=holder.item or "?", station=holder.station,
                              pid=holder.pid, host=holder.host, since=holder.since)
            busy = next((s.view.drive for s in self._slots.values()
                         if s.view.busy and s.view.item_id == job.item_id), None)
            if busy is not None:
                raise Refused("board.item_busy", item=job.item_id, drive=busy)
            previous = slot.view if slot else DriveView(job.drive)
            slot = _Slot(replace(previous, job=job, phase=WAITING, progress=None,
                                 outcome="", error=""),
                         last_item=slot.last_item if slot else "")
            self._slots[job.drive] = slot
            self._carriers.pop(job.item_id, None)
            slot.thread = threading.Thread(target=self._image, args=(slot, job), daemon=True,
                                           name=f"drive {job.drive}")
            slot.thread.start()
        self._tell("drive", slot.view)

    def cancel(self, drive: str) -> None:
        """Stop one drive after its current read (the map is saved; the job resumes)."""
        with self._lock:
            slot = self._slots.get(drive)
            if slot is None or not slot.view.busy:
                return
            slot.cancel.set()
            slot.view = replace(slot.view, phase=CANCELLING)
        self._tell("drive", slot.view)

    def elsewhere(self, drive: str) -> Holder | None:
        """Who images on drive in another process (or another runner) now."""
        with self._lock:
            slot = self._slots.get(drive)
            if slot is not None and slot.view.busy:
                return None  # ours: its lock is our worker's
        return drive_holder(self.settings.paths.logs / "locks", drive)

    def free(self, drives: list[str]) -> list[str]:
        with self._lock:
            return [d for d in drives if self._free(d)]

    def _free(self, drive: str) -> bool:
        """Not busy here, nor imaging in another process (said once per holder, as
        ("elsewhere", (drive, holder)) to the listener)."""
        slot = self._slots.get(drive)
        if slot is not None and slot.view.busy:
            return False
        holder = drive_holder(self.settings.paths.logs / "locks", drive)
        if holder is not None and self._told_elsewhere.get(drive) != holder:
            self._told_elsewhere[drive] = holder
            self._tell("elsewhere", (drive, holder))
        return holder is None

    def wait_for_free(self, drives: list[str], timeout: float) -> str | None:
        """The first of drives that is free, waiting at most timeout seconds (a drive
        another process images on is looked at again each second)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                free = [d for d in drives if self._free(d)]
                left = deadline - time.monotonic()
                if free or left <= 0 or self._stop.is_set():
                    return free[0] if free else None
                self._lock.wait(min(left, 1.0))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no drive images and the background queue is empty."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 1.0))
            return True

    def _set(self, slot: _Slot, **changes: Any) -> None:
        with self._lock:
            slot.view = replace(slot.view, **changes)
            self._lock.notify_all()
        if "progress" not in changes or len(changes) > 1:
            self._tell("drive", slot.view)

    def _image(self, slot: _Slot, job: Job) -> None:
        def progress(step: str, p: object) -> None:
            if step == "image" and isinstance(p, ImagingProgress):
                self._set(slot, progress=p)

        started = time.monotonic()
        try:
            with _DriveStation(self.settings, progress, slot.cancel) as station:
                station.another_copy = job.another_copy
                st = station.state(job.item_id)
                if not job.retry and st.state in (State.IMAGED, State.BAGGED,
                                                  State.ON_TAPE):
                    raise NotAllowed(st.item_id, st.state, Action.IMAGE)
                if self.next_disc and slot.last_item and slot.last_item != job.item_id:
                    station.wait_for_next_disc(job.drive, slot.last_item,
                                               lambda: self._tell("disc", replace(
                                                   slot.view, job=replace(
                                                       job, item_id=slot.last_item))))
                self._set(slot, phase=CANCELLING if slot.cancel.is_set() else IMAGING)
                started = time.monotonic()
                if job.retry:
                    result = station.retry(job.item_id, retries=job.retries, drive=job.drive,
                                           command=job.command, keep_going=job.keep_going)
                else:
                    result = station.migrate(job.drive, station.profiles[job.profile_id],
                                             job.item_id, batch=job.batch,
                                             retries=job.retries, command=job.command)
        except Exception as exc:  # a worker never dies silently: the board says it
            self._failed(slot, job, exc, time.monotonic() - started)
            return
        seconds = time.monotonic() - started
        slot.last_item = job.item_id
        # queued before the drive says it is free: no one sees the runner idle between
        self._after_imaging(job, result)
        self._set(slot, phase=FINISHED, outcome=result.record.outcome,
                  carriers=slot.view.carriers + 1,
                  read_seconds=slot.view.read_seconds + seconds)

    def _failed(self, slot: _Slot, job: Job, exc: Exception, seconds: float) -> None:
        from workbench.i18n import t
        if isinstance(exc, Cancelled):  # cancelled while waiting for the next disc
            message, outcome = t("board.cancelled"), "aborted"
        elif isinstance(exc, WorkbenchError):
            message, outcome = exc.message(), "error"
        else:
            message, outcome = f"{type(exc).__name__}: {exc}", "error"
        self._put(CarrierView(job.item_id, job.drive, outcome, FAILED, error=message))
        self._set(slot, phase=FINISHED if isinstance(exc, Cancelled) else ERROR,
                  outcome=outcome, error=message,
                  read_seconds=slot.view.read_seconds + seconds)

    # -- after the drive --------------------------------------------------------------

    def _after_imaging(self, job: Job, result: MigrationResult) -> None:
        outcome = result.record.outcome
        view = CarrierView(job.item_id, job.drive, outcome, QUEUED, result.state.value,
                           steps=tuple(result.steps), result=result)
        if result.state is not State.IMAGED:  # failed, aborted, routed: the technician's
            self._put(replace(view, status=REVIEW))
        elif (outcome == "success" and self.auto_accept) or \
                (outcome == "partial" and self.accept_partial):
            self._queue(view, "accept", None)  # the batch recorded at imaging
        else:
            self._queue(replace(view, status=IDENTIFYING), "review", None)

    def after_imaging(self, item_id: str) -> None:
        """A carrier a stopped batch left imaged: what happens after imaging, now (accept
        in the background, or identify and wait for review)."""
        with Station(self.settings) as station:
            result = station.result_of(item_id)
            result.state = station.state(item_id).state
        self._after_imaging(Job(item_id, str(result.record.drive.get("path") or "")), result)

    def accept(self, item_id: str, batch: str | None = None, drive: str = "") -> None:
        """The technician accepts a carrier: verify, identify, bag and stage it in the
        background (its status says how it went)."""
        old = self.carrier(item_id)
        view = old if old is not None else CarrierView(item_id, drive, "", QUEUED)
        self._queue(replace(view, status=QUEUED, error=""), "accept", batch)

    def _queue(self, view: CarrierView, kind: str, batch: str | None) -> None:
        with self._lock:
            self._active_tasks += 1
        self._put(view)
        self._tasks.put((kind, view.item_id, batch))

    def _put(self, view: CarrierView) -> None:
        with self._lock:
            self._carriers.pop(view.item_id, None)  # the latest goes last
            self._carriers[view.item_id] = view
            self._lock.notify_all()
        self._tell("carrier", view)

    def _update(self, item_id: str, **changes: Any) -> None:
        with self._lock:
            view = self._carriers.get(item_id)
            if view is not None:
                view = self._carriers[item_id] = replace(view, **changes)
            self._lock.notify_all()
        if view is not None:
            self._tell("carrier", view)

    def _background(self, tasks: queue.Queue[tuple[str, str, str | None] | None]) -> None:
        worker = Worker(self.settings)
        with self._lock:
            self._background_workers.append(worker)
        try:
            while True:
                task = tasks.get()
                if task is None:
                    return
                kind, item_id, batch = task
                try:
                    if self._stop.is_set():
                        self._update(item_id, status=FAILED, error=self._stopped())
                        continue
                    self._update(item_id, status={"accept": ACCEPTING, "tape": STAGING}.get(
                        kind, IDENTIFYING))
                    self._apply(item_id, worker.run(kind, item_id, batch))
                finally:
                    with self._lock:
                        self._active_tasks -= 1
                        self._lock.notify_all()
        finally:
            worker.close(self._close_deadline)

    @staticmethod
    def _stopped() -> str:
        from workbench.i18n import t
        return t("board.stopped")

    def _apply(self, item_id: str, outcome: TaskOutcome) -> None:
        """A task's outcome on the carrier's view; an accepted carrier goes to tape."""
        changes: dict[str, Any] = {"status": outcome.status, "error": outcome.error}
        if outcome.state or outcome.result is not None:
            changes["state"] = outcome.state
        if outcome.result is not None:
            steps = outcome.steps
            if outcome.append:
                old = self.carrier(item_id)
                steps = (old.steps if old else ()) + steps
            changes.update(steps=steps, result=replace(outcome.result, steps=list(steps)))
        if outcome.then_tape:
            with self._lock:
                self._active_tasks += 1
        self._update(item_id, **changes)
        if outcome.then_tape:
            self._tape.put(("tape", item_id, None))

    def _tell(self, kind: str, view: object) -> None:
        if self.listener is not None:
            with contextlib.suppress(Exception):  # a listener's fault never stops a worker
                self.listener(kind, view)

    # -- the end ----------------------------------------------------------------------

    def shutdown(self, deadline: float = 10.0, cancel: bool = True) -> bool:
        """Cancel every drive (and the background work, when cancel), then wait for the
        workers within deadline seconds. False when some did not stop in time (they are
        daemon threads: what they leave is what a crash leaves, which the next run
        resumes)."""
        end = time.monotonic() + deadline
        with self._lock:
            slots = list(self._slots.values())
        if cancel:
            for slot in slots:
                self.cancel(slot.view.drive)
        else:
            self.wait_idle(max(0.0, end - time.monotonic()))
        self._stop.set()
        self._close_deadline = max(0.0, end - time.monotonic())
        with self._lock:
            for worker in self._background_workers:
                worker.stop()
        for _ in self._workers:
            self._tasks.put(None)
        self._tape.put(None)
        threads = [s.thread for s in slots if s.thread is not None] + self._workers
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
        with self._lock:
            self._lock.notify_all()
        return not any(thread.is_alive() for thread in threads)
