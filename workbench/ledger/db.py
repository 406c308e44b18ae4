"""The ledger database: SQLite in WAL mode, versioned migrations, append-only tables.

Rows are never updated or deleted (triggers refuse it): a new state of an attempt is a
new row that supersedes the previous one. Row ids are UUIDv5 of their content, so
recording the same fact twice (a re-run after a crash, a second merge of another
station's ledger) inserts nothing.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

NAMESPACE = uuid.UUID("3b0f5c0e-8c2a-4f7e-9a51-0d2b6f1e7a44")
APPEND_ONLY = ("carriers", "attempts", "events", "formats", "bags", "tape_copies")

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE carriers (
        item_id TEXT PRIMARY KEY,
        record_id TEXT NOT NULL DEFAULT '',
        volume INTEGER, volumes INTEGER,
        profile_id TEXT NOT NULL, family TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        station_id TEXT NOT NULL, created TEXT NOT NULL
    );
    CREATE TABLE attempts (
        id TEXT PRIMARY KEY,            -- this version of the attempt
        attempt TEXT NOT NULL,          -- the attempt (stable across its versions)
        supersedes TEXT REFERENCES attempts(id),
        item_id TEXT NOT NULL REFERENCES carriers(item_id),
        station_id TEXT NOT NULL, operator TEXT NOT NULL DEFAULT '',
        drive TEXT NOT NULL DEFAULT '', drive_serial TEXT NOT NULL DEFAULT '',
        profile_id TEXT NOT NULL, family TEXT NOT NULL, batch TEXT NOT NULL DEFAULT '',
        started TEXT NOT NULL, ended TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL, reason_code TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        bytes INTEGER NOT NULL DEFAULT 0, bytes_rescued INTEGER NOT NULL DEFAULT 0,
        bad_sectors INTEGER NOT NULL DEFAULT 0, read_errors INTEGER NOT NULL DEFAULT 0,
        rate REAL NOT NULL DEFAULT 0, md5 TEXT NOT NULL DEFAULT '',
        sha256 TEXT NOT NULL DEFAULT '', job_dir TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '', recorded TEXT NOT NULL
    );
    CREATE INDEX attempts_item ON attempts(item_id, started);
    CREATE INDEX attempts_started ON attempts(started);
    CREATE INDEX attempts_supersedes ON attempts(supersedes);
    CREATE TABLE events (
        id TEXT PRIMARY KEY, attempt TEXT NOT NULL, item_id TEXT NOT NULL,
        station_id TEXT NOT NULL, step TEXT NOT NULL,
        started TEXT NOT NULL, ended TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', recorded TEXT NOT NULL
    );
    CREATE INDEX events_item ON events(item_id);
    CREATE TABLE formats (
        id TEXT PRIMARY KEY, attempt TEXT NOT NULL, item_id TEXT NOT NULL,
        station_id TEXT NOT NULL, puid TEXT NOT NULL, format_name TEXT NOT NULL,
        mime TEXT NOT NULL, files INTEGER NOT NULL, bytes INTEGER NOT NULL
    );
    CREATE INDEX formats_item ON formats(item_id);
    CREATE TABLE bags (
        id TEXT PRIMARY KEY, item_id TEXT NOT NULL, attempt TEXT NOT NULL,
        station_id TEXT NOT NULL, path TEXT NOT NULL, payload_oxum TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE tape_copies (
        id TEXT PRIMARY KEY, item_id TEXT NOT NULL, station_id TEXT NOT NULL,
        barcode TEXT NOT NULL, pool TEXT NOT NULL, copy INTEGER NOT NULL,
        bytes INTEGER NOT NULL, result TEXT NOT NULL, written TEXT NOT NULL DEFAULT '',
        verified TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX tape_copies_item ON tape_copies(item_id);
    CREATE VIEW current_attempts AS
        SELECT a.*, a.rowid AS seq FROM attempts a
        WHERE NOT EXISTS (SELECT 1 FROM attempts b WHERE b.supersedes = a.id);
    """,
]


def _guards() -> str:
    return "\n".join(
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} BEGIN "
        f"SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows are never changed'); END;\n"
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} BEGIN "
        f"SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows are never deleted'); END;"
        for t in APPEND_ONLY)


def stable_id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


def connect(path: Path | str) -> sqlite3.Connection:
    """Open (and migrate) the ledger. Safe for several processes at once (WAL)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA busy_timeout = 30000")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA synchronous = NORMAL")
    migrate(con)
    return con


def migrate(con: sqlite3.Connection) -> int:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version < len(MIGRATIONS):
        con.execute("BEGIN IMMEDIATE")
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]  # another process?
            for n in range(version, len(MIGRATIONS)):
                _run_script(con, MIGRATIONS[n])
                con.execute(f"PRAGMA user_version = {n + 1}")
            _run_script(con, _guards())
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _run_script(con: sqlite3.Connection, script: str) -> None:
    """executescript() would commit our transaction: run statement by statement."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            con.execute(statement)
            statement = ""
