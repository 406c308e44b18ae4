"""`workbench ledger move-to URL`: a station's SQLite ledger onto the shared server.

Idempotent (stable ids: a second run copies nothing, an interrupted one is completed by
the next), one transaction on the server (all or nothing), then checked: every table's
rows are all on the server with the same content (counts, and a SHA-256 over each
table's rows). The server may hold more: other stations' rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.ledger import pg
from workbench.ledger.copy import TableCheck, check_copy, copy_rows
from workbench.ledger.db import connect_sqlite


@dataclass
class Moved:
    added: dict[str, int]
    checks: list[TableCheck]
    digests: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def move_to(ledger: Path, url: str, station_id: str = "") -> Moved:
    """Copy the SQLite ledger file to the server at url, and check the copy."""
    from workbench.errors import BadInput
    if not ledger.is_file():
        raise BadInput("error.file_missing", file=str(ledger))
    source = connect_sqlite(ledger)
    try:
        target = pg.connect(url, station_id)
        try:
            added = copy_rows(source, target)
            checks, digests = check_copy(source, target)
        finally:
            target.close()
    finally:
        source.close()
    return Moved(added, checks, digests)
