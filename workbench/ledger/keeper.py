"""The keeper of a station's item locks on the server while it works.

A disc may image for hours without a ledger statement; the server's advisory lock dies
with the session at a drop, and nothing would take it back until the next write. The
keeper is a thread of the ledger link that, while the process holds items, every TICK
seconds renews their leases (item_locks.renew: the server sees the station alive), and
at a drop reconnects at once and takes every item back (or finds it taken by another
station: the work on it is stopped and its next write refused, naming that station).
It never touches the journal (a SQLite connection is its opener thread's): the journal
is sent by the worker's next statement (LinkedLedger.resync_due).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.ledger.link import LinkedLedger

TICK = 3.0  # well inside item_locks.GRACE_SECONDS: a lease never lapses while online


class Keeper(threading.Thread):
    def __init__(self, link: LinkedLedger, tick: float | None = None) -> None:
        super().__init__(name="ledger-keeper", daemon=True)
        self.link, self.tick = link, TICK if tick is None else tick
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.tick):  # each wait ends by the tick at most
            try:
                self.link.keep()
            except Exception:  # a keeper outlives one bad tick (the worker still checks)
                continue

    def stop(self, deadline: float = 5.0) -> None:
        self.stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(deadline)
