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
write (the server rolled back all of it: nothing half-written); the next write goes to
the journal. Training never uses the server.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.ledger import pg
from workbench.ledger.db import Con, Cursor, connect_sqlite
from workbench.ledger.held import Held, create_mirrored, mirrored_sql

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


class _NoRows:
    rowcount = 0

    def fetchone(self) -> Any:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Any:
        return iter(())


@dataclass
class Resynced:
    added: dict[str, int]
    conflicts: list[Conflict]
    kept: Path | None  # the journal that was sent (None: nothing was)


def _open_journal(path: Path) -> sqlite3.Connection:
    """The journal: a ledger file of this station's rows during an outage. A new version
    there may follow one the server holds (its `supersedes`): no foreign keys here; the
    server checks them when the journal is sent. journal_sent says how far each table
    was sent (rows, never changed: the last one counts)."""
    con = connect_sqlite(path)
    con.execute("PRAGMA foreign_keys = OFF")
    con.execute("CREATE TABLE IF NOT EXISTS journal_sent (tbl TEXT NOT NULL, "
                "up_to INTEGER NOT NULL, at TEXT NOT NULL)")
    create_mirrored(con)
    return con


def _sent(journal: sqlite3.Connection) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in journal.execute(
        "SELECT tbl, MAX(up_to) FROM journal_sent GROUP BY tbl")}


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
        self.last_resync: Resynced | None = None
        self.held = Held()  # the server's rows of the items locked here (held.py)
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
        self.last_try = time.monotonic()
        if self.journal is None:
            self.journal = _open_journal(self.journal_file)
        if was_online:  # the carriers worked on here: what the server held of them
            self.held.into(self.journal)

    def status(self) -> LinkStatus:
        server = pg.safe_url(self.url)
        if self.server is not None:
            return LinkStatus(LinkState.ONLINE, server, conflicts=self.last_conflicts)
        return LinkStatus(LinkState.OFFLINE, server, str(self.journal_file),
                          self._pending(), self.offline_since, self.offline_detail,
                          self.last_conflicts)

    def _pending(self) -> int:
        if self.journal is None:
            return 0
        return int(self.journal.execute(
            f"SELECT COUNT(*) FROM attempts WHERE rowid > ? AND {mirrored_sql('attempts')}",
            (_sent(self.journal).get("attempts", 0),)).fetchone()[0])

    def reconnect(self) -> bool:
        """Try the server again; on success send the journal. True when online."""
        if self.server is not None:
            return True
        self.last_try = time.monotonic()
        try:
            self.server = pg.connect(self.url, self.station_id)
        except pg.LedgerUnreachable as exc:
            self.offline_detail = str(exc.params.get("detail", "") or exc)
            return False
        self.resync()
        self._relock()
        return self.server is not None

    def _relock(self) -> None:
        """The server's item locks died with the old session (or were never taken,
        offline): take them again; Refused when another station took one meanwhile."""
        from workbench.ledger import item_locks
        for item, action in list(self.items.items()):
            if self.server is None:
                return
            try:
                item_locks.acquire(self.server, item, self.station_id, action)
                self.held.take(self.server, item)
            except pg.LedgerDropped as exc:
                self._go_offline(exc)
                return
            except BaseException:
                del self.items[item]  # not ours any more: its release must not touch it
                raise

    def hold(self, item_id: str) -> None:
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
        if self.journal is None:
            if not self.journal_file.exists():
                self.last_resync = Resynced({}, [], None)
                return self.last_resync
            self.journal = _open_journal(self.journal_file)
        journal = self.journal
        journal.execute("BEGIN IMMEDIATE")  # the station's other processes wait
        try:
            sent, tops = _sent(journal), last_rows(journal)
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
            try:
                added = copy_rows(journal, self.server, after=sent, upto=tops,
                                  chunk=RESYNC_CHUNK)
            except pg.LedgerDropped as exc:
                self._go_offline(exc)
                raise
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
        word = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
        if self.server is None and not self.in_transaction and word not in (
                "COMMIT", "ROLLBACK") and time.monotonic() - self.last_try >= self.retry_seconds:
            self.reconnect()  # between two transactions: never inside one
        if self.dropped and word in ("ROLLBACK", "COMMIT"):
            self.dropped = self.in_transaction = False
            return _NoRows()  # the server rolled it back already
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
                    return _NoRows()  # the server rolled it back with the connection
                if was_inside:  # the rest of this transaction is lost with it
                    self.dropped = True
                    raise
                # between two transactions: a blip (a session ended on the server) is
                # bridged at once, the item locks taken again (or refused)
                if self.reconnect():
                    assert self.server is not None
                    cur = self.server.execute(sql, parameters)
                    self._took(word, sql, parameters)
                    return cur
        assert self.journal is not None
        return self.journal.execute(sql, parameters)

    def _took(self, word: str, sql: str, parameters: Any) -> None:
        """The server took a statement: keep what it means for the held items."""
        if word == "INSERT":
            self.held.wrote(sql, parameters, self.in_transaction)
        elif word == "COMMIT":
            self.held.commit()
        elif word in ("BEGIN", "ROLLBACK"):
            self.held.rollback()

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
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
        assert self.journal is not None
        return self.journal.executemany(sql, parameters)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.journal is not None:
            self.journal.close()
