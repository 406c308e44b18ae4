"""The station's tape desk: write, verify and release through the ledger.

One tape writer per station at a time (the tape lock): a tape drive writes one stream,
and the plan of one writer must not be spoilt by another. Every copy state goes into the
ledger (LedgerBook); the JSON catalogue beside it and on each tape is an export.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import Aborted, BadInput, IntegrityFailure, Refused
from workbench.i18n import human_bytes, t
from workbench.imaging.record import utc_now
from workbench.ledger import record as ledger
from workbench.station.book import LedgerBook
from workbench.station.locks import Lock, tape_lock
from workbench.station.states import Action, State, check
from workbench.station.view import CarrierState, state_of
from workbench.tape import readback, stage
from workbench.tape.catalogue import VERIFIED, CopyEntry
from workbench.tape.plan import Assignment, Unplaced
from workbench.tape.tapes import Tape, Unreadable, label_tape, load_generations

if TYPE_CHECKING:
    from workbench.station.core import MigrationResult, Station
    from workbench.station.reverify import Checked

TapeProgress = Callable[[stage.TapeProgress], None]
TAPE_GONE = ("lto.vanished", "tapefix.tape_gone_write",  # a tape went mid-run
             "stagefix.tape_dead", "stagefix.tape_dead_write")


class TapeDesk:
    def __init__(self, station: Station) -> None:
        self.station = station
        self.book = LedgerBook(station.con, station.settings.station_id)

    @property
    def catalogue_path(self) -> Path:
        return self.station.settings.paths.logs / "tape-catalogue.json"

    def _lock(self, action: str = "tape write") -> Lock:
        return tape_lock(self.station.locks, self.station.settings.station_id, action)

    def lock(self, action: str = "tape") -> Lock:
        """The station's tape lock (one tape user at a time), not yet acquired; action
        (the command) is what a refused second user is told the holder does."""
        return self._lock(action)

    def _bag_rows(self, items: list[str] | None) -> list[tuple[str, Path]]:
        rows = self.station.con.execute(
            "SELECT b.item_id, b.path FROM bags b WHERE b.station_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM withdrawals w WHERE w.bag_id = b.id) AND NOT EXISTS (SELECT 1 "
            "FROM releases r WHERE r.bag_id = b.id) ORDER BY b.created",
            (self.station.settings.station_id,)).fetchall()
        wanted = set(items) if items else None
        return [(r["item_id"], Path(r["path"])) for r in rows
                if wanted is None or r["item_id"] in wanted]

    def current_bags(self, items: list[str] | None = None) -> list[Path]:
        """Bags this station should put on tape: each bag it made that is neither
        withdrawn nor released and is still on disk (merged rows of other stations name
        their bags, which their own stations write)."""
        return [path for _, path in self._bag_rows(items) if path.is_dir()]

    def missing_bags(self, items: list[str] | None = None) -> list[Path]:
        """Bags the ledger says are waiting for tape but that are gone from disk."""
        return [path for _, path in self._bag_rows(items) if not path.is_dir()]

    def mounted(self) -> list[Tape]:
        """The labelled tapes mounted at the station."""
        return stage.station_tapes(self.station.settings)

    def unreadable(self) -> list[Unreadable]:
        """Tapes mounted here that cannot be used (a bad label, a dead mount): each costs
        that tape only, and is said with how to fix it (tape_labels.unreadable_line)."""
        from workbench.station.tape_labels import unreadable_tapes
        return unreadable_tapes(self.station)

    def label(self, mount: Path, barcode: str, pool: str, generation: str,
              capacity: int) -> Tape:
        """Label a mounted LTFS volume (or a folder standing in for a tape); a barcode
        names one cartridge, so a second tape with the same barcode is refused."""
        settings = self.station.settings
        from workbench.station.tape_labels import check_barcode_case, check_same_pool
        check_barcode_case(barcode)
        for other in self.mounted():
            if other.barcode == barcode and other.mount.resolve() != mount.resolve():
                raise BadInput("error.duplicate_barcode", barcode=barcode,
                               first=str(other.mount), second=str(mount))
        from workbench.station.tape_labels import check_unknown_barcode
        check_unknown_barcode(self.station, mount, barcode, self.catalogue_path)
        check_same_pool(self.station, barcode, pool, self.catalogue_path)
        return label_tape(mount, barcode, pool, generation, capacity,
                          load_generations(settings.paths.profiles), settings.tape_pools)

    def plan(self) -> tuple[list[Assignment], list[Unplaced]]:
        return stage.make_plan(self.station.settings, self.book, self.current_bags())

    def catalogue(self) -> list[CopyEntry]:
        return sorted(self.book.current().values(), key=lambda e: (e.bag, e.copy, e.barcode))

    def write(self, items: list[str] | None = None, progress: TapeProgress | None = None,
              ) -> tuple[list[CopyEntry], list[Unplaced]]:
        """Write and read back every current bag lacking a verified copy in a pool."""
        if items:
            for item in items:  # a named carrier must be one whose bag goes to tape
                st = self.station.state(item)
                check(st.item_id, st.state, Action.TAPE_WRITE)
        with self._lock().acquire():
            try:
                copies, unplaced = stage.run_plan(self.station.settings, self.book,
                                                  self.current_bags(items), progress,
                                                  self.station.cancel)
            finally:
                self.book.export(self.catalogue_path)
        # a bag the ledger waits for but that is gone from disk is said, not skipped
        return copies, unplaced + [Unplaced(path, 0, "", "missing")
                                   for path in self.missing_bags(items)]

    def verify(self, barcode: str | None = None, progress: TapeProgress | None = None,
               items: list[str] | None = None, older_than: float | None = None
               ) -> Checked:
        """Read back every copy on the mounted tapes (all of them, one barcode's, the
        copies of some carriers' bags, withdrawn versions included, or those last checked
        more than older_than seconds ago), tape by tape in the order each tape holds
        them. Each check is a ledger row and a PREMIS fixity check event."""
        if barcode:
            from workbench.station.tape_labels import check_verify_barcode
            check_verify_barcode(self.station, barcode)
        names: set[str] | None = None
        if items:
            names = set()
            for item in items:
                st = self.station.state(item)
                check(st.item_id, st.state, Action.TAPE_VERIFY)
                names |= {b.name for b in st.bags}
        from workbench.station.reverify import verify_run
        return verify_run(self, barcode, names, older_than, progress)

    def due(self, older_than: float | None = None) -> list[CopyEntry]:
        """Copies due for re-verification: last checked longer ago than older_than
        seconds, else than the station's schedule (none without one)."""
        from workbench.station.reverify import due_copies, schedule, worth_checking
        age = older_than if older_than is not None else \
            schedule(self.station.settings.tape_verify_days)
        if age is None:
            return []
        return due_copies(worth_checking(list(self.book.current().values())), age)

    def stage_one(self, bag: Path, result: MigrationResult, attempt: str) -> list[CopyEntry]:
        """Tape staging as the last step of accepting a carrier, when tapes are mounted.
        Another process writing to tape is not a failure: the bag waits for `tape write`."""
        settings = self.station.settings
        if not bag.is_dir():
            raise IntegrityFailure("station.bag_gone", bag=str(bag), item=result.item_id)
        if not stage.station_tapes(settings):
            return []  # no tape mounted: staging waits for `workbench tape write`
        try:
            lock = self._lock().acquire()
        except Refused as busy:
            now = utc_now()
            result.steps.append(("tape", "waiting", busy.message()))
            ledger.record_event(self.station.con, attempt, result.item_id,
                                settings.station_id, "tape", now, now, "waiting",
                                busy.message("en"), key=now)
            return []
        try:
            copies, unplaced = stage.run_plan(settings, self.book, [bag],
                                              lambda p: self.station.progress("tape", p),
                                              self.station.cancel)
        except (Aborted, Refused) as gone:
            if gone.key not in TAPE_GONE:
                raise
            # the bag is made and recorded; only its copy waits for the tape to be back
            now = utc_now()
            result.steps.append(("tape", "waiting", gone.message()))
            ledger.record_event(self.station.con, attempt, result.item_id,
                                settings.station_id, "tape", now, now, "waiting",
                                gone.message("en"), key=now)
            return []
        finally:
            self.book.export(self.catalogue_path)
            lock.release()
        for e in copies:
            result.steps.append((f"tape copy {e.copy}", e.result,
                                 f"{e.barcode} ({e.pool}) {e.detail}".strip()))
        for u in unplaced:  # a pool with no room (or a failed tape) is said, not dropped
            now = utc_now()
            words = t(f"tape.unplaced_{u.reason}", lang="en", bag=u.bag.name,
                      size=human_bytes(u.size), pool=u.pool)
            result.steps.append(("tape", "waiting", t(
                f"tape.unplaced_{u.reason}", bag=u.bag.name, size=human_bytes(u.size),
                pool=u.pool)))
            ledger.record_event(self.station.con, attempt, result.item_id,
                                settings.station_id, "tape", now, now, "waiting", words,
                                key=f"{u.pool}|{u.reason}|{now}")
        return copies

    def release(self, st: CarrierState) -> list[Path]:
        """Remove the staging copies of an item on tape in every pool (the caller holds
        the item lock and checked the state): its bag, its job folder, and the bags it
        superseded. The ledger keeps a release row for each bag."""
        from workbench.imaging.engine import job_dir
        assert st.bag is not None and st.state is State.ON_TAPE
        settings = self.station.settings
        if st.bag.station_id != settings.station_id:
            # another station's attempt is the latest (merged): its copies say nothing of
            # this station's job folder, which must not go
            raise Refused("clock.release_not_ours", item=st.item_id, station=st.bag.station_id)
        self._check_mounted_copies(st)
        # this station's bags only: a merged row of another station names its own disk
        staged = [b for b in st.bags if not b.released and b.station_id == settings.station_id
                  and (b.withdrawn or b.id == st.bag.id)]
        removed = stage.remove_staging([Path(b.path) for b in staged]
                                       + [job_dir(settings, st.item_id)])
        for b in staged:
            copies = [c for c in self.book.history(b.name) if c.result == VERIFIED]
            ledger.record_release(self.station.con, st.item_id, b.id, b.name,
                                  settings.station_id,
                                  f"verified in {', '.join(sorted({c.pool for c in copies}))}")
        return removed


    def _check_mounted_copies(self, st: CarrierState) -> None:
        """The ledger says every pool holds a verified copy; a copy on a tape that is
        mounted now must also be there, whole, before staging goes (copies on tapes in
        the library are trusted to the ledger and to `tape verify`)."""
        assert st.bag is not None
        tapes = {tp.barcode: tp for tp in stage.station_tapes(self.station.settings)}
        for copy in st.copies.get(st.bag.name, []):
            tape = tapes.get(copy.barcode)
            if copy.result != VERIFIED or tape is None:
                continue
            path = readback.copy_path(tape, copy.bag, copy.layout)
            whole = path.is_file() and path.stat().st_size >= copy.bytes \
                if copy.layout == "tar" else readback.bag_size_on_tape(path) == copy.bytes
            if not whole:
                raise IntegrityFailure("station.copy_gone", item=st.item_id, bag=copy.bag,
                                       barcode=copy.barcode, path=str(path))


__all__ = ["TapeDesk", "state_of"]
