"""Copying ledger rows between ledgers of either backend, and checking the copy.

Rows keep their stable ids, so a copy is idempotent (a row the target holds is left as
it is) and resumable. Each table is copied in the order the source recorded it (rowid):
a version after the one it supersedes, every carrier before its attempts. The derived
tables (heads, carrier_heads) are not copied: the target brings its own up to date.

Used by `ledger move-to` (a station's SQLite ledger onto the server), the journal's
resync after an outage, a merge into a server ledger, and an export from one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from workbench.ledger.db import APPEND_ONLY, Con, last_attempt_row, refresh_heads

TABLES = ("carriers", *[t for t in APPEND_ONLY if t != "carriers"])
BATCH = 2000


def key_of(table: str) -> str:
    return "item_id" if table == "carriers" else "id"


def _rows(con: Con, table: str, after: int = 0, upto: int | None = None
          ) -> Iterator[dict[str, object]]:
    upper = "" if upto is None else f" AND rowid <= {int(upto)}"
    for row in con.execute(f"SELECT * FROM {table} WHERE rowid > ?{upper} ORDER BY rowid",
                           (after,)):
        yield dict(zip(row.keys(), row, strict=True))


def last_rows(con: Con, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    """Each table's last row number: where a later copy of what came after begins."""
    return {t: int(con.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {t}").fetchone()[0])
            for t in tables}


def copy_rows(source: Con, target: Con, tables: tuple[str, ...] = TABLES,
              transaction: bool = True, after: dict[str, int] | None = None,
              upto: dict[str, int] | None = None, chunk: int = 0) -> dict[str, int]:
    """Add source's rows the target lacks, in one transaction of the target (all or
    nothing). after/upto: only the source rows after (up to) these row numbers per
    table. chunk: commit every so many rows instead (the target's write lock is let go
    between chunks, so other stations' writes go in meanwhile; tables go in order,
    parents first, so each chunk leaves whole rows whose parents are there; a copy cut
    short is completed by the next: stable ids). Returns the rows added per table."""
    added: dict[str, int] = {}
    if transaction:
        target.execute("BEGIN IMMEDIATE")
    try:
        since = last_attempt_row(target)
        pending = 0
        for table in tables:
            added[table] = 0
            batch: list[dict[str, object]] = []
            for row in _rows(source, table, (after or {}).get(table, 0),
                             (upto or {}).get(table)):
                batch.append(row)
                if len(batch) >= min(BATCH, chunk or BATCH):
                    added[table] += _insert_many(target, table, batch)
                    pending += len(batch)
                    batch = []
                    if transaction and chunk and pending >= chunk:
                        refresh_heads(target, since)
                        target.execute("COMMIT")
                        target.execute("BEGIN IMMEDIATE")
                        since, pending = last_attempt_row(target), 0
            if batch:
                added[table] += _insert_many(target, table, batch)
                pending += len(batch)
        refresh_heads(target, since)
        if transaction:
            target.execute("COMMIT")
    except BaseException:
        if transaction:
            target.execute("ROLLBACK")
        raise
    return added


def _insert_many(target: Con, table: str, rows: list[dict[str, object]]) -> int:
    columns = list(rows[0])
    bulk = getattr(target, "insert_many", None)  # the server's COPY (pg.py)
    if bulk is not None:
        return int(bulk(table, columns, [tuple(r[c] for c in columns) for r in rows]))
    sql = (f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")
    return target.executemany(sql, [tuple(r[c] for c in columns) for r in rows]).rowcount


@dataclass
class TableCheck:
    table: str
    source_rows: int
    target_rows: int  # the source's rows the target holds
    differ: list[str] = field(default_factory=list)  # keys whose content differs
    # carriers whose item ID another station recorded first: a standing conflict (the
    # row is keyed by item ID in an append-only ledger, so it stays theirs), not a fault
    elsewhere: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and not self.differ


def _digest_rows(rows: dict[str, dict[str, object]]) -> str:
    h = hashlib.sha256()
    for key in sorted(rows):
        h.update(json.dumps(rows[key], sort_keys=True, default=str).encode())
    return h.hexdigest()


def check_copy(source: Con, target: Con, tables: tuple[str, ...] = TABLES
               ) -> tuple[list[TableCheck], dict[str, str]]:
    """Every source row in the target with the same content: counts per table and a
    SHA-256 over each table's rows (as the source has them). The target may hold more
    (other stations' rows on a shared server). Returns the checks and the digests."""
    checks, digests = [], {}
    for table in tables:
        key = key_of(table)
        mine = {str(r[key]): r for r in _rows(source, table)}
        theirs: dict[str, dict[str, object]] = {}
        keys = list(mine)
        for n in range(0, len(keys), 500):
            chunk = keys[n:n + 500]
            for row in target.execute(
                    f"SELECT * FROM {table} WHERE {key} IN ({', '.join('?' * len(chunk))})",
                    chunk):
                theirs[str(row[key])] = dict(zip(row.keys(), row, strict=True))
        differ = sorted(k for k in theirs if _canon(theirs[k]) != _canon(mine[k]))
        elsewhere = [k for k in differ if table == "carriers" and
                     theirs[k].get("station_id") != mine[k].get("station_id")]
        differ = [k for k in differ if k not in elsewhere]
        checks.append(TableCheck(table, len(mine), len(theirs), differ[:20], elsewhere))
        digests[table] = _digest_rows({k: _canon(v) for k, v in mine.items()})
        if _digest_rows({k: _canon(v) for k, v in theirs.items()}) != digests[table] \
                and not differ and not elsewhere and len(theirs) == len(mine):  # cannot be
            checks[-1].differ.append("?")
    return checks, digests


def _canon(row: dict[str, object]) -> dict[str, object]:
    """A row as both backends give it (floats as floats, whole numbers as ints)."""
    return {k: (float(v) if isinstance(v, float) else v) for k, v in row.items()}
