"""The ledger database: SQLite in WAL mode, versioned migrations, append-only tables.

Rows are never updated or deleted (triggers refuse it): a new state of an attempt is a
new row that supersedes the previous one. Row ids are UUIDv5 of their content, so
recording the same fact twice (a re-run after a crash, a second merge of another
station's ledger) inserts nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import BadInput


class Cursor(Protocol):
    """What the ledger's code uses of a cursor, on either backend."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Con(Protocol):
    """A ledger connection: sqlite3.Connection, or pg.PgConnection on a server. Statements
    are written in SQLite's dialect; rows read by name and by position."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def close(self) -> None: ...


Row = Any  # sqlite3.Row, or pg.Row: by name and by position, keys()

NAMESPACE = uuid.UUID("3b0f5c0e-8c2a-4f7e-9a51-0d2b6f1e7a44")
_NAMESPACE_BYTES = NAMESPACE.bytes
APPEND_ONLY = ("carriers", "attempts", "events", "formats", "bags", "tape_copies",
               "withdrawals", "releases", "carrier_metadata")

# A carrier's latest attempt, newest first (heads/carrier_heads columns). The start time
# (to the microsecond) decides. Equal starts: within one station its own order of
# recording (row; a merge copies a station's rows in the order it recorded them); across
# stations, which never share a clock exactly, the station id, so every ledger holding
# the same rows names the same attempt, whatever order they were merged in.
LATEST = "started DESC, station_id DESC, row DESC"


def latest_order(alias: str) -> str:
    """LATEST for heads (or carrier_heads) joined as alias."""
    return f"{alias}.started DESC, {alias}.station_id DESC, {alias}.row DESC"


ENDED = "('success', 'partial', 'failed', 'needs_flux', 'audio_disc')"


def sort_sql(column: str) -> str:
    """SQL for sort_time(column), in SQL both backends run (no GLOB)."""
    return (f"CASE WHEN length({column}) = 20 AND substr({column}, 17, 1) = ':' "
            f"AND substr({column}, 20, 1) = 'Z' "
            f"THEN substr({column}, 1, 19) || '.000000Z' "
            f"WHEN length({column}) < 27 AND substr({column}, 20, 1) = '.' "
            f"AND substr({column}, length({column}), 1) = 'Z' "
            f"THEN substr({column}, 1, length({column}) - 1) "
            f"|| substr('000000', 1, 27 - length({column})) || 'Z' ELSE {column} END")


def sort_time(stamp: str) -> str:
    """A UTC time as it sorts among others: "...:05Z" (whole seconds, older records) is
    "...:05.000000Z", so it sorts before "...:05.1Z" as it should (as text, "Z" > ".").
    Anything else is returned as it is."""
    if len(stamp) == 20 and stamp.endswith("Z") and stamp[16] == ":":
        return stamp[:19] + ".000000Z"
    if stamp.endswith("Z") and len(stamp) < 27 and stamp[19:20] == ".":
        return stamp[:-1] + "0" * (27 - len(stamp)) + "Z"
    return stamp


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
    # 2: derived tables for statistics at scale, kept current by triggers. They are
    # indexes over the history (rebuildable from attempts), not history themselves.
    """
    CREATE TABLE heads (
        attempt TEXT PRIMARY KEY, row INTEGER NOT NULL, item_id TEXT NOT NULL,
        profile_id TEXT NOT NULL, family TEXT NOT NULL, batch TEXT NOT NULL,
        station_id TEXT NOT NULL, operator TEXT NOT NULL, drive TEXT NOT NULL,
        started TEXT NOT NULL, ended TEXT NOT NULL, outcome TEXT NOT NULL,
        reason_code TEXT NOT NULL, bytes_rescued INTEGER NOT NULL, rate REAL NOT NULL
    );
    CREATE INDEX heads_started ON heads(started, row);
    CREATE INDEX heads_profile_rate ON heads(profile_id, outcome IN ('success', 'partial'), rate);
    CREATE INDEX heads_profile ON heads(profile_id, outcome, reason_code);
    CREATE TABLE carrier_heads (
        item_id TEXT PRIMARY KEY, attempt TEXT NOT NULL, row INTEGER NOT NULL,
        profile_id TEXT NOT NULL, family TEXT NOT NULL, batch TEXT NOT NULL,
        station_id TEXT NOT NULL, operator TEXT NOT NULL, drive TEXT NOT NULL,
        started TEXT NOT NULL, ended TEXT NOT NULL, outcome TEXT NOT NULL,
        reason_code TEXT NOT NULL, bytes_rescued INTEGER NOT NULL, rate REAL NOT NULL
    );
    CREATE INDEX carrier_heads_profile ON carrier_heads(profile_id, outcome, bytes_rescued);
    INSERT INTO heads SELECT attempt, rowid, item_id, profile_id, family, batch, station_id,
        operator, drive, started, ended, outcome, reason_code, bytes_rescued, rate
        FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM attempts b WHERE b.supersedes = a.id);
    INSERT INTO carrier_heads SELECT item_id, attempt, row, profile_id, family, batch,
        station_id, operator, drive, started, ended, outcome, reason_code, bytes_rescued,
        rate FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY item_id
                                                ORDER BY started DESC, ended DESC, row DESC) rn
                   FROM heads WHERE outcome IN ('success', 'partial', 'failed', 'needs_flux',
                                                'audio_disc')) WHERE rn = 1;
    DROP VIEW current_attempts;
    CREATE VIEW current_attempts AS
        SELECT a.*, a.rowid AS seq FROM heads h JOIN attempts a ON a.rowid = h.row;
    """,
    # 3: the ledger is the one record of bags and tapes. Bags have versions (a withdrawn
    # bag is superseded by the next); every tape copy names its bag; withdrawals and
    # releases are rows. Old rows: an empty bag name means the bag is named for its item.
    """
    ALTER TABLE bags ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE bags ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE bags ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
    CREATE INDEX bags_item ON bags(item_id, created);
    ALTER TABLE tape_copies ADD COLUMN bag TEXT NOT NULL DEFAULT '';
    ALTER TABLE tape_copies ADD COLUMN files INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tape_copies ADD COLUMN layout TEXT NOT NULL DEFAULT 'folder';
    ALTER TABLE tape_copies ADD COLUMN recorded TEXT NOT NULL DEFAULT '';
    ALTER TABLE tape_copies ADD COLUMN bag_id TEXT NOT NULL DEFAULT '';
    CREATE INDEX tape_copies_bag ON tape_copies(bag_id);
    CREATE TABLE withdrawals (
        id TEXT PRIMARY KEY, item_id TEXT NOT NULL, bag_id TEXT NOT NULL,
        bag TEXT NOT NULL, station_id TEXT NOT NULL, operator TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL, at TEXT NOT NULL
    );
    CREATE INDEX withdrawals_item ON withdrawals(item_id);
    CREATE TABLE releases (
        id TEXT PRIMARY KEY, item_id TEXT NOT NULL, bag_id TEXT NOT NULL,
        bag TEXT NOT NULL, station_id TEXT NOT NULL, at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX releases_item ON releases(item_id);
    """,
    # 4: optical discs read as discs: what kind of disc (CD-R, DVD+RW, ...), whether
    # pressed, recordable or rewritable, and its class (audio, mixed mode, ...), so
    # statistics slice by them ("rewritable optical" straight out of a report)
    """
    ALTER TABLE attempts ADD COLUMN disc_type TEXT NOT NULL DEFAULT '';
    ALTER TABLE attempts ADD COLUMN disc_kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE attempts ADD COLUMN disc_class TEXT NOT NULL DEFAULT '';
    ALTER TABLE heads ADD COLUMN disc_type TEXT NOT NULL DEFAULT '';
    ALTER TABLE heads ADD COLUMN disc_kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE heads ADD COLUMN disc_class TEXT NOT NULL DEFAULT '';
    ALTER TABLE carrier_heads ADD COLUMN disc_type TEXT NOT NULL DEFAULT '';
    ALTER TABLE carrier_heads ADD COLUMN disc_kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE carrier_heads ADD COLUMN disc_class TEXT NOT NULL DEFAULT '';
    """,
    # 5: carrier metadata (catalogue record, title, volume N of M, condition codes and
    # note, photos as JSON with their digests). A change is a new version superseding
    # the previous one; the current one is the latest no other version supersedes.
    """
    CREATE TABLE carrier_metadata (
        id TEXT PRIMARY KEY, supersedes TEXT NOT NULL DEFAULT '',
        item_id TEXT NOT NULL, station_id TEXT NOT NULL,
        operator TEXT NOT NULL DEFAULT '',
        record_id TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',
        volume INTEGER, volumes INTEGER,
        conditions TEXT NOT NULL DEFAULT '', condition_note TEXT NOT NULL DEFAULT '',
        photos TEXT NOT NULL DEFAULT '[]', recorded TEXT NOT NULL
    );
    CREATE INDEX carrier_metadata_item ON carrier_metadata(item_id, recorded);
    """,
    # 6: times to the microsecond. heads keep each start as a sort key (whole seconds of
    # older rows as ".000000"), and a carrier's latest attempt is decided by (start,
    # station, row) everywhere (carrier_heads, the station's state, routing): see LATEST
    f"""
    UPDATE heads SET started = {sort_sql("started")};
    DELETE FROM carrier_heads;
    INSERT INTO carrier_heads (item_id, attempt, row, profile_id, family, batch, station_id,
        operator, drive, started, ended, outcome, reason_code, bytes_rescued, rate,
        disc_type, disc_kind, disc_class)
        SELECT item_id, attempt, row, profile_id, family, batch, station_id, operator, drive,
            started, ended, outcome, reason_code, bytes_rescued, rate, disc_type, disc_kind,
            disc_class FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY item_id
                                                          ORDER BY {LATEST}) rn
                   FROM heads WHERE outcome IN {ENDED}) WHERE rn = 1;
    CREATE INDEX heads_item ON heads(item_id, started, station_id, row);
    """,
]


def latest_attempt(con: Con, item_id: str) -> Row | None:
    """The current version of the carrier's latest attempt (ended or not), with its
    row number as seq."""
    return con.execute(
        "SELECT a.*, a.rowid AS seq FROM heads h JOIN attempts a ON a.rowid = h.row "
        f"WHERE h.item_id = ? ORDER BY {latest_order('h')} LIMIT 1",
        (item_id,)).fetchone()


def _guards() -> str:
    return "\n".join(
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} BEGIN "
        f"SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows are never changed'); END;\n"
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} BEGIN "
        f"SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows are never deleted'); END;"
        for t in APPEND_ONLY)


_HEAD_COLUMNS = ("item_id, profile_id, family, batch, station_id, operator, drive, started, "
                 "ended, outcome, reason_code, bytes_rescued, rate, disc_type, disc_kind, "
                 "disc_class")
_HEAD_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in _HEAD_COLUMNS.split(", "))


def refresh_heads(con: Con, since: int) -> None:
    """Bring heads and carrier_heads up to date with the attempt rows after rowid since.
    Set-based, inside the caller's transaction (one statement each, not a trigger per
    row: batch insertion stays fast). The current version of an attempt is the one no
    other row supersedes, whatever order the rows arrived in (merges)."""
    current = ("NOT EXISTS (SELECT 1 FROM attempts b WHERE b.supersedes = a.id)")
    started = sort_sql("a.started")
    columns = _HEAD_COLUMNS.replace("started", f"{started} AS started")
    con.execute(
        f"INSERT INTO heads SELECT attempt, rowid, {columns} FROM attempts a "
        f"WHERE rowid > ? AND {current} "
        f"ON CONFLICT(attempt) DO UPDATE SET row = excluded.row, {_HEAD_UPDATE}", (since,))
    # each carrier's latest (LATEST) of the new rows, against the one standing (one row
    # per carrier: PostgreSQL updates a row at most once per statement)
    con.execute(
        f"INSERT INTO carrier_heads SELECT item_id, attempt, row, "
        f"{_HEAD_COLUMNS.replace('item_id, ', '')} FROM ("
        f"SELECT attempt, rowid AS row, {columns}, ROW_NUMBER() OVER ("
        f"PARTITION BY item_id ORDER BY {started} DESC, a.station_id DESC, a.rowid DESC) rn "
        f"FROM attempts a WHERE rowid > ? AND {current} AND outcome IN {ENDED}) "
        f"WHERE rn = 1 "
        f"ON CONFLICT(item_id) DO UPDATE SET attempt = excluded.attempt, row = excluded.row, "
        f"{_HEAD_UPDATE} WHERE excluded.attempt = carrier_heads.attempt "
        f"OR (excluded.started, excluded.station_id, excluded.row) > "
        f"(carrier_heads.started, carrier_heads.station_id, carrier_heads.row)", (since,))


def last_attempt_row(con: Con) -> int:
    return con.execute("SELECT COALESCE(MAX(rowid), 0) FROM attempts").fetchone()[0]


def stable_id(*parts: object) -> str:
    """str(uuid.uuid5(NAMESPACE, "|".join(parts))), without making a UUID object (a
    third of a batch insertion's Python time went there): SHA-1 of the namespace and
    the name, version 5 and the RFC 4122 variant set in place."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "|".join(
        str(p) for p in parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def is_url(target: Path | str) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def connect(path: Path | str, station_id: str = "") -> Con:
    """Open (and migrate) the ledger: a SQLite file, or a PostgreSQL URL (pg.connect)."""
    if is_url(path):
        from workbench.ledger import pg
        return pg.connect(str(path), station_id)
    return connect_sqlite(path)


def connect_sqlite(path: Path | str) -> sqlite3.Connection:
    """Open (and migrate) the ledger file. Safe for several processes at once (WAL).
    A damaged ledger, a full disk or a read-only folder is a WorkbenchError that says
    what to do (see workbench.errors.from_sqlite_error)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if Path(path).is_dir():
            raise BadInput("error.not_a_folder", path=str(path), detail="a folder, not a file")
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    try:
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout = 30000")
        # the switch to WAL and the migrations of a new ledger, one opener at a time:
        # several opening it at once (the drives' workers of one runner, processes)
        # got "database is locked" at once, without the busy wait
        with _setting_up(path):
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA synchronous = NORMAL")
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # reads the schema
            migrate(con)
    except sqlite3.DatabaseError as exc:
        con.close()
        raise ledger_error(exc, path) from exc
    return con


@contextlib.contextmanager
def _setting_up(path: Path | str) -> Iterator[None]:
    """An flock on LEDGER.setup-lock for the opening steps (at most 60 s, then the
    busy timeout decides, as before)."""
    if str(path) == ":memory:":
        yield
        return
    from workbench.atomic import flock_within
    try:
        fd = os.open(f"{path}.setup-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:  # a read-only folder: the ledger's own error says it next
        yield
        return
    try:
        flock_within(fd, 60.0)
        yield
    finally:
        os.close(fd)  # releases the flock


def ledger_error(exc: sqlite3.DatabaseError, path: Path | str) -> Exception:
    """The WorkbenchError for a SQLite fault of the ledger at path (or exc itself)."""
    from workbench.errors import from_sqlite_error
    return from_sqlite_error(exc, path) or exc


def check_ledger(con: Con, path: Path | str) -> None:
    """A whole check of the file (PRAGMA quick_check): IntegrityFailure when damaged.
    On a server: its schema version and every table read (the server keeps its files)."""
    from workbench.errors import IntegrityFailure
    if not isinstance(con, sqlite3.Connection):
        for table in (*APPEND_ONLY, "heads", "carrier_heads"):
            con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return
    try:
        problems = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise ledger_error(exc, path) from exc
    if problems != ["ok"]:
        raise IntegrityFailure("error.ledger_corrupt", path=str(path),
                               detail="; ".join(problems))


def check_version(version: int, where: str) -> None:
    """A ledger newer than this program (another station upgraded first) is refused,
    never written with an older schema's rules."""
    if version > len(MIGRATIONS):
        from workbench.errors import Refused
        raise Refused("ledger_pg.schema_newer", where=where, version=version,
                      ours=len(MIGRATIONS))


def migrate(con: sqlite3.Connection) -> int:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    check_version(version, "SQLite")
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
