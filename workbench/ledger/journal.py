"""The offline journal of a shared ledger (link.py): the file a station writes during an
outage, how far each table was sent, and the server as a resync's counted target."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.ledger import pg
from workbench.ledger.db import connect_sqlite
from workbench.ledger.held import create_mirrored

if TYPE_CHECKING:
    from workbench.ledger.conflicts import Conflict


class NoRows:
    """What a statement the link swallowed returns."""

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


def open_journal(path: Path) -> sqlite3.Connection:
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


def sent_upto(journal: sqlite3.Connection) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in journal.execute(
        "SELECT tbl, MAX(up_to) FROM journal_sent GROUP BY tbl")}



class Counted:
    """The server as a resync's target, counting the rows of the chunks it committed:
    what a resync cut short has left on the server (linkfix.resync_cut)."""

    def __init__(self, server: pg.PgConnection) -> None:
        self.server, self.kept, self.pending = server, 0, 0

    def execute(self, sql: str, parameters: Any = (), /) -> pg.PgCursor:
        word = sql.strip().split(None, 1)[0].upper()
        done = self.server.execute(sql, parameters)
        if word == "COMMIT":
            self.kept, self.pending = self.kept + self.pending, 0
        elif word in ("BEGIN", "ROLLBACK"):
            self.pending = 0
        return done

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> pg.PgCursor:
        rows = list(parameters)
        done = self.server.executemany(sql, rows)
        self.pending += len(rows)
        return done

    def close(self) -> None:
        self.server.close()
