"""What happens to a carrier after its drive (verify, identify, bag, stage to tape), run
away from the drives and the screen.

Bagging and tape copies are Python work as much as disk work: in the process that runs
the station's screen and its drives' readers they take the interpreter from both (a key
press waited 200 ms for it). So each background worker is a process of its own by
default, fed one task at a time over a pipe; the runner's threads only wait for answers.
$WORKBENCH_BACKGROUND=thread runs the tasks in the calling thread instead (the test
suite sets it: starting a process and loading fido's signatures costs a second or two
per runner). Either way one function, perform(), does the work.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import threading
import time
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

from workbench.config import Settings
from workbench.errors import BadInput, WorkbenchError
from workbench.imaging.rescue import Cancelled
from workbench.spawning import become_worker, real_stderr, spawn_can_start
from workbench.station.core import Station
from workbench.station.result import MigrationResult

# a background task's status; "review" waits for the technician, "failed" says why
QUEUED, IDENTIFYING, ACCEPTING, STAGING, REVIEW, DONE, FAILED = (
    "queued", "identifying", "accepting", "staging", "review", "done", "failed")
MODE_ENV = "WORKBENCH_BACKGROUND"
STOP_GRACE = 30.0  # seconds a stopped task may take to reach its next cancel check


@dataclass(frozen=True)
class TaskOutcome:
    """How one task ended; sent back from a worker process, so plain data."""
    status: str
    state: str = ""
    steps: tuple[tuple[str, str, str], ...] = ()
    result: MigrationResult | None = None
    error: str = ""
    append: bool = False  # steps follow the carrier's earlier steps (else replace them)
    then_tape: bool = False  # accepted: the carrier goes on to the tape worker


def in_processes() -> bool:
    """Whether background tasks run in worker processes ($WORKBENCH_BACKGROUND)."""
    mode = os.environ.get(MODE_ENV, "").strip() or "process"
    if mode not in ("process", "thread"):
        raise BadInput("error.bad_value", file="environment", key=MODE_ENV,
                       value=repr(mode), allowed="process, thread")
    return mode == "process" and spawn_can_start()


def perform(settings: Settings, kind: str, item_id: str, batch: str | None,
            cancel: threading.Event) -> TaskOutcome:
    """One task: "accept" (verify, identify, bag), "tape" (stage a bagged carrier) or
    "review" (identify while the carrier waits for the technician's decision)."""
    from workbench.i18n import t
    try:
        with Station(settings, cancel=cancel) as station:
            if kind == "accept":
                result = station.accept(item_id, batch=batch, stage=False)
                return TaskOutcome(STAGING, result.state.value, tuple(result.steps), result,
                                   then_tape=True)
            st = station.state(item_id)
            profile = station.profiles[str(st.attempt["profile_id"])] if st.attempt else None
            if profile is None:
                raise BadInput("board.background.not_imaged", item=item_id)
            if kind == "tape":  # a bagged carrier goes on to tape (when mounted)
                result = station.migrate(None, profile, item_id)
                return TaskOutcome(DONE, result.state.value, tuple(result.steps), result,
                                   append=True)
            result = station.migrate(None, profile, item_id, review=True)
            return TaskOutcome(REVIEW, result.state.value,
                               tuple(s for s in result.steps if s[0] != "imaging"), result,
                               append=True)
    except Cancelled:
        return TaskOutcome(FAILED, error=t("board.stopped"))
    except WorkbenchError as exc:  # recorded and shown; never lost, never a success
        return TaskOutcome(REVIEW if kind == "review" else FAILED,
                           state=state_now(settings, item_id), error=exc.message())
    except Exception as exc:
        return TaskOutcome(FAILED, state=state_now(settings, item_id),
                           error=f"{type(exc).__name__}: {exc}")


def state_now(settings: Settings, item_id: str) -> str:
    try:
        with Station(settings) as station:
            return station.state(item_id).state.value
    except (WorkbenchError, OSError):
        return ""


@contextlib.contextmanager
def identify_pool(settings: Settings) -> Any:
    """One identification pool per background worker, kept from carrier to carrier
    (starting fido's worker processes costs seconds per carrier)."""
    from workbench.identify.engine import shared_pool
    from workbench.identify.pool import IdentifyPool
    from workbench.identify.signatures import store_dir
    with IdentifyPool(None, str(store_dir(settings.paths.ledger))) as pool, \
            shared_pool(pool):
        yield


_alive: weakref.WeakSet[Worker] = weakref.WeakSet()


@atexit.register
def _end_all() -> None:
    """At exit, before multiprocessing joins its children: end ours (a runner that was
    not shut down would otherwise keep the interpreter waiting on its workers)."""
    for worker in list(_alive):
        worker.close(2.0)


class Worker:
    """Runs background tasks one at a time, in a process of its own (started on the
    first task, started again if it died) or in the calling thread."""

    def __init__(self, settings: Settings, separate: bool | None = None) -> None:
        self.settings = settings
        self.separate = in_processes() if separate is None else separate
        self._cancel = threading.Event()
        self._stack = contextlib.ExitStack()  # this thread's identification pool
        self._pooled = False
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._stop: ProcessEvent | None = None
        self._stopped_at = 0.0

    def run(self, kind: str, item_id: str, batch: str | None) -> TaskOutcome:
        if not self.separate:
            if kind != "tape" and not self._pooled:
                self._stack.enter_context(identify_pool(self.settings))
                self._pooled = True
            return perform(self.settings, kind, item_id, batch, self._cancel)
        conn = self._child()
        conn.send((kind, item_id, batch))
        return self._answer(conn, item_id)

    def _answer(self, conn: Connection, item_id: str) -> TaskOutcome:
        """The worker's answer; a worker that died or ignores a stop is said so."""
        from workbench.i18n import t
        assert self._process is not None
        while True:
            try:
                if conn.poll(0.2):
                    outcome: TaskOutcome = conn.recv()
                    return outcome
            except (EOFError, OSError):
                pass  # it died mid-answer: said below
            if not self._process.is_alive() or self._overdue():
                code = self._end_child(0.0)
                return TaskOutcome(FAILED, state=state_now(self.settings, item_id),
                                   error=t("board.background.worker_ended", code=str(code)))

    def _overdue(self) -> bool:
        return bool(self._stopped_at) and time.monotonic() - self._stopped_at > STOP_GRACE

    def _child(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn:
            return self._conn
        self._end_child(0.0)
        from workbench.i18n import language
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        with real_stderr():  # its Event starts multiprocessing's resource tracker
            self._stop = ctx.Event()
            if self._cancel.is_set():
                self._stop.set()
            # not a daemon: it starts identification workers of its own (ended by _alive
            # at exit, by its parent-watchdog when this process is killed)
            process = ctx.Process(target=_serve, name="workbench-background",
                                  args=(theirs, self.settings, language(), self._stop,
                                        os.getpid()))
            process.start()
        theirs.close()
        self._process, self._conn = process, ours
        _alive.add(self)
        return ours

    def stop(self) -> None:
        """Cancel the running task at its next check (the station cancels cleanly: what
        is left is resumed by the next run)."""
        self._cancel.set()
        self._stopped_at = self._stopped_at or time.monotonic()
        if self._stop is not None:
            self._stop.set()

    def close(self, deadline: float = 10.0) -> None:
        """End the worker: its process gets deadline seconds to finish, then is killed."""
        self._end_child(deadline)
        self._stack.close()

    def _end_child(self, deadline: float) -> int | None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is None:
            return None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        process.join(deadline)
        if process.is_alive():
            process.kill()
            process.join(5.0)
        if conn is not None:
            conn.close()
        return process.exitcode


def _serve(conn: Connection, settings: Settings, lang: str, stop: ProcessEvent,
           parent: int) -> None:
    """A worker process: tasks in, outcomes out, until told to end or the pipe closes."""
    become_worker(parent)
    from workbench.i18n import set_language
    set_language(lang)
    cancel = threading.Event()  # the station's cancel, set when the parent stops us

    def watch() -> None:
        stop.wait()
        cancel.set()
    threading.Thread(target=watch, daemon=True, name="stop-watch").start()
    with contextlib.ExitStack() as stack:
        pooled = False
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            kind, item_id, batch = task
            if kind != "tape" and not pooled:
                stack.enter_context(identify_pool(settings))
                pooled = True
            conn.send(perform(settings, kind, item_id, batch, cancel))
