"""An unattended disc batch: load, migrate, unload or reject, until the stack is empty.

    summary = AutoloadBatch(station, loader, tray, options, notify).run()

The rules, here and nowhere else:
- Item IDs come from a list (in stack order) or a counter (prefix + number), one per
  disc loaded, rejected discs included (the reject bin keeps the stack's order). The
  next ID must be unused (not in the ledger, never given to a disc) before a disc is
  loaded, else the batch stops before anything moves.
- After a load the drive must see a medium within the autoloader's medium_wait_seconds,
  else the disc is rejected (no_medium).
- Each disc goes through the Station (image, verify, identify, bag, stage). Bagged: to
  the done bin (a partial one marked partial, accept="partial"); a partial kept imaged
  for review (accept="review"), a failed read, a refusal: to the reject bin, with why.
- Each disc's end is recorded in the ledger (an "autoloader" event) before it moves.
- A journal (logs/autoload/<batch>.json, written atomically) says where the batch is. A
  crash or Ctrl-C leaves the disc in the drive; the next run resumes it under the same ID
  (the imaging map continues), so nothing is imaged twice and nothing is lost.
- A robot that fails stops the batch where it is (AutoloaderFailed, exit 5).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.atomic import write_atomic
from workbench.errors import (
    Aborted,
    BadInput,
    IntegrityFailure,
    Refused,
    WorkbenchError,
)
from workbench.imaging.preflight import check_item_id
from workbench.imaging.record import utc_now
from workbench.imaging.rescue import Cancelled
from workbench.ledger import record as ledger
from workbench.ledger.night import STEP, has_disposition
from workbench.station.autoload.loaders import Autoloader
from workbench.station.autoload.tray import Tray, wait_for_medium
from workbench.station.core import RESUMABLE_FAILURES
from workbench.station.locks import Lock, autoload_file, held
from workbench.station.states import NotAllowed, State

if TYPE_CHECKING:
    from workbench.profiles import MediaProfile
    from workbench.station.core import Station
    from workbench.station.result import MigrationResult

ACCEPT = ("partial", "review")
Notify = Callable[[str, dict[str, Any]], None]
DONE_STATES = (State.BAGGED, State.ON_TAPE, State.RELEASED)
NEEDS_MEDIUM = (State.NEW, State.INTERRUPTED, State.FAILED)


@dataclass(frozen=True)
class BatchOptions:
    batch: str
    drive: str
    prefix: str = ""
    start: int = 1
    digits: int = 4
    items: tuple[str, ...] = ()  # the stack's IDs, top to bottom (else the counter)
    accept: str = "partial"  # a partial carrier: bagged to the done bin, or held for review
    profile: str = ""  # "": each disc's own (a training disc's, or from its size)
    command: str = ""  # the command line, for the job records


@dataclass
class Disposition:
    """Where a disc went and why."""

    item: str
    status: str  # done | partial | rejected
    reason: str = ""  # a reason code (reason.* of the imaging record, or autoload.why.*)
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # the reason in English words, as it was at the time

    @property
    def bin(self) -> str:
        return "reject" if self.status == "rejected" else "done"


@dataclass
class Journal:
    """Where a batch is: which ID comes next, and what is in the drive."""

    batch: str
    drive: str
    loader: str
    prefix: str = ""
    number: int = 1
    digits: int = 4
    items: list[str] = field(default_factory=list)
    position: int = 0
    phase: str = "idle"  # idle | loading | in_drive | unloading | rejecting
    item: str = ""
    loaded: str = ""
    profile: str = ""
    disposition: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    path: Path = Path()

    def next_id(self) -> str | None:
        if self.items:
            return self.items[self.position] if self.position < len(self.items) else None
        return f"{self.prefix}{self.number:0{self.digits}d}"

    def advance(self) -> None:
        if self.items:
            self.position += 1
        else:
            self.number += 1

    def save(self) -> None:
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: Path) -> Journal | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            names = {f.name for f in fields(cls)} - {"path"}
            return cls(**{k: v for k, v in data.items() if k in names}, path=path)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise BadInput("autoload.bad_journal", file=str(path), detail=str(exc)) from exc


@dataclass
class BatchSummary:
    batch: str
    ended: str = ""  # empty (the stack) | no_more_ids
    discs: list[Disposition] = field(default_factory=list)  # this run's
    totals: dict[str, int] = field(default_factory=dict)  # the whole batch's

    def count(self, status: str) -> int:
        return sum(1 for d in self.discs if d.status == status)


def read_items(path: Path) -> tuple[str, ...]:
    """An items file: one ID a line in stack order (top first); blank lines, # comments
    and an "item" header are skipped; in a CSV line the first field is the ID."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput("autoload.bad_items", file=str(path), detail=str(exc)) from exc
    ids = [line.split(",")[0].strip().strip('"') for line in lines
           if line.strip() and not line.lstrip().startswith("#")]
    return tuple(check_item_id(i) for i in ids if i.lower() != "item")


def journal_path(station: Station, batch: str) -> Path:
    return station.settings.paths.logs / "autoload" / f"{check_item_id(batch)}.json"


class AutoloadBatch:
    def __init__(self, station: Station, loader: Autoloader, tray: Tray,
                 options: BatchOptions, notify: Notify | None = None) -> None:
        if options.accept not in ACCEPT:
            raise BadInput("autoload.bad_accept", accept=options.accept)
        self.station, self.loader, self.tray, self.options = station, loader, tray, options
        self.cancel = station.cancel
        self.notify: Notify = notify or (lambda kind, fields: None)
        self.medium_wait = station.settings.autoloader.medium_wait_seconds
        self.summary = BatchSummary(options.batch)

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> BatchSummary:
        with held(self._drive_lock()):
            j = self._journal()
            if j.phase == "idle":
                self.loader.prepare()
            while True:
                if self.cancel.is_set():
                    raise Cancelled()
                if j.phase == "loading":
                    self._recover_load(j)
                if j.phase == "idle" and not self._load(j):
                    break
                if j.phase == "in_drive":
                    d = self._carrier(j)
                    self._record(j, d)
                    j.phase = "unloading" if d.bin == "done" else "rejecting"
                    j.disposition = asdict(d)
                    j.save()
                if j.phase in ("unloading", "rejecting"):
                    self._take_out(j)
            self.summary.totals = dict(j.counts)
        return self.summary

    def _drive_lock(self) -> Lock:
        return Lock(autoload_file(self.station.locks, self.options.drive),
                    self.station.settings.station_id, "autoload", "autoload.drive_busy",
                    drive=self.options.drive)

    def _journal(self) -> Journal:
        o = self.options
        path = journal_path(self.station, o.batch)
        j = Journal.load(path)
        if j is not None:
            if j.drive != o.drive:
                raise BadInput("autoload.batch_elsewhere", batch=o.batch, drive=j.drive)
            self.notify("continue", {"batch": o.batch, "next": j.next_id() or "-",
                                     "item": j.item, "phase": j.phase})
            return j
        items = [check_item_id(i) for i in o.items]
        if len(set(items)) != len(items):
            raise BadInput("autoload.items_twice", batch=o.batch)
        if not items:
            if not o.prefix:
                raise BadInput("autoload.needs_ids", batch=o.batch)
            check_item_id(f"{o.prefix}{o.start:0{o.digits}d}")
        j = Journal(o.batch, o.drive, self.loader.name, o.prefix, o.start, o.digits,
                    items, path=path)
        j.save()
        return j

    def _load(self, j: Journal) -> bool:
        item = j.next_id()
        if item is None:
            self.summary.ended = "no_more_ids"
            self.notify("no_more_ids", {"batch": j.batch})
            return False
        st = self.station.state(item)
        if st.state is not State.NEW or has_disposition(self.station.con, st.item_id):
            raise Refused("autoload.id_in_use", item=item, state=st.state.value)
        j.phase, j.item = "loading", st.item_id
        j.save()
        self.notify("loading", {"item": item})
        if not self.loader.load():
            j.phase, j.item = "idle", ""
            j.save()
            if self.cancel.is_set():
                raise Cancelled()
            self.summary.ended = "empty"
            self.notify("empty", {"batch": j.batch})
            return False
        j.phase, j.loaded, j.profile = "in_drive", utc_now(), ""
        j.advance()
        j.save()
        return True

    def _recover_load(self, j: Journal) -> None:
        """A crash while the robot loaded: a disc the drive sees is that load's."""
        if wait_for_medium(self.tray, self.medium_wait, self.cancel):
            j.phase, j.loaded, j.profile = "in_drive", utc_now(), ""
            j.advance()
        else:
            j.phase, j.item = "idle", ""
        j.save()

    # -- one disc ---------------------------------------------------------------------

    def _carrier(self, j: Journal) -> Disposition:
        item = j.item
        st = self.station.state(item)
        if st.state is not State.NEW:
            self.notify("resume", {"item": item, "state": st.state.value})
        reason = str(st.attempt["reason_code"]) if st.attempt else ""
        if st.state is State.FAILED and reason not in RESUMABLE_FAILURES:
            # judged before a crash (a failed read is not read again unasked)
            result = self.station.result_of(item)
            result.state = st.state
            return self._judge(item, result)
        if st.state in NEEDS_MEDIUM and not wait_for_medium(self.tray, self.medium_wait,
                                                            self.cancel):
            if self.cancel.is_set():
                raise Cancelled()
            return Disposition(item, "rejected", "no_medium", {"path": self.options.drive},
                               "no medium seen after the load")
        profile = self._profile(j, str(st.attempt["profile_id"]) if st.attempt else "")
        if profile is None:
            return Disposition(item, "rejected", "no_profile", {}, "no media profile fits")
        self.notify("imaging", {"item": item, "profile": profile.label()})
        try:
            result = self.station.migrate(self.options.drive, profile, item,
                                          batch=self.options.batch,
                                          command=self.options.command,
                                          review_partial=self.options.accept == "review")
        except Aborted:
            raise  # the station's trouble (disk full), not the disc's: stop, resume later
        except (NotAllowed, Refused, IntegrityFailure, BadInput) as exc:
            kind = "not_allowed" if isinstance(exc, NotAllowed) else "refused" \
                if isinstance(exc, Refused) else "integrity" \
                if isinstance(exc, IntegrityFailure) else "bad_input"
            return Disposition(item, "rejected", kind, {"key": exc.key, **_plain(exc.params)},
                               exc.message("en"))
        return self._judge(item, result)

    def _judge(self, item: str, result: MigrationResult) -> Disposition:
        record = result.record
        reason = record.reason
        code, params, text = (reason.code, _plain(reason.params), reason.text) if reason \
            else ("", {}, "")
        if record.outcome not in ("success", "partial", "failed"):  # aborted: cancelled
            if self.cancel.is_set():
                raise Cancelled()
            raise Aborted("autoload.stopped", item=item, outcome=record.outcome)
        if result.state in DONE_STATES:
            if record.outcome == "partial":
                return Disposition(item, "partial", code, params, text)
            return Disposition(item, "done")
        if result.state is State.IMAGED:  # a partial held for review: retry or accept
            return Disposition(item, "rejected", "partial_review", params, text)
        return Disposition(item, "rejected", code or "failed", params, text)

    def _profile(self, j: Journal, known: str) -> MediaProfile | None:
        profiles = self.station.profiles
        chosen = known or j.profile or self.options.profile or self._detect()
        if chosen not in profiles:
            return None
        if j.profile != chosen:
            j.profile = chosen
            j.save()
        return profiles[chosen]

    def _detect(self) -> str:
        """The disc's own profile: a training disc names it; else by size and drive."""
        from workbench.imaging.sources import SourceGone, open_source
        from workbench.profiles import suggest_profile
        try:
            with open_source(self.options.drive, sector_size=2048) as source:
                hint = str(getattr(source, "profile_hint", ""))
                if hint:
                    return hint
                found = suggest_profile(self.station.profiles, source.size,
                                        source.sector_size, source.identity.transport)
                return found.id if found else ""
        except (SourceGone, WorkbenchError, OSError):
            return ""

    def _record(self, j: Journal, d: Disposition) -> None:
        st = self.station.state(d.item)
        attempt = str(st.attempt["attempt"]) if st.attempt else ""
        detail = json.dumps({"batch": j.batch, "drive": j.drive, "loader": j.loader,
                             "bin": d.bin, "reason": d.reason, "params": d.params,
                             "text": d.text}, ensure_ascii=False, default=str)
        ledger.record_event(self.station.con, attempt, d.item,
                            self.station.settings.station_id, STEP, j.loaded or utc_now(),
                            utc_now(), d.status, detail, key=f"{j.batch}|{j.loaded}")

    def _take_out(self, j: Journal) -> None:
        d = Disposition(**j.disposition)
        if self.station.settings.autoloader.open_tray or self.loader.name == "manual":
            self.tray.eject()
        if j.phase == "unloading":
            self.loader.unload(d.item)
        else:
            self.loader.reject(d.item)
        j.counts[d.status] = j.counts.get(d.status, 0) + 1
        j.phase, j.item, j.loaded, j.profile, j.disposition = "idle", "", "", "", {}
        j.save()
        self.summary.discs.append(d)
        self.notify("out", {"item": d.item, "status": d.status, "bin": d.bin,
                            "reason": d.reason})


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON keeps them (numbers, text)."""
    return {str(k): v if isinstance(v, int | float | str | bool) else str(v)
            for k, v in params.items()}
