"""What the tape screen shows, read on a thread of its own (workbench/tui/reads.py): the
mounted tapes with what they hold and their room, the tapes that cannot be used, the
bags waiting and where they would go, and the copies due for re-verification with the
cartridges to fetch for them. One read, shown whole: the screen holds no rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config import Settings
from workbench.i18n import t
from workbench.station.reverify import DueTape, due_elsewhere, schedule
from workbench.tape.plan import Assignment, Unplaced

if TYPE_CHECKING:
    from workbench.station.core import Station


@dataclass(frozen=True)
class TapeRow:
    barcode: str
    pool: str
    generation: str
    used: int
    room: int
    capacity: int
    full: bool


@dataclass
class TapeView:
    tapes: list[TapeRow] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # lines: what is wrong, the fix
    assignments: list[Assignment] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    due: int = 0  # copies due by the schedule, on any tape
    elsewhere: list[DueTape] = field(default_factory=list)  # of those, on tapes not here


def read_view(station: Station) -> TapeView:
    from workbench.station.tape_labels import unreadable_line
    desk, settings = station.tapes, station.settings
    view = TapeView()
    for tp in desk.mounted():
        view.tapes.append(TapeRow(tp.barcode, tp.pool, tp.generation, tp.used(),
                                  tp.room(settings.tape_headroom), tp.capacity, tp.full))
    view.unreadable = [unreadable_line(u) for u in desk.unreadable()]
    view.assignments, view.unplaced = desk.plan()
    view.due = len(desk.due())
    age = schedule(settings.tape_verify_days)
    if age is not None:
        view.elsewhere = due_elsewhere(list(desk.book.current().values()),
                                       {r.barcode for r in view.tapes}, age)
    return view


def due_line(d: DueTape, lang: str | None = None) -> str:
    """A tape not mounted holding copies due: the CLI's and the TUI's words."""
    return t("labelfix.due_not_mounted_one" if d.copies == 1 else "lto.due_not_mounted",
             lang=lang, barcode=d.barcode, pool=d.pool, copies=d.copies, oldest=d.oldest)


def retrieve_folder(settings: Settings) -> Path:
    """Where the tape screen gets a bag back unless told otherwise: beside the station's
    own folders (training's under training/), never the folder the UI was started in."""
    return settings.paths.bags.parent / "retrieved"
