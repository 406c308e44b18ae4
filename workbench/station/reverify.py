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

from workbench.errors import BadInput
from workbench.tape.catalogue import FAILED, CopyEntry

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
    for e in due_copies([e for e in entries if e.barcode not in mounted
                         and (e.bag, e.barcode) not in done
                         and not (e.result == FAILED and not e.verified)], older_than):
        by_tape.setdefault(e.barcode, []).append(e)
    return [DueTape(code, es[0].pool, len(es), min(last_checked(e) for e in es))
            for code, es in sorted(by_tape.items())]
