"""The station's side of a shared ledger: item locks that hold across stations, the
link's status, moving a station's ledger to the server, sending the journal."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError
from workbench.ledger import item_locks
from workbench.ledger.link import LinkedLedger, LinkStatus, Resynced, status_of
from workbench.ledger.pg import LedgerDropped
from workbench.station.locks import Lock, item_lock
from workbench.station.offline_guard import check_elsewhere, check_offline

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.ledger.db import Row
    from workbench.station.core import Station
    from workbench.station.view import CarrierState


class SharedItemLock(Lock):
    """The station's file lock (its own processes and threads) and, while the ledger is
    on a server, the item's lock there (other stations). Offline, the file lock alone,
    the item kept in the link's list so that the server lock is taken on reconnect, and
    a carrier whose history is on the server is refused (offline_guard.py). While held,
    the link's keeper (ledger/keeper.py) keeps it on the server through drops; if
    another station took it meanwhile, the work is stopped (stop: the worker's cancel)
    and its next ledger write refused, naming that station."""

    def __init__(self, base: Lock, link: LinkedLedger, item_id: str,
                 settings: Settings, stop: threading.Event | None = None) -> None:
        super().__init__(base.path, base.station, base.action, base.refusal,
                         base.holder_item, **base.params)
        self.link, self.item_id, self.settings, self.stop = link, item_id, settings, stop

    def acquire(self, wait: float = 0.0) -> Lock:
        super().acquire(wait)
        try:
            self._take()
        except BaseException:
            super().release()
            raise
        return self

    def _take(self) -> None:
        link = self.link
        with link.guard:
            link.hold(self.item_id, self.action, None)  # taken again on every reconnect
            try:
                if link.server is None:
                    link.execute("SELECT 1")  # offline: a due retry (and relock)
                else:
                    try:
                        item_locks.acquire(link.server, self.item_id, self.station,
                                           self.action)
                    except LedgerDropped as exc:  # a blip: bridged at once, or offline
                        link._go_offline(exc)
                        link.reconnect()  # (which takes the lock again and its rows)
                        link._raise_lost()
                    else:
                        link.keep_rows(self.item_id)  # what the server holds of it
                check_offline(link, self.settings, self.item_id)
                check_elsewhere(link, self.settings, self.item_id, self.action)
            except BaseException:
                link.held.drop(self.item_id)
                if link.let_go(self.item_id) and link.server is not None:
                    with contextlib.suppress(WorkbenchError):  # refused after the take:
                        item_locks.release(link.server, self.item_id)  # no lease left
                raise
            link.hold(self.item_id, self.action, self.stop)

    def release(self) -> None:
        link = self.link
        with link.guard:
            link.held.drop(self.item_id)
            if link.server is None:  # its lease on the server ends when the link is back
                link.let_go_offline.add(self.item_id)
            if link.let_go(self.item_id) and link.server is not None:
                try:
                    item_locks.release(link.server, self.item_id)
                except LedgerDropped as exc:  # the server let it go with the session
                    link._go_offline(exc)
                    self._end_lease()
        super().release()

    def _end_lease(self) -> None:
        """A drop noticed at the release: reconnect at once (the server is likely up:
        the next items must be locked there, not on this station alone) and end this
        item's lease, which would keep it from other stations for the grace."""
        link = self.link
        try:
            if link.reconnect() and link.server is not None:
                item_locks.drop_lease(link.server, self.item_id, self.station)
        except WorkbenchError:  # still out, or another item lost: said at its next write
            return


class CheckedItemLock(Lock):
    """The station's file lock of an item in its own SQLite ledger, and the same check
    as on the server: a carrier another station bagged (merged in) is refused here."""

    def __init__(self, base: Lock, station: Station, item_id: str) -> None:
        super().__init__(base.path, base.station, base.action, base.refusal,
                         base.holder_item, **base.params)
        self.con, self.item_id, self.settings = station.con, item_id, station.settings

    def acquire(self, wait: float = 0.0) -> Lock:
        super().acquire(wait)
        try:
            check_elsewhere(self.con, self.settings, self.item_id, self.action)
        except BaseException:
            super().release()
            raise
        return self


def item_lock_for(station: Station, item_id: str, action: str) -> Lock:
    base = item_lock(station.locks, item_id, station.settings.station_id, action)
    if isinstance(station.con, LinkedLedger):
        return SharedItemLock(base, station.con, item_id, station.settings, station.cancel)
    if action == "image":
        return CheckedItemLock(base, station, item_id)
    return base


def link_status(station: Station) -> LinkStatus:
    return status_of(station.con)


def journal_of(station: Station) -> Path:
    from workbench.ledger.link import journal_path
    return journal_path(station.settings)


def resync(station: Station) -> Resynced | None:
    """Send the journal to the server now. None: still offline (nothing lost). When
    this process already sent it (at start: every command does), that resync is the
    answer: what it sent and the conflicts it found."""
    from workbench.errors import BadInput
    con = station.con
    if not isinstance(con, LinkedLedger):
        raise BadInput("ledger_pg.no_server")
    if con.server is None:
        if not con.reconnect():
            return None
        return con.last_resync
    earlier = con.last_resync
    now = con.resync()
    if now.kept is None and earlier is not None and earlier.kept is not None:
        return earlier
    return now


def sent_line(done: Resynced) -> str:
    from workbench.i18n import t
    return t("pgfix.resync_sent",
             added=", ".join(f"{k} {v}" for k, v in done.added.items() if v) or "0")


def link_notes(station: Station, figures: bool) -> list[str]:
    """See Records.link_notes."""
    from workbench.i18n import t
    from workbench.station.conflict_list import conflict_report
    con = station.con
    if not isinstance(con, LinkedLedger):
        return []
    status = con.status()
    if status.state.value == "offline":
        line = status.line()
        return [t("pgfix.offline_figures", status=line) if figures else line]
    done = con.last_resync
    if done is None or done.kept is None:
        return []
    if not any(done.added.values()) and not done.conflicts:
        return []  # only rows the server held already (held.py): nothing to say
    lines = [sent_line(done)]
    if done.conflicts:
        found = conflict_report(done.conflicts)[0]  # real ones first, images grouped
        lines.append(t("pgfix.resync_found", count=len(found)))
        lines += found
    return lines


def bag_holder(station: Station, st: CarrierState) -> str:
    """The station whose disk holds the carrier's current bag when it is not this one
    (a shared or merged ledger): the next steps (tape, release) are done there."""
    bag = st.bag
    if bag is None or not bag.station_id or bag.station_id == station.settings.station_id:
        return ""
    return bag.station_id


def next_line(station: Station, st: CarrierState, actions: list[str]) -> str:
    """`next: ...` of a carrier's detail (show, the UI), naming the station that holds
    the bag when it is another one."""
    from workbench.i18n import t
    words = ", ".join(actions) or "-"
    holder = bag_holder(station, st)
    if holder and st.bag is not None and actions:
        return t("ledgerfix.next_elsewhere", station=holder, path=st.bag.path, actions=words)
    return t("station.next_line", actions=words)


def abandoned_words(station: Station, rows: list[Row]) -> dict[str, str]:
    """For a log page: attempt row id -> "abandoned (...)" where another station's later
    attempt overtook an unfinished one (ledger/query.py abandoned_attempts)."""
    from workbench.i18n import t
    from workbench.ledger.query import abandoned_in
    return {row: t("ledgerfix.abandoned_short", station=later["station_id"])
            for row, later in abandoned_in(station.con, rows).items()}


def shared_ledger(settings: Settings) -> bool:
    """Whether the station's ledger is on a server (settings or WORKBENCH_LEDGER_URL)."""
    from workbench.ledger.link import ledger_url
    return bool(ledger_url(settings))
