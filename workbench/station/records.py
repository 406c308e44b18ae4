"""Reading the station's record (the log, a carrier's history, statistics and reports)
and moving it between stations (export, merge, check): the one way the CLI and the UI
reach the ledger. Acting on carriers is Station's; this only reads or copies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.i18n import t
from workbench.ledger import db, export, query
from workbench.ledger.conflicts import Conflict, find_conflicts
from workbench.ledger.filters import make_filters
from workbench.station import duplicates

if TYPE_CHECKING:
    from workbench.ledger.db import Con, Row
    from workbench.ledger.link import LinkStatus
    from workbench.station.core import Station
    from workbench.station.locks import Lock

Filters = query.Filters
SliceRow = query.SliceRow
FORMATS = export.FORMATS
SLICES = query.SLICES
__all__ = ["FORMATS", "SLICES", "Filters", "Records", "SliceRow", "make_filters"]


class Records:
    def __init__(self, station: Station) -> None:
        self.station = station

    @property
    def con(self) -> Con:
        return self.station.con

    def report_label(self, key: str) -> str:
        profiles = self.station.profiles
        if key in profiles:
            return profiles[key].report_label()
        from workbench.i18n import catalog, language
        return t(f"disc.{key}") if f"disc.{key}" in catalog(language()) else key

    def log_page(self, filters: Filters, limit: int = 50, before: str = ""
                 ) -> list[Row]:
        """Attempts, newest first, one page at a time (interrupted ones included)."""
        from workbench.ledger.filters import check_before
        return query.attempts_page(self.con, filters, limit, check_before(before))

    @staticmethod
    def page_cursor(row: Row) -> str:
        """The `before` of the page after the one that ends with row."""
        return query.page_cursor(row)

    def history_lines(self, item_id: str) -> list[str]:
        """A carrier's whole history in words; [] when the ledger does not know it."""
        h = query.carrier_history(self.con, item_id)
        if not h["carrier"]:
            return []
        same = duplicates.identical_line(self.con, item_id)
        return [*query.history_lines(h), *filter(None, [same]),
                *duplicates.conflict_lines(self.con, item_id)]

    def identical(self, rows: list[Row]) -> dict[str, str]:
        """Attempt row id -> 'same image as ...' where other carriers share its image
        (for a log page)."""
        return {row: t("dup.log_same", items=", ".join(items))
                for row, items in duplicates.identical_in(self.con, rows).items()}

    def statistics(self, by: str, filters: Filters | None = None) -> list[SliceRow]:
        return query.statistics(self.con, by, filters or Filters(), label=self.report_label)

    def report(self, bys: list[str], filters: Filters, lang: str
               ) -> dict[str, list[SliceRow]]:
        return export.report_slices(self.con, bys, filters, self.station.profiles, lang)

    @staticmethod
    def write(slices: dict[str, list[SliceRow]], fmt: str, lang: str,
              out: Path | None = None) -> str:
        """A report in one of FORMATS: to out (atomically), or its text."""
        return export.write_report(slices, fmt, lang, out)

    def item_lock(self, item_id: str, action: str) -> Lock:
        """The item's lock: the station's file lock and, with a shared ledger, the
        server's, which other stations see (station/ledger_link.py)."""
        from workbench.station.ledger_link import item_lock_for
        return item_lock_for(self.station, item_id, action)

    def link_status(self) -> LinkStatus:
        """Where the ledger is: this station's file, the server, or offline (journal)."""
        from workbench.station.ledger_link import link_status
        return link_status(self.station)

    def link_offline(self) -> str:
        """What to say of the link after a command: offline (the journal), or conflicts
        a resync of the journal found; '' when there is nothing to say."""
        status = self.link_status()
        if status.state.value == "offline":
            return status.line()
        if status.conflicts:
            return t("ledger_pg.resync_conflicts", count=len(status.conflicts))
        return ""

    def link_notes(self, figures: bool = False) -> list[str]:
        """What to say of the link after any command: offline (figures: the numbers shown
        are the journal's alone), or what a resync in this process sent and the
        conflicts it found, each listed. [] when there is nothing to say."""
        from workbench.station.ledger_link import link_notes
        return link_notes(self.station, figures)

    def check(self) -> None:
        db.check_ledger(self.con, self.station.settings.paths.ledger)

    def export(self, target: Path) -> dict[str, int]:
        return export.export_ledger(self.con, target)

    def merge(self, source: Path) -> duplicates.Merged:
        return duplicates.merge(self.con, source)

    def conflicts(self) -> list[Conflict]:
        """Every standing conflict between stations' records (see ledger/conflicts.py).
        Offline there is no answer: the conflicts are between the server's rows, and the
        journal holds this station's alone ("no conflicts" would be false)."""
        status = self.link_status()
        if status.state.value == "offline":
            from workbench.errors import Aborted
            raise Aborted("lead.conflicts_offline", server=status.server,
                          detail=status.detail or "-")
        return find_conflicts(self.con)
