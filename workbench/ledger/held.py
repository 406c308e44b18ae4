"""What the server holds of the carriers this process works on (their item locks held):
their rows as read when the lock was taken, and every row this process wrote to the
server since (once committed there).

When the connection drops in the middle of a carrier's work, these rows go into the
journal, so that the state read offline is the union of what the server held before the
drop and what the journal records after it: never "new" for a carrier bagged a minute
ago (tryout 15 D8), never a bag version counted from 1 when the server holds v1. Those
rows are on the server already: journal_mirrored names them, so they are not counted as
pending nor taken for new attempts by the resync (which offers them again: stable ids,
the server keeps its own).
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from workbench.ledger.copy import TABLES, key_of
from workbench.ledger.db import Con, last_attempt_row, refresh_heads

# the statements ledger/record.py and carrier_meta.py write rows with
_INSERT = re.compile(r"\s*INSERT\s+(?:OR\s+IGNORE\s+)?INTO\s+(\w+)\s*\(([^)]*)\)\s*"
                     r"VALUES\s*\(([?,\s]*)\)\s*$", re.I | re.S)
Row = tuple[str, dict[str, Any]]  # table, row


def create_mirrored(journal: sqlite3.Connection) -> None:
    journal.execute("CREATE TABLE IF NOT EXISTS journal_mirrored (tbl TEXT NOT NULL, "
                    "id TEXT NOT NULL, PRIMARY KEY (tbl, id))")


def mirrored_sql(table: str) -> str:
    """A condition on table's rows: not a row the server held (journal_mirrored)."""
    return (f"{key_of(table)} NOT IN (SELECT id FROM journal_mirrored "
            f"WHERE tbl = '{table}')")


class Held:
    def __init__(self) -> None:
        self.rows: dict[str, list[Row]] = {}  # item -> its rows, oldest first
        self.pending: list[Row] = []  # written inside the open server transaction

    def take(self, server: Con, item_id: str) -> None:
        """The item's rows on the server (its lock is held: no other station adds any)."""
        rows: list[Row] = []
        for table in TABLES:
            for r in server.execute(f"SELECT * FROM {table} WHERE item_id = ? "
                                    "ORDER BY rowid", (item_id,)):
                rows.append((table, dict(zip(r.keys(), r, strict=True))))
        self.rows[item_id] = rows

    def written_meanwhile(self, server: Con, item_id: str, station_id: str
                          ) -> tuple[str, str] | None:
        """(station, when) of an attempt or bag of the item that another station wrote on
        the server while this process's lock was down (its lease lapsed in a long
        outage): a row the server holds now that neither the snapshot taken with the
        lock nor this process's writes know. None when nothing was, or when the item
        was never read here (a lock first taken offline: the resync's conflicts say)."""
        known = self.rows.get(item_id)
        if known is None:
            return None
        seen = {(table, str(row.get(key_of(table)))) for table, row in known}
        for table, when in (("attempts", "started"), ("bags", "created")):
            for r in server.execute(f"SELECT {key_of(table)} AS id, station_id, {when} AS at "
                                    f"FROM {table} WHERE item_id = ?", (item_id,)):
                if (table, str(r["id"])) not in seen and r["station_id"] != station_id:
                    return str(r["station_id"]), str(r["at"])
        return None

    def drop(self, item_id: str) -> None:
        self.rows.pop(item_id, None)

    def wrote(self, sql: str, parameters: Any, in_transaction: bool) -> None:
        """A statement the server took: a row of a held item is kept (at once, or at the
        transaction's COMMIT)."""
        if not self.rows:
            return
        found = _INSERT.match(sql)
        if found is None or found.group(1) not in TABLES:
            return
        columns = [c.strip() for c in found.group(2).split(",")]
        if not isinstance(parameters, (tuple, list)) or len(parameters) != len(columns) \
                or found.group(3).count("?") != len(columns):
            return
        row = dict(zip(columns, parameters, strict=True))
        if str(row.get("item_id", "")) not in self.rows:
            return
        if in_transaction:
            self.pending.append((found.group(1), row))
        else:
            self.rows[str(row["item_id"])].append((found.group(1), row))

    def commit(self) -> None:
        for table, row in self.pending:
            if str(row["item_id"]) in self.rows:
                self.rows[str(row["item_id"])].append((table, row))
        self.pending = []

    def rollback(self) -> None:
        self.pending = []

    def into(self, journal: sqlite3.Connection) -> int:
        """Put the held rows into the journal (rows it holds already are left), named
        in journal_mirrored; the derived tables brought up to date. Returns rows added."""
        self.pending = []  # the server rolled that transaction back
        if not self.rows:
            return 0
        added = 0
        journal.execute("BEGIN IMMEDIATE")
        try:
            since = last_attempt_row(journal)
            for rows in self.rows.values():
                for table, row in rows:
                    columns = list(row)
                    cur = journal.execute(
                        f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES "
                        f"({', '.join('?' * len(columns))})", tuple(row.values()))
                    if cur.rowcount > 0:
                        added += 1
                        journal.execute("INSERT OR IGNORE INTO journal_mirrored VALUES (?, ?)",
                                        (table, str(row[key_of(table)])))
            refresh_heads(journal, since)
            journal.execute("COMMIT")
        except BaseException:
            journal.execute("ROLLBACK")
            raise
        return added
