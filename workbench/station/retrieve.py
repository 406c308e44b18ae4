"""Getting a carrier's bag back from tape, and where every copy of it is.

`where(item)` lists, for every bag version of an item, the staging copy (when it is still
on disk) and every tape copy: barcode, pool, state, when written and when last checked.
`retrieve(item, to)` picks a verified copy of the current bag (a mounted tape first, then
the pools in the station's order), asks for its cartridge when none is mounted, reads it
back in tape order and checks it against its manifests. A copy that fails is recorded as
failed (a fixity check) and the next copy is tried. One tape user per station: the tape
lock is held while a tape is read.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import BadInput, IntegrityFailure, Refused
from workbench.imaging.record import utc_now
from workbench.ledger import record as ledger
from workbench.station.view import Bag
from workbench.tape import stage
from workbench.tape.catalogue import FAILED, VERIFIED, CopyEntry
from workbench.tape.held import is_dead, tape_gone
from workbench.tape.retrieve import read_bag
from workbench.tape.tapes import Tape, still_mounted

if TYPE_CHECKING:
    from workbench.station.core import Station

# asked when no tape holding a copy is mounted: the copies to choose from; True when a
# cartridge was mounted (look again), False to stop
AskMount = Callable[[list[CopyEntry]], bool]


@dataclass(frozen=True)
class Place:
    """One tape copy of a bag as a supervisor sees it."""
    entry: CopyEntry
    mounted: bool

    @property
    def last_checked(self) -> str:
        return self.entry.verified or ""


@dataclass(frozen=True)
class BagPlaces:
    bag: Bag
    staging: bool  # the bag is still on the station's disk
    current: bool  # the carrier's current bag
    copies: tuple[Place, ...] = ()


@dataclass(frozen=True)
class Whereabouts:
    item_id: str
    state: str
    bags: tuple[BagPlaces, ...] = ()


@dataclass
class Retrieved:
    item_id: str
    bag: str
    path: Path | None = None
    source: CopyEntry | None = None
    failed: list[CopyEntry] = field(default_factory=list)  # copies that did not read back
    # copies whose tape went mid-read (the key says how: lto.vanished, stagefix.tape_dead)
    gone: list[tuple[CopyEntry, str]] = field(default_factory=list)

    @property
    def said(self) -> bool:
        return bool(self.failed or self.gone)


def retrieval_lines(done: Retrieved) -> list[str]:
    """What happened to the copies tried before the one read (or before the refusal):
    each failed copy with its recopy, each tape that went with what to do."""
    from workbench.i18n import t
    lines = [t("stagefix.retrieve_copy_failed", barcode=e.barcode, pool=e.pool,
               detail=e.detail, item=done.item_id) for e in done.failed]
    lines += [t("stagefix.retrieve_dead" if key == "stagefix.tape_dead" else
                "stagefix.retrieve_gone", barcode=e.barcode, pool=e.pool, bag=e.bag)
              for e, key in done.gone]
    return lines


def fixity_event(station: Station, bag: Bag | None, entry: CopyEntry, why: str) -> None:
    """One check of a tape copy as a PREMIS fixity check event in the ledger (events:
    step "fixity check", outcome success/failure; the detail names the copy and why it
    was read). The tape copy's own row (verified/failed) is written by the copy book."""
    if bag is None:
        return
    ok = entry.result == VERIFIED
    detail = (f"{entry.bag} on {entry.barcode} ({entry.pool}, copy {entry.copy}): {why}"
              + ("" if ok else f": {entry.detail}"))
    ledger.record_event(station.con, bag.attempt, bag.item_id, station.settings.station_id,
                        "fixity check", entry.verified or utc_now(), entry.verified or
                        utc_now(), "success" if ok else "failure", detail,
                        key=f"{entry.bag}|{entry.barcode}|{entry.verified}")


def where_lines(where: Whereabouts) -> list[str]:
    """Whereabouts in words, a line each (the tape screen; the CLI prints a table)."""
    from workbench.i18n import t
    lines = [t("lto.where_head", item=where.item_id, state=t(f"state.{where.state}"))]
    if not where.bags:
        lines.append("  " + t("lto.where_no_bag"))
    for b in where.bags:
        marks = [t("lto.where_current")] if b.current else []
        marks += [t("lto.where_withdrawn", reason=b.bag.withdrawn)] if b.bag.withdrawn else []
        marks += [t("lto.where_released")] if b.bag.released else []
        lines.append(f"  {b.bag.name}" + (f" ({'; '.join(marks)})" if marks else ""))
        lines.append("    " + (t("lto.where_staging", path=b.bag.path) if b.staging
                              else t("lto.where_no_staging")))
        lines += ["    " + t("lto.where_copy", copy=p.entry.copy, barcode=p.entry.barcode,
                             pool=p.entry.pool, state=t(f"tape.state_{p.entry.result}"),
                             written=p.entry.written or "-", checked=p.last_checked or "-",
                             mounted=t("lto.mounted") if p.mounted else "")
                  for p in b.copies] or ["    " + t("lto.where_no_copies")]
    return lines


class Retrieval:
    def __init__(self, station: Station) -> None:
        self.station = station

    def where(self, item_id: str) -> Whereabouts:
        st = self.station.state(item_id)
        mounted = {tp.barcode for tp in stage.station_tapes(self.station.settings)}
        out = []
        for bag in st.bags:
            copies = sorted(st.copies.get(bag.name, []), key=lambda e: (e.copy, e.barcode))
            out.append(BagPlaces(bag, Path(bag.path).is_dir() and not bag.released,
                                 st.bag is not None and bag.id == st.bag.id,
                                 tuple(Place(e, e.barcode in mounted) for e in copies)))
        return Whereabouts(st.item_id, st.state.value, tuple(out))

    def _bag(self, item_id: str, version: str | None) -> tuple[str, Bag]:
        st = self.station.state(item_id)
        if not st.bags:
            raise Refused("lto.retrieve_no_bag", item=st.item_id, state=st.state.value)
        if version:
            bag = next((b for b in st.bags if b.name == version), None)
            if bag is None:
                raise BadInput("lto.retrieve_no_version", item=st.item_id, bag=version,
                               bags=", ".join(b.name for b in st.bags))
            return st.item_id, bag
        return st.item_id, st.bag or st.bags[-1]

    def retrieve(self, item_id: str, to: Path, ask: AskMount | None = None,
                 version: str | None = None,
                 progress: Callable[[stage.TapeProgress], None] | None = None) -> Retrieved:
        """Copy the bag back to `to`/NAME from the first readable verified copy."""
        item_id, bag = self._bag(item_id, version)
        settings = self.station.settings
        target = to / bag.name
        if target.exists():
            raise Refused("lto.retrieve_exists", path=str(target))
        from workbench.station.retrieve_checks import check_room, check_target
        check_target(settings, to)
        to.mkdir(parents=True, exist_ok=True)
        book = self.station.tapes.book
        pools = settings.tape_pools
        copies = [e for e in book.history(bag.name) if e.result == VERIFIED]
        latest = {e.barcode: e for e in book.history(bag.name)}
        left = [e for e in latest.values() if e.result == VERIFIED]
        left.sort(key=lambda e: (pools.index(e.pool) if e.pool in pools else len(pools),
                                 e.barcode))
        if not left:
            raise Refused("lto.retrieve_no_copy", item=item_id, bag=bag.name,
                          checked=len(copies))
        done = Retrieved(item_id, bag.name)
        away: set[str] = set()  # tapes gone in this round: not read again until a mount
        tapes: dict[str, Tape] | None = None  # looked for again after a mount was asked
        while left:
            with self.station.tapes.lock("retrieve").acquire():
                if tapes is None:
                    tapes = {tp.barcode: tp for tp in stage.station_tapes(settings)}
                here = [e for e in left if e.barcode in tapes and e.barcode not in away]
                if here:
                    entry = here[0]
                    check_room(to, entry)
                    read = self._read(entry, tapes[entry.barcode], bag, target, done,
                                      progress)
                    if read == "ok":
                        return done
                    if read == "failed":
                        left.remove(entry)
                    else:  # the tape went, not the copy: still good, asked for again
                        away.add(entry.barcode)
                    continue  # the next copy on a mounted tape
            if ask is None or not ask(list(left)):
                raise Refused("stagefix.retrieve_mount", bag=bag.name, tapes=", ".join(
                    f"{e.barcode} ({e.pool})" for e in left), root=str(settings.paths.tape),
                    before=" ".join(retrieval_lines(done)) + (" " if done.said else ""))
            away.clear()
            tapes = None
        raise IntegrityFailure("lto.retrieve_all_failed", bag=bag.name, tapes=", ".join(
            f"{e.barcode} ({e.pool})" for e in done.failed))

    def _read(self, entry: CopyEntry, tape: Tape, bag: Bag, target: Path,
              done: Retrieved, progress: Callable[[stage.TapeProgress], None] | None
              ) -> str:
        """ok | failed (recorded: a fixity check that failed) | gone (the tape went or its
        mount died mid-read: nothing recorded, the copy is still good)."""
        def tick(n: int, total: int) -> None:
            if progress:
                progress(stage.TapeProgress(entry.bag, entry.barcode, "retrieve", n, total))

        book = self.station.tapes.book
        from workbench.station.retrieve_checks import disk_full
        dead = False
        try:
            with disk_full(target):  # the output disk, not the copy: nothing recorded
                problems = read_bag(tape, entry.bag, entry.layout, entry.bytes, target, tick,
                                    self.station.cancel)
        except OSError as exc:
            # ENOTCONN (often with no file name: a read, a close) is the tape's LTFS
            # process ended mid-read: the copy is not at fault and the next one is read
            dead = is_dead(exc)
            if not dead and not (exc.filename
                                 and Path(exc.filename).is_relative_to(tape.mount)):
                raise  # the station's side (the target disk), not the tape's
            problems = [f"{entry.bag}: cannot be read back: {exc.strerror or exc}"]
        if problems and (dead or not still_mounted(tape)):  # the cartridge went
            shutil.rmtree(target, ignore_errors=True)
            done.gone.append((entry, tape_gone(tape, dead=dead).key))
            return "gone"
        checked = replace(entry, result=FAILED if problems else VERIFIED, verified=utc_now(),
                          detail="; ".join(problems[:5]))
        book.add(checked)
        fixity_event(self.station, bag, checked, "read back in full by a retrieval")
        stage.record_events(entry.bag, book, self.station.settings)
        step = "success" if not problems else "failed"
        ledger.record_event(self.station.con, bag.attempt, bag.item_id,
                            self.station.settings.station_id, "retrieval", checked.verified,
                            utc_now(), step, f"{entry.bag} from {entry.barcode} "
                            f"({entry.pool}) to {target}" + (f": {checked.detail}"
                                                             if problems else ""),
                            key=f"{entry.barcode}|{checked.verified}")
        if problems:
            done.failed.append(checked)
            return "failed"
        done.path, done.source = target, checked
        return "ok"
