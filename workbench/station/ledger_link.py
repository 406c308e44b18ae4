"""The station's side of a shared ledger: item locks that hold across stations, the
link's status, moving a station's ledger to the server, sending the journal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.ledger import item_locks
from workbench.ledger.link import LinkedLedger, LinkStatus, Resynced, status_of
from workbench.station.locks import Lock, item_lock

if TYPE_CHECKING:
    from workbench.station.core import Station


class SharedItemLock(Lock):
    """The station's file lock (its own processes and threads) and, while the ledger is
    on a server, the item's lock there (other stations). Offline, the file lock alone:
    the status says the ledger is offline."""

    def __init__(self, base: Lock, link: LinkedLedger, item_id: str) -> None:
        super().__init__(base.path, base.station, base.action, base.refusal,
                         base.holder_item, **base.params)
        self.link, self.item_id = link, item_id
        self.on_server = False

    def acquire(self, wait: float = 0.0) -> Lock:
        super().acquire(wait)
        server = self.link.server
        if server is not None:
            try:
                item_locks.acquire(server, self.item_id, self.station, self.action)
            except BaseException:
                super().release()
                raise
            self.on_server = True
        return self

    def release(self) -> None:
        server = self.link.server
        if self.on_server and server is not None:
            item_locks.release(server, self.item_id)
        self.on_server = False
        super().release()


def item_lock_for(station: Station, item_id: str, action: str) -> Lock:
    base = item_lock(station.locks, item_id, station.settings.station_id, action)
    if isinstance(station.con, LinkedLedger):
        return SharedItemLock(base, station.con, item_id)
    return base


def link_status(station: Station) -> LinkStatus:
    return status_of(station.con)


def journal_of(station: Station) -> Path:
    from workbench.ledger.link import journal_path
    return journal_path(station.settings)


def resync(station: Station) -> Resynced | None:
    """Send the journal to the server now. None: still offline (nothing lost)."""
    from workbench.errors import BadInput
    con = station.con
    if not isinstance(con, LinkedLedger):
        raise BadInput("ledger_pg.no_server")
    if con.server is None:
        if not con.reconnect():
            return None
        return con.last_resync
    return con.resync()
