"""A station's ledger: its SQLite file, or the shared ledger on a server with a local
journal for outages.

With `[ledger] url` (or WORKBENCH_LEDGER_URL) a station writes to the server. When the
server cannot be reached (at start, or a connection lost between two writes) the station
keeps working on a local SQLite journal beside its ledger file (same schema, same
rules) and says so: status() is a LinkStatus the CLI and the UI show. When the server
answers again, resync() sends what the journal holds: stable ids, so nothing is sent
twice; conflicts (the same item recorded elsewhere meanwhile) are reported; the journal
stays as a record of the outage, its sent rows marked (journal_sent).

A connection lost in the middle of a transaction is a LedgerDropped error for that
write (the server rolled back all of it: nothing half-written). A drop (the server was
there a moment ago) is followed by a reconnect at the next statement, at once; only a
server that does not answer that reconnect sends the station to the journal, retried
every RETRY_SECONDS (at every keeper tick while items are held: keeper.py). Training
never uses the server.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import Refused, WorkbenchError
from workbench.ledger import item_locks, pg
from workbench.ledger.db import Con, Cursor, connect_sqlite
from workbench.ledger.held import Held, mirrored_sql
from workbench.ledger.journal import Counted, NoRows, Resynced, open_journal, sent_upto

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.ledger.conflicts import Conflict

URL_ENV = "WORKBENCH_LEDGER_URL"
RETRY_SECONDS = 30.0  # offline: how often a write tries the server again
# a resync commits every so many rows: other stations' writes wait for one chunk (well
# under a second), not for a whole outage's journal
RESYNC_CHUNK = 5000


def ledger_url(settings: Settings) -> str:
    if settings.training:
        return ""
    return os.environ.get(URL_ENV, "").strip() or settings.ledger_url


def journal_path(settings: Settings) -> Path:
    return settings.paths.ledger.with_name("ledger-journal.sqlite")


def open_ledger(settings: Settings) -> Con:
    """The station's ledger connection (see the module's words)."""
    url = ledger_url(settings)
    if not url:
        return connect_sqlite(settings.paths.ledger)
    return LinkedLedger(url, journal_path(settings), settings.station_id)


class LinkState(enum.Enum):
    LOCAL = "local"  # the SQLite file: no server configured
    ONLINE = "online"  # writing to the server
    OFFLINE = "offline"  # the server is out of reach: writing to the journal


@dataclass
class LinkStatus:
    """What a front end shows of the ledger's link (ledger_pg.status_* keys)."""

    state: LinkState
    server: str = ""  # the URL without its password
    journal: str = ""
    pending: int = 0  # journal rows (attempts) not yet on the server
    since: str = ""  # offline since (UTC)
    detail: str = ""  # why offline
    conflicts: list[Conflict] = field(default_factory=list)  # found by the last resync

    def line(self) -> str:
        from workbench.i18n import t
        if self.state is LinkState.LOCAL:
            return t("ledger_pg.status_local")
        if self.state is LinkState.ONLINE:
            return t("ledger_pg.status_online", server=self.server)
        return t("ledger_pg.status_offline", server=self.server, journal=self.journal,
                 pending=self.pending, since=self.since, detail=self.detail)


def status_of(con: Con) -> LinkStatus:
    return con.status() if isinstance(con, LinkedLedger) else LinkStatus(LinkState.LOCAL)


class LinkedLedger:
    """The server's ledger, falling back to the journal (see the module's words)."""

    backend = "postgresql"

    def __init__(self, url: str, journal: Path, station_id: str,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.url, self.journal_file, self.station_id = url, journal, station_id
        self.retry_seconds = retry_seconds
        self.server: pg.PgConnection | None = None
        self.journal: sqlite3.Connection | None = None
        self.in_transaction = False
        self.dropped = False  # the server went away inside the current transaction
        self.offline_since, self.offline_detail = "", ""
        self.last_try = 0.0
        self.last_conflicts: list[Conflict] = []
        self.items: dict[str, str] = {}  # item locks this process holds -> action
        # the work on each held item (its cancel): stopped when another station took it
        self.stops: dict[str, threading.Event] = {}
        self.lost: dict[str, Refused] = {}  # taken by another station meanwhile
        self.guard = threading.RLock()  # the worker's statements, the keeper's ticks
        self.keeper: Any = None  # keeper.Keeper, started with the first held item
        self.resync_due = False  # the keeper reconnected: the worker sends the journal
        self.last_resync: Resynced | None = None
        self.held = Held()  # the server's rows of the items locked here (held.py)
        self.held_due = False  # dropped: the journal gets them when next opened
        self.let_go_offline: set[str] = set()  # released offline: leases to end when back
        try:
            self.server = pg.connect(url, station_id)
        except pg.LedgerUnreachable as exc:
            self._go_offline(exc)
            return
        if self.journal_file.exists():
            self.resync()  # what an earlier outage recorded

    # -- the link -----------------------------------------------------------------------
    def _go_offline(self, exc: BaseException) -> None:
        from workbench.imaging.record import utc_now
        was_online = self.server is not None
        if self.server is not None:
            with contextlib.suppress(Exception):  # a dead connection may fail to close
                self.server.close()
        self.server = None
        self.offline_since = self.offline_since or utc_now()
        self.offline_detail = getattr(exc, "params", {}).get("detail", "") or str(exc)
        # a drop (a session ended, a blip): the server was there, try it again at once;
        # a server that did not answer: again after retry_seconds
        self.last_try = 0.0 if isinstance(exc, pg.LedgerDropped) else time.monotonic()
        if was_online:  # the journal, when next opened, gets what the server held
            self.held_due = True

    def _journal(self) -> sqlite3.Connection:
        """The journal, opened by the worker's thread (never the keeper's); after a
        drop, with what the server held of the carriers worked on here (held.py)."""
        if self.journal is None:
            self.journal = open_journal(self.journal_file)
        if self.held_due:
            self.held_due = False
            self.held.into(self.journal)
        return self.journal

    def status(self) -> LinkStatus:
        server = pg.safe_url(self.url)
        if self.server is not None:
            return LinkStatus(LinkState.ONLINE, server, conflicts=self.last_conflicts)
        return LinkStatus(LinkState.OFFLINE, server, str(self.journal_file),
                          self._pending(), self.offline_since, self.offline_detail,
                          self.last_conflicts)

    def _pending(self) -> int:
        if self.journal is None and not self.journal_file.exists():
            return 0
        journal = self._journal()
        return int(journal.execute(
            f"SELECT COUNT(*) FROM attempts WHERE rowid > ? AND {mirrored_sql('attempts')}",
            (sent_upto(journal).get("attempts", 0),)).fetchone()[0])

    def reconnect(self) -> bool:
        """Try the server again; on success send the journal and take the held items
        back (one another station took meanwhile is in self.lost: the next statement
        says so). True when online."""
        with self.guard:
            if self.server is not None:
                return True
            self.last_try = time.monotonic()
            try:
                self.server = pg.connect(self.url, self.station_id)
            except pg.LedgerUnreachable as exc:
                self.offline_detail = str(exc.params.get("detail", "") or exc)
                return False
            why = self._online_again()
            self.resync()
            self._relock(why)
            return self.server is not None

    def _online_again(self) -> str:
        """Clear the offline marks; returns why the link was down (for item_taken)."""
        why = self.offline_detail
        self.offline_since = self.offline_detail = ""
        return why

    def _relock(self, why: str = "") -> None:
        """The server's item locks died with the old session (or were never taken,
        offline): take every one again; one another station took meanwhile is lost
        (self.lost): its work is stopped, its next statement refused. The leases of
        items let go while offline end now (they kept other stations out for 120 s)."""
        for item in list(self.let_go_offline):
            if self.server is None:
                return
            try:
                item_locks.drop_lease(self.server, item, self.station_id)
            except pg.LedgerDropped as exc:
                self._go_offline(exc)
                return
            self.let_go_offline.discard(item)
        for item, action in list(self.items.items()):
            if self.server is None:
                return
            try:
                item_locks.acquire(self.server, item, self.station_id, action)
                other = self.held.written_meanwhile(self.server, item, self.station_id)
                if other is not None:  # its lease lapsed and another station worked on it
                    with contextlib.suppress(WorkbenchError):
                        item_locks.release(self.server, item)
                    raise Refused("linkfix.item_taken", item=item, station=other[0],
                                  since=other[1])
                self.held.take(self.server, item)
            except pg.LedgerDropped as exc:
                self._go_offline(exc)
                return
            except Refused as exc:
                del self.items[item]  # not ours any more: its release must not touch it
                self.lost[item] = Refused(
                    "linkfix.item_taken", item=item, station=exc.params.get("station", "?"),
                    since=exc.params.get("since", "?"), detail=why)
                stop = self.stops.pop(item, None)
                if stop is not None:
                    stop.set()  # the imaging stops: its image cannot be recorded

    def _raise_lost(self) -> None:
        """The worker's next statement after an item was lost: Refused naming the
        station that took it (never recorded over that station's work)."""
        if self.lost:
            item = next(iter(self.lost))
            raise self.lost.pop(item)

    # -- items held while working (keeper.py) --------------------------------------------
    def hold(self, item_id: str, action: str, stop: threading.Event | None) -> None:
        from workbench.ledger.keeper import Keeper
        with self.guard:
            self.items[item_id] = action  # taken again on every reconnect
            self.lost.pop(item_id, None)
            if stop is not None:
                self.stops[item_id] = stop
            if self.keeper is None:
                self.keeper = Keeper(self)
                self.keeper.start()

    def let_go(self, item_id: str) -> bool:
        """Forget a held item; True when it was still this process's."""
        with self.guard:
            self.stops.pop(item_id, None)
            return self.items.pop(item_id, None) is not None

    def keep(self) -> None:
        """One keeper tick: renew the held items' leases; at a drop reconnect at once
        and take them back; offline, try the server (without the journal: see keeper.py).
        A tick that finds the worker in a statement skips: that statement checks."""
        if not self.items:
            return
        fresh = None
        if self.server is None:  # connect outside the guard: the worker is not held up
            try:
                fresh = pg.connect(self.url, self.station_id)
            except WorkbenchError as exc:
                self.offline_detail = str(exc.params.get("detail", "") or exc)
                return
        if not self.guard.acquire(timeout=0.2):
            if fresh is not None:
                fresh.close()
            return
        try:
            if self.in_transaction or not self.items:
                return
            if self.server is None and fresh is not None:
                self.server, fresh = fresh, None
                why = self._online_again()
                self.resync_due = self.journal is not None or self.journal_file.exists()
                self._relock(why)
                return
            if self.server is not None:
                try:
                    item_locks.renew(self.server)
                except pg.LedgerDropped as exc:
                    self._go_offline(exc)
                    try:
                        self.server = pg.connect(self.url, self.station_id)
                    except WorkbenchError:
                        return  # still out: the next tick tries again
                    why = self._online_again()
                    self.resync_due = True
                    self._relock(why)
        finally:
            self.guard.release()
            if fresh is not None:
                fresh.close()

    def keep_rows(self, item_id: str) -> None:
        """The item's lock is taken on the server: keep what the server holds of it."""
        if self.server is None:
            return
        try:
            self.held.take(self.server, item_id)
        except pg.LedgerDropped as exc:
            self._go_offline(exc)

    def resync(self) -> Resynced:
        """Send what the journal holds and the server lacks (in server transactions of
        RESYNC_CHUNK rows, parents first, so other stations' writes interleave), and mark
        it sent in the journal. The journal stays, a record of the outage. Several
        processes of one station may share the journal: each sends what is not marked
        sent, under the journal's write lock, so none is sent twice; a resync cut short
        is sent again from its start by the next (stable ids: nothing added twice).
        Conflicts: rows the journal brought that disagree with other stations'."""
        from workbench.imaging.record import utc_now
        from workbench.ledger.conflicts import find_conflicts
        from workbench.ledger.copy import TABLES, copy_rows, last_rows
        assert self.server is not None
        self.resync_due = False
        if self.journal is None and not self.journal_file.exists():
            self.last_resync = Resynced({}, [], None)
            return self.last_resync
        journal = self._journal()
        journal.execute("BEGIN IMMEDIATE")  # the station's other processes wait
        try:
            sent, tops = sent_upto(journal), last_rows(journal)
            if all(tops[t] <= sent.get(t, 0) for t in TABLES):
                journal.execute("COMMIT")
                self.last_resync = Resynced({}, [], None)
                return self.last_resync
            new = {str(r[0]) for r in journal.execute(
                f"SELECT id FROM attempts WHERE rowid > ? AND rowid <= ? AND "
                f"{mirrored_sql('attempts')}",
                (sent.get("attempts", 0), tops["attempts"]))}
            new |= {str(r[0]) for r in journal.execute(  # bags: conflicts.py's kind bag
                f"SELECT id FROM bags WHERE rowid > ? AND rowid <= ? AND "
                f"{mirrored_sql('bags')}", (sent.get("bags", 0), tops["bags"]))}
            counted = Counted(self.server)
            try:
                added = copy_rows(journal, counted, after=sent, upto=tops,
                                  chunk=RESYNC_CHUNK)
            except pg.LedgerDropped as exc:
                self._go_offline(exc)
                total = sum(tops[t] - sent.get(t, 0) for t in TABLES)
                if not counted.kept:
                    raise
                raise pg.LedgerDropped("linkfix.resync_cut", server=pg.safe_url(self.url),
                                       detail=exc.params.get("detail", ""),
                                       kept=counted.kept, total=total) from exc
            now = utc_now()
            journal.executemany("INSERT INTO journal_sent VALUES (?, ?, ?)",
                                [(t, n, now) for t, n in tops.items()])
            journal.execute("COMMIT")
        except BaseException:
            journal.execute("ROLLBACK")
            raise
        self.last_conflicts = find_conflicts(self.server, new) if new else []
        journal.close()
        self.journal = None
        self.offline_since = self.offline_detail = ""
        self.last_resync = Resynced(added, self.last_conflicts, self.journal_file)
        return self.last_resync

    # -- Con ----------------------------------------------------------------------------
    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        with self.guard:
            return self._execute(sql, parameters)

    def _execute(self, sql: str, parameters: Any = ()) -> Cursor:
        word = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
        between = not self.in_transaction and word not in ("COMMIT", "ROLLBACK")
        if between:
            self._raise_lost()  # an item another station took while the link was down
        if self.server is None and between and \
                time.monotonic() - self.last_try >= self.retry_seconds:
            self.reconnect()  # between two transactions: never inside one
            self._raise_lost()
        if self.server is not None and between and self.resync_due:
            self.resync()  # the keeper reconnected: the journal's rows go first
        if self.dropped and word in ("ROLLBACK", "COMMIT"):
            self.dropped = self.in_transaction = False
            return NoRows()  # the server rolled it back already
        was_inside = self.in_transaction
        if word == "BEGIN":
            self.in_transaction, self.dropped = True, False
        elif word in ("COMMIT", "ROLLBACK"):
            self.in_transaction = False
        if self.server is not None:
            try:
                cur = self.server.execute(sql, parameters)
                self._took(word, sql, parameters)
                return cur
            except pg.LedgerDropped as exc:
                # a BEGIN that finds the server gone begins on the journal instead
                self._go_offline(exc)
                if word == "COMMIT":
                    # ambiguous: the server may have committed before the line went;
                    # the caller's ROLLBACK has nothing left to undo
                    self.dropped = True
                    raise pg.LedgerDropped("pgfix.commit_lost",
                                           **exc.params) from exc
                if word == "ROLLBACK":
                    return NoRows()  # the server rolled it back with the connection
                if was_inside:  # the rest of this transaction is lost with it
                    self.dropped = True
                    raise
                # between two transactions: a blip (a session ended on the server) is
                # bridged at once, the item locks taken again (or refused)
                if self.reconnect():
                    self._raise_lost()
                    assert self.server is not None
                    cur = self.server.execute(sql, parameters)
                    self._took(word, sql, parameters)
                    return cur
        return self._journal().execute(sql, parameters)

    def _took(self, word: str, sql: str, parameters: Any) -> None:
        """The server took a statement: keep what it means for the held items."""
        if word == "INSERT":
            self.held.wrote(sql, parameters, self.in_transaction)
        elif word == "COMMIT":
            self.held.commit()
        elif word in ("BEGIN", "ROLLBACK"):
            self.held.rollback()

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        with self.guard:
            if self.server is not None:
                if self.held.rows:  # read twice: by the server and by held
                    parameters = list(parameters)
                try:
                    cur = self.server.executemany(sql, parameters)
                    for one in parameters if self.held.rows else ():
                        self.held.wrote(sql, one, self.in_transaction)
                    return cur
                except pg.LedgerDropped as exc:
                    self._go_offline(exc)
                    self.dropped = self.in_transaction
                    raise
            return self._journal().executemany(sql, parameters)

    def close(self) -> None:
        if self.keeper is not None:
            self.keeper.stop()
        with self.guard:
            if self.server is not None:
                if self.items:  # an orderly end: no lease left to keep them from others
                    with contextlib.suppress(WorkbenchError):
                        item_locks.end_leases(self.server)
                self.server.close()
            if self.journal is not None:
                self.journal.close()
