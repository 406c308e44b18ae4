"""Re-verification of old tape copies: which copies are due, in what order to read them,
and what a failing copy asks for.

A copy is due when its last check (its read-back or a later re-check; never checked: its
write) is older than the station's schedule (`[tape] verify_after_days`) or the age
asked for (`workbench tape verify --older-than 365d`). Copies are read tape by tape, each
tape in the order it holds them (the order they were written: LTFS appends), so a
cartridge is read end to end once instead of shuttling. A copy that fails is no longer a
verified copy of its pool: the carrier needs a new copy there (`workbench tape recopy`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from workbench.errors import BadInput, Refused
from workbench.tape import readback, stage
from workbench.tape.catalogue import FAILED, VERIFIED, CopyEntry
from workbench.tape.held import tape_gone
from workbench.tape.tapes import still_mounted

if TYPE_CHECKING:
    from workbench.station.tapes import TapeDesk, TapeProgress

_AGE = re.compile(r"^\s*(\d+)\s*([dhwy]?)\s*$")
_UNIT = {"": 86400, "d": 86400, "h": 3600, "w": 7 * 86400, "y": 365 * 86400}


def parse_age(text: str) -> float:
    """'365d', '12w', '1y', '48h' or a number of days, in seconds."""
    m = _AGE.match(text.lower())
    if m is None:
        raise BadInput("lto.bad_age", value=repr(text))
    return int(m.group(1)) * _UNIT[m.group(2)]


def _time(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def schedule(days: int) -> float | None:
    """The station's re-verification age in seconds (None: no schedule)."""
    return days * 86400.0 if days > 0 else None


def last_checked(entry: CopyEntry) -> str:
    return entry.verified or entry.written


def due_copies(entries: list[CopyEntry], older_than: float,
               now: datetime | None = None) -> list[CopyEntry]:
    """The copies whose last check is older than older_than seconds (a copy whose time
    cannot be read is due: better read once too often than never)."""
    now = now or datetime.now(UTC)
    out = []
    for e in entries:
        when = _time(last_checked(e))
        if when is None or (now - when).total_seconds() >= older_than:
            out.append(e)
    return out


def tape_order(entries: list[CopyEntry]) -> list[CopyEntry]:
    """Tape by tape (barcode order), each in the order it holds its copies."""
    return sorted(entries, key=lambda e: (e.barcode, e.written, e.bag))


@dataclass(frozen=True)
class DueTape:
    barcode: str
    pool: str
    copies: int
    oldest: str


def due_elsewhere(entries: list[CopyEntry], mounted: set[str], older_than: float,
                  checked: tuple[CopyEntry, ...] = ()) -> list[DueTape]:
    """Tapes not mounted now that hold copies due: the cartridges to fetch (a copy read
    in this run is not due again, even with --older-than 0d and its tape gone since)."""
    done = {(e.bag, e.barcode) for e in checked}
    by_tape: dict[str, list[CopyEntry]] = {}
    for e in due_copies([e for e in worth_checking(entries) if e.barcode not in mounted
                         and (e.bag, e.barcode) not in done], older_than):
        by_tape.setdefault(e.barcode, []).append(e)
    return [DueTape(code, es[0].pool, len(es), min(last_checked(e) for e in es))
            for code, es in sorted(by_tape.items())]


def superseded(entries: list[CopyEntry]) -> set[tuple[str, str]]:
    """(bag, barcode) of failed copies whose pool holds a verified copy of the same bag on
    another tape: history (the recopy was made), neither due nor an alarm, not read
    again."""
    good = {(e.bag, e.pool) for e in entries if e.result == VERIFIED}
    return {(e.bag, e.barcode) for e in entries
            if e.result == FAILED and (e.bag, e.pool) in good}


def worth_checking(entries: list[CopyEntry]) -> list[CopyEntry]:
    """The copies a verify run reads: not a failed write (no copy there), not a failed
    copy already replaced in its pool."""
    old = superseded(entries)
    return [e for e in entries if not (e.result == FAILED and not e.verified)
            and (e.bag, e.barcode) not in old]


class Checked(list[CopyEntry]):
    """The copies a verify run read, in order (a list, as before), and the copies it
    chose but left unread because it was stopped (Ctrl-C)."""

    def __init__(self) -> None:
        super().__init__()
        self.left: list[CopyEntry] = []

    @property
    def cancelled(self) -> bool:
        return bool(self.left)


def verify_run(desk: TapeDesk, barcode: str | None, names: set[str] | None,
               older_than: float | None, progress: TapeProgress | None) -> Checked:
    """Read back the chosen copies on the mounted tapes, tape by tape in tape order. A
    stop (the station's cancel) ends the run after the copy being read; the copies not
    read are kept in `left` and said. A tape gone (or whose LTFS mount died) mid-run
    records nothing against its copies."""
    from workbench.station.retrieve import fixity_event
    station, book = desk.station, desk.book
    settings = station.settings
    with desk.lock("tape verify").acquire():
        tapes = {tp.barcode: tp for tp in stage.station_tapes(settings)}
        done = Checked()
        try:
            chosen = [e for e in worth_checking(list(book.current().values()))
                      if not (barcode and e.barcode != barcode) and e.barcode in tapes
                      and (names is None or e.bag in names)]
            if older_than is not None:
                chosen = due_copies(chosen, older_than)
            order = tape_order(chosen)
            for i, entry in enumerate(order):
                if station.cancel.is_set():
                    done.left = order[i:]
                    break
                tape = tapes[entry.barcode]
                try:
                    if not still_mounted(tape):
                        # unmounted, pulled, or its LTFS process ended mid-run: not the
                        # copy's fault, nothing recorded; the next run reads it
                        raise tape_gone(tape)
                    result = readback.verify_copy(entry.bag, tape, book, None, progress)
                except Refused as gone:
                    if gone.key not in ("lto.vanished", "stagefix.tape_dead"):
                        raise
                    # the copies not reached are said, as after a stop
                    raise Refused("deadfix.verify_stopped", reason=gone.message().rstrip("。."),
                                  count=len(order) - i,
                                  unread=unchecked_by_tape(order[i:])) from gone
                stage.record_events(entry.bag, book, settings)
                fixity_event(station, book.bag_of(entry.bag), result,
                             "re-verification" if older_than is not None else "read back")
                done.append(result)
        finally:
            book.export(desk.catalogue_path)
            for tape in tapes.values():
                stage.write_tape_catalogue(tape, book)
        return done


def unchecked_by_tape(left: list[CopyEntry]) -> str:
    """"P00001L8: 3, S00001L8: 1": the copies a stopped run left, per tape."""
    counts: dict[str, int] = {}
    for e in left:
        counts[e.barcode] = counts.get(e.barcode, 0) + 1
    return ", ".join(f"{code}: {n}" for code, n in sorted(counts.items()))
