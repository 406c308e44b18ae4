"""The ledger on a PostgreSQL server (psycopg 3), behind the same calls as SQLite's.

PgConnection takes the ledger's statements as they are written (SQLite's dialect;
dialect.to_postgres translates each once) and gives rows read by name and by position,
like sqlite3.Row. It runs in autocommit, as the SQLite connection does
(isolation_level=None): a statement alone is its own transaction, and the code's own
BEGIN IMMEDIATE ... COMMIT are transactions with the one-writer lock.

Faults are typed (workbench.errors) with keys in locales/*/ledger_pg.toml: a URL that is
not one, a server out of reach, a refused password, a missing database, a schema newer
than this program, a connection lost in the middle of a write (the server rolls back
what it had of the transaction: nothing is half-written).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from workbench.errors import Aborted, BadInput, Refused, WorkbenchError
from workbench.ledger import dialect

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % rows are never %', TG_TABLE_NAME,
        CASE TG_OP WHEN 'UPDATE' THEN 'changed' ELSE 'deleted' END;
END $$
"""


def safe_url(url: str) -> str:
    """The URL as it may be shown: without its password."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed: mask what looks like a password all the same
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class Row:
    """A row read by name or by position; keys() lists the names (sqlite3.Row's ways)."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index, self._values = index, values

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and tuple(self._values) == tuple(other._values)

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values, strict=False))})"


def _row_factory(drop_rowid: bool) -> Any:
    """psycopg row factory: Row objects; `SELECT *` leaves out the rowid column, as
    SQLite's does."""
    def factory(cursor: Any) -> Any:
        names = [c.name for c in cursor.description or []]
        keep = [i for i, n in enumerate(names) if not (drop_rowid and n == "rowid")]
        index: dict[str, int] = {}
        for pos, i in enumerate(keep):
            index.setdefault(names[i], pos)
        if len(keep) == len(names):
            return lambda values: Row(index, values)
        return lambda values: Row(index, [values[i] for i in keep])
    return factory


_STAR = re.compile(r"(^|[\s,.])\*\s*(,|FROM\b)", re.I)


class PgCursor:
    """The rows of one statement, fetched whole (the client-side cursor's way)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall()) if self._cursor.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """A ledger connection to a PostgreSQL server (see the module's words)."""

    backend = "postgresql"

    def __init__(self, raw: Any, url: str, station_id: str) -> None:
        self.raw, self.url, self.station_id = raw, url, station_id
        self.broken = False

    def execute(self, sql: str, parameters: Any = (), /) -> PgCursor:
        import psycopg
        translated = dialect.to_postgres(sql)
        try:
            if translated.startswith("BEGIN; "):  # BEGIN IMMEDIATE: and the write lock
                self.raw.execute("BEGIN")
                try:
                    return PgCursor(self.raw.execute(translated[len("BEGIN; "):]))
                except psycopg.Error:
                    if not self.raw.broken:  # the caller's try begins after BEGIN
                        self.raw.execute("ROLLBACK")
                    raise
            cur = self.raw.cursor(row_factory=_row_factory(bool(_STAR.search(sql))))
            cur.execute(translated, parameters or None, prepare=False)
            return PgCursor(cur)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._fault(exc) from exc

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> PgCursor:
        import psycopg
        try:
            cur = self.raw.cursor()
            cur.executemany(dialect.to_postgres(sql), parameters)
            return PgCursor(cur)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._fault(exc) from exc

    def insert_many(self, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> int:
        """INSERT OR IGNORE of many rows (batch insertion, move-to, a resync) in few
        round trips: COPY into a temporary table of those columns, then one INSERT ...
        ON CONFLICT DO NOTHING in the order given (the row order is the rowid's). Inside
        the caller's transaction. Returns the rows added."""
        import zlib

        import psycopg
        names = ", ".join(columns)
        stage = f"_bulk_{table}_{zlib.crc32(names.encode()):08x}"
        try:
            with self.raw.cursor() as cur:
                # each time: made inside the caller's transaction, a rollback undoes it
                cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT "
                            f"{names} FROM {table} WITH NO DATA")
                cur.execute(f"ALTER TABLE {stage} ADD COLUMN IF NOT EXISTS _n BIGSERIAL")
                cur.execute(f"TRUNCATE {stage}")
                with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "
                            "ORDER BY _n ON CONFLICT DO NOTHING")
                return int(cur.rowcount)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._fault(exc) from exc

    def _fault(self, exc: Exception) -> WorkbenchError:
        """A lost connection (LedgerDropped), or a wait that timed out on a live one
        (another station's long transaction): the statement was not applied."""
        if self.raw.closed or self.raw.broken:
            return self._lost(exc)
        return Aborted("ledger_pg.busy", server=safe_url(self.url), detail=_first_line(exc))

    def _lost(self, exc: Exception) -> WorkbenchError:
        self.broken = True
        return LedgerDropped("ledger_pg.dropped", server=safe_url(self.url),
                             detail=_first_line(exc))

    def close(self) -> None:
        self.raw.close()


class LedgerDropped(Aborted):
    """The connection to the ledger server ended in the middle of a statement or a
    transaction: the server rolled back what it had of it."""


class LedgerUnreachable(Aborted):
    """The ledger server cannot be reached now (down, network): a station may go on
    with its local journal (journal.py)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def connect_error(exc: BaseException, url: str) -> WorkbenchError:
    """The typed fault for a failed connection attempt. A URL libpq cannot parse, or an
    option with a value it does not know (sslmode=bogus), is a typo known before any
    network contact: bad input, never an outage (the station would work on its journal
    for ever)."""
    import psycopg
    text = str(exc)
    server = safe_url(url)
    if isinstance(exc, psycopg.ProgrammingError) or re.search(
            r"invalid \w+ value|invalid URI|invalid connection option", text):
        return BadInput("ledger_pg.bad_url", url=server, detail=_first_line(exc))
    if "password authentication failed" in text or "no password supplied" in text \
            or "authentication failed" in text:
        user = urlsplit(url).username or "?"
        return Refused("ledger_pg.password", server=server, user=user)
    m = re.search(r'role "([^"]+)" does not exist', text)
    if m or "no pg_hba.conf entry" in text or "permission denied for database" in text:
        # the server answered: a permanent refusal of this user, not an outage
        user = m.group(1) if m else (urlsplit(url).username or "?")
        return Refused("pgfix.role_refused", server=server, user=user,
                       detail=_first_line(exc))
    m = re.search(r'database "([^"]+)" does not exist', text)
    if m:
        return Refused("ledger_pg.no_database", server=server, database=m.group(1))
    if ("invalid" in text and ("connection option" in text or "URI" in text
                               or "integer value" in text)) or "missing \"=\"" in text:
        return BadInput("ledger_pg.bad_url", url=server, detail=_first_line(exc))
    return LedgerUnreachable("ledger_pg.unreachable", server=server, detail=_first_line(exc))


def check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an IPv6 host without its closing bracket
        raise BadInput("ledger_pg.bad_url", url=safe_url(url), detail=str(exc)) from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise BadInput("ledger_pg.bad_url", url=safe_url(url), detail="not postgresql://")
    try:
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError as exc:
        raise BadInput("ledger_pg.bad_url", url=safe_url(url), detail=str(exc)) from None
    try:  # libpq's own parse: spaces, unknown options (no network contact)
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return  # connect() says the driver is missing
    try:
        conninfo_to_dict(url)
    except ProgrammingError as exc:
        raise BadInput("ledger_pg.bad_url", url=safe_url(url),
                       detail=_first_line(exc)) from None


class _SecondFault(logging.Filter):
    """psycopg logs a warning when closing a pipeline (executemany) or a COPY fails
    after the statement itself failed: "error ignored terminating <psycopg.Pipeline>: the
    connection is lost". The first fault is raised and typed here (LedgerDropped...); the
    second is the same lost connection, and printed it reads as an error of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


_SECOND_FAULT = _SecondFault()


def connect(url: str, station_id: str = "", timeout: float = 10) -> PgConnection:
    """Open (and migrate) the ledger on a PostgreSQL server."""
    check_url(url)
    logging.getLogger("psycopg").addFilter(_SECOND_FAULT)  # once: a set of filters
    try:
        import psycopg
        from psycopg.adapt import Loader
    except ImportError:
        raise BadInput("ledger_pg.no_driver") from None

    class NumericLoader(Loader):
        """SUM() of integers is numeric on PostgreSQL: an int (or a float), as SQLite
        gives, never a Decimal."""

        def load(self, data: Any) -> int | float:
            text = bytes(data).decode()
            return float(text) if "." in text or "e" in text.lower() or "N" in text \
                else int(text)

    try:
        # keepalives: a server gone without a word (a cable pulled) is noticed in ~25 s;
        # tcp_user_timeout: a write to it waits at most 30 s for an answer
        raw = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)),
                              application_name=f"workbench {station_id}"[:63],
                              keepalives=1, keepalives_idle=10, keepalives_interval=5,
                              keepalives_count=3, tcp_user_timeout=30000)
    except psycopg.Error as exc:
        raise connect_error(exc, url) from exc
    raw.adapters.register_loader("numeric", NumericLoader)
    # as SQLite's busy_timeout: a write waits for another station's at most this long
    raw.execute("SET lock_timeout = '30s'")
    con = PgConnection(raw, url, station_id)
    try:
        migrate(con)
    except BaseException:
        raw.close()
        raise
    return con


VERSION_TABLE = "ledger_schema"


def schema_version(con: PgConnection) -> int:
    row = con.raw.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()
    if not row[0]:
        return 0
    found = con.raw.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()
    return int(found[0] or 0)


def migrate(con: PgConnection) -> int:
    """Bring the server's ledger to this schema: the same MIGRATIONS as SQLite's (in
    PostgreSQL's DDL), in one transaction (DDL is transactional there: a failed
    migration leaves nothing), one process at a time."""
    import psycopg

    from workbench.ledger.db import APPEND_ONLY, MIGRATIONS, check_version
    where = safe_url(con.url)
    try:
        version = schema_version(con)
        check_version(version, where)
        from workbench.ledger.item_locks import HAS_LEASE, TABLE, UPGRADE
        if version >= len(MIGRATIONS) and con.raw.execute(HAS_LEASE).fetchone()[0]:
            return version
        with con.raw.transaction():
            con.raw.execute(f"SELECT pg_advisory_xact_lock({dialect.WRITE_LOCK})")
            con.raw.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
                            "version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
            check_version(schema_version(con), where)  # another station, meanwhile?
            for n in range(schema_version(con), len(MIGRATIONS)):
                con.raw.execute(dialect.ddl_to_postgres(MIGRATIONS[n]), prepare=False)
                con.raw.execute(f"INSERT INTO {VERSION_TABLE} VALUES (%s, now()::text)",
                                (n + 1,))
            # SQLite reads a view's a.* when it runs; PostgreSQL when it is made
            con.raw.execute("DROP VIEW IF EXISTS current_attempts")
            con.raw.execute("CREATE VIEW current_attempts AS SELECT a.*, a.rowid AS seq "
                            "FROM heads h JOIN attempts a ON a.rowid = h.row")
            con.raw.execute(TABLE)  # who holds which item (item_locks.py): not history
            con.raw.execute(UPGRADE)
            con.raw.execute(APPEND_ONLY_FUNCTION)
            for table in APPEND_ONLY:
                con.raw.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                con.raw.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE "
                                f"ON {table} FOR EACH ROW EXECUTE FUNCTION ledger_append_only()")
                con.raw.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
                con.raw.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE "
                                f"ON {table} EXECUTE FUNCTION ledger_append_only()")
    except psycopg.OperationalError as exc:
        raise con._lost(exc) from exc
    except (psycopg.errors.InvalidSchemaName, psycopg.errors.InsufficientPrivilege) as exc:
        # the URL's schema (search_path) is missing, or the user may not create there:
        # the administrator's to settle, not an outage and not a bug
        schema = con.raw.execute("SELECT current_setting('search_path')").fetchone()[0]
        raise Refused("linkfix.schema_refused", server=where, schema=str(schema),
                      user=urlsplit(con.url).username or "?",
                      detail=_first_line(exc)) from exc
    return len(MIGRATIONS)
