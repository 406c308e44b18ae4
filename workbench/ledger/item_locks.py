"""Per-item locks in the shared ledger: one station works on a carrier at a time.

A lock is a session-level advisory lock of the server and a row of item_locks naming
its holder (station, action, since) for the refusal's words. The advisory lock dies with
the holder's session, the instant its connection drops. A drop of seconds must not free
an item (a disc may image for hours): the row is also a lease, renewed by the holder
while it works (link.py's keeper). A lock free on the server whose row another station
renewed less than GRACE_SECONDS ago is still that station's: refused, saying how long it
is kept for it; its holder takes it back when it reconnects. A lock given back deletes
its row (no lease left); a crashed station's items are free after the grace.
SQLite ledgers are one machine's, where the file locks (station/locks.py) do this.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import Refused
from workbench.imaging.record import utc_now
from workbench.ledger.pg import PgConnection

# long enough for a server restart or a network hiccup, short enough that a crashed
# station's carrier is free again while the technician is still at the drive
GRACE_SECONDS = 120.0
TABLE = """CREATE TABLE IF NOT EXISTS item_locks (
    item_id TEXT COLLATE "C" PRIMARY KEY, station_id TEXT NOT NULL, action TEXT NOT NULL,
    since TEXT NOT NULL, backend INTEGER NOT NULL,
    renewed TIMESTAMPTZ NOT NULL DEFAULT now())"""
# a server made before the lease: the column is added (not history: no schema version)
UPGRADE = ("ALTER TABLE item_locks ADD COLUMN IF NOT EXISTS renewed TIMESTAMPTZ "
           "NOT NULL DEFAULT now()")
HAS_LEASE = ("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
             "to_regclass('item_locks') AND attname = 'renewed' AND NOT attisdropped)")
_KEY = "hashtext('workbench-item:' || current_schema()), hashtext(%s)"


def _run(con: PgConnection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """One statement, its faults typed as the ledger's (LedgerDropped, busy)."""
    import psycopg
    try:
        return con.raw.execute(sql, params)
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise con._fault(exc) from exc


def acquire(con: PgConnection, item_id: str, station_id: str, action: str,
            grace: float | None = None) -> None:
    """Take the item's lock for this connection, or Refused naming the holder (one that
    holds it now, or one whose lease runs: its connection dropped less than grace ago)."""
    grace = GRACE_SECONDS if grace is None else grace
    got = _run(con, f"SELECT pg_try_advisory_lock({_KEY})", (item_id,)).fetchone()[0]
    if not got:
        holder = _run(con, "SELECT station_id, action, since FROM item_locks "
                      "WHERE item_id = %s", (item_id,)).fetchone()
        raise Refused("ledger_pg.item_locked_at", item=item_id,
                      station=holder[0] if holder else "?",
                      since=holder[2] if holder else "?")
    lease = _run(con, "SELECT station_id, since, EXTRACT(EPOCH FROM now() - renewed) "
                 "FROM item_locks WHERE item_id = %s AND backend <> pg_backend_pid()",
                 (item_id,)).fetchone()
    if lease is not None and lease[0] != station_id and float(lease[2]) < grace:
        _run(con, f"SELECT pg_advisory_unlock({_KEY})", (item_id,))
        raise Refused("linkfix.item_kept", item=item_id, station=lease[0], since=lease[1],
                      ago=int(float(lease[2])), left=int(grace - float(lease[2])) + 1)
    _run(con, "INSERT INTO item_locks VALUES (%s, %s, %s, %s, pg_backend_pid(), now()) "
         "ON CONFLICT (item_id) DO UPDATE SET station_id = excluded.station_id, "
         "action = excluded.action, since = excluded.since, backend = excluded.backend, "
         "renewed = excluded.renewed", (item_id, station_id, action, utc_now()))


def renew(con: PgConnection) -> None:
    """The holder is alive: its leases run on from now (every item this session holds)."""
    _run(con, "UPDATE item_locks SET renewed = now() WHERE backend = pg_backend_pid()")


def release(con: PgConnection, item_id: str) -> None:
    """Give the item back: its lease too (only this session's row: another station may
    hold it by now)."""
    _run(con, "DELETE FROM item_locks WHERE item_id = %s AND backend = pg_backend_pid()",
         (item_id,))
    _run(con, f"SELECT pg_advisory_unlock({_KEY})", (item_id,))


def end_leases(con: PgConnection) -> None:
    """An orderly end of the session (the process closes its ledger): its items are
    free at once (the server frees a closed session's advisory locks a moment later:
    another station asking in that moment was refused)."""
    _run(con, "DELETE FROM item_locks WHERE backend = pg_backend_pid()")
    _run(con, "SELECT pg_advisory_unlock_all()")


def drop_lease(con: PgConnection, item_id: str, station_id: str) -> None:
    """A lock whose session died before its release (the drop was noticed at the
    release): this station's lease on it ends now, as a release would have ended it."""
    _run(con, "DELETE FROM item_locks WHERE item_id = %s AND station_id = %s AND NOT "
         "EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted "
         "AND p.pid = item_locks.backend)", (item_id, station_id))


def holder(con: PgConnection, item_id: str) -> str:
    """The station that holds the item now ('' when none does)."""
    row = _run(con, "SELECT l.station_id FROM item_locks l JOIN pg_locks p ON "
               "p.locktype = 'advisory' AND p.pid = l.backend AND p.granted "
               "WHERE l.item_id = %s", (item_id,)).fetchone()
    return str(row[0]) if row else ""
