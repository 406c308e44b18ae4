"""Per-item locks in the shared ledger: one station works on a carrier at a time.

A lock is a session-level advisory lock of the server (released by the server when the
station's connection ends, so a crashed station leaves no lock behind), and a row of
item_locks naming its holder (station, action, since) for the refusal's words. The row
is only a name tag: the advisory lock decides. SQLite ledgers are one machine's, where
the file locks (station/locks.py) do this.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import Refused
from workbench.imaging.record import utc_now
from workbench.ledger.pg import PgConnection

TABLE = """CREATE TABLE IF NOT EXISTS item_locks (
    item_id TEXT COLLATE "C" PRIMARY KEY, station_id TEXT NOT NULL, action TEXT NOT NULL,
    since TEXT NOT NULL, backend INTEGER NOT NULL)"""
_KEY = "hashtext('workbench-item:' || current_schema()), hashtext(%s)"


def _run(con: PgConnection, sql: str, params: tuple[Any, ...]) -> Any:
    """One statement, its faults typed as the ledger's (LedgerDropped, busy)."""
    import psycopg
    try:
        return con.raw.execute(sql, params)
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise con._fault(exc) from exc


def acquire(con: PgConnection, item_id: str, station_id: str, action: str) -> None:
    """Take the item's lock for this connection, or Refused naming the holder."""
    got = _run(con, f"SELECT pg_try_advisory_lock({_KEY})", (item_id,)).fetchone()[0]
    if not got:
        holder = _run(con, "SELECT station_id, action, since FROM item_locks "
                      "WHERE item_id = %s", (item_id,)).fetchone()
        raise Refused("ledger_pg.item_locked_at", item=item_id,
                      station=holder[0] if holder else "?",
                      since=holder[2] if holder else "?")
    _run(con, "INSERT INTO item_locks VALUES (%s, %s, %s, %s, pg_backend_pid()) "
         "ON CONFLICT (item_id) DO UPDATE SET station_id = excluded.station_id, "
         "action = excluded.action, since = excluded.since, backend = excluded.backend",
         (item_id, station_id, action, utc_now()))


def release(con: PgConnection, item_id: str) -> None:
    _run(con, f"SELECT pg_advisory_unlock({_KEY})", (item_id,))


def holder(con: PgConnection, item_id: str) -> str:
    """The station that holds the item now ('' when none does)."""
    row = _run(con, "SELECT l.station_id FROM item_locks l JOIN pg_locks p ON "
               "p.locktype = 'advisory' AND p.pid = l.backend AND p.granted "
               "WHERE l.item_id = %s", (item_id,)).fetchone()
    return str(row[0]) if row else ""
