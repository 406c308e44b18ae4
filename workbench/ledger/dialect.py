"""Every difference between the ledger's SQL on SQLite and on PostgreSQL, in one place.

The ledger's queries are written once, in the SQLite dialect the project always had;
on PostgreSQL each statement passes through to_postgres() (cached) before it runs:

- placeholders: ``?`` and ``:name`` become ``%s`` and ``%(name)s`` (a literal ``%``
  is doubled);
- ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``;
- ``SUM(col = 'x')`` (a boolean summed) becomes ``SUM(CASE WHEN ... THEN 1 ELSE 0 END)``,
  ``(expr) = 1`` compares the expression as an integer, two-argument ``MAX(a, b)`` is
  ``GREATEST(a, b)``, ``date(?, '+1 day')`` a date sum;
- a subquery in FROM gets the alias PostgreSQL requires;
- ``BEGIN IMMEDIATE`` (SQLite's one writer at a time) becomes ``BEGIN`` and a
  transaction-level advisory lock, so writers are serialised exactly as on SQLite and
  the row order (rowid) is the order of commits.

The schema (MIGRATIONS in db.py) passes through ddl_to_postgres(): TEXT is compared
byte-wise (COLLATE "C", as SQLite compares), INTEGER is 64-bit, REAL double precision,
and the history tables get the rowid column SQLite gives every table. The rows of
PostgreSQL leave that column out of ``SELECT *`` (see pg.py), as SQLite does.
"""

from __future__ import annotations

import functools
import re

# the tables whose rows have a rowid on PostgreSQL (SQLite: every table)
HISTORY = ("carriers", "attempts", "events", "formats", "bags", "tape_copies",
           "withdrawals", "releases", "carrier_metadata")
# the advisory lock of BEGIN IMMEDIATE: one per ledger (a ledger is a schema: tests and
# several ledgers on one server have their own)
WRITE_LOCK = "hashtext('workbench-ledger:' || current_schema()), 0"

_STRING = re.compile(r"'(?:[^']|'')*'")
_KEYWORDS_AFTER_SUBQUERY = ("WHERE", "GROUP", "ORDER", "LIMIT", "UNION", "EXCEPT",
                            "JOIN", "LEFT", "ON", "")


def _placeholders(sql: str) -> str:
    """? and :name as %s and %(name)s; a literal % doubled. String literals untouched
    (a '?' or ':' in them is text)."""
    out, pos = [], 0
    for m in _STRING.finditer(sql):
        out.append(_marks(sql[pos:m.start()]))
        out.append(m.group().replace("%", "%%"))
        pos = m.end()
    out.append(_marks(sql[pos:]))
    return "".join(out)


def _marks(text: str) -> str:
    text = text.replace("%", "%%")
    text = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", text)
    return text.replace("?", "%s")


def _alias_subqueries(sql: str) -> str:
    """PostgreSQL 15 wants every subquery in FROM named: `FROM (SELECT ...) WHERE`."""
    out = sql
    n = 0
    search = 0
    while True:
        m = re.compile(r"\bFROM\s*\(", re.I).search(out, search)
        if m is None:
            return out
        depth, i = 0, m.end() - 1
        while i < len(out):
            if out[i] == "'":
                i = out.index("'", i + 1)
            elif out[i] == "(":
                depth += 1
            elif out[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        rest = out[i + 1:]
        word = re.match(r"\s*(\w*)", rest)
        following = word.group(1).upper() if word else ""
        if following in _KEYWORDS_AFTER_SUBQUERY or rest.lstrip().startswith(")"):
            n += 1
            out = f"{out[:i + 1]} AS _sub{n}{rest}"
        search = m.end()


_REWRITES = (
    # a boolean summed: SQLite counts true as 1
    (re.compile(r"\bSUM\((\w+(?:\.\w+)?\s*=\s*'(?:[^']|'')*')\)", re.I),
     r"SUM(CASE WHEN \1 THEN 1 ELSE 0 END)"),
    (re.compile(r"\bdate\(\?,\s*'\+1 day'\)"), "(CAST(? AS date) + 1)::text"),
    (re.compile(r"\bMAX\((\w+(?:\.\w+)?),\s*(\w+(?:\.\w+)?)\)", re.I), r"GREATEST(\1, \2)"),
    # `(col IN (...)) = 1` (SQLite's truth, which its expression index matches): the
    # condition itself, which PostgreSQL's partial index (ddl_to_postgres) matches
    (re.compile(r"\((\w+ IN \([^()]*\))\)\s*=\s*1\b"), r"(\1)"),
    # any other boolean compared with 1: compared as an integer
    (re.compile(r"\)\s*=\s*1\b"), ")::int = 1"),
)


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """A ledger statement (SQLite dialect) as PostgreSQL runs it."""
    stripped = sql.strip().rstrip(";").strip()
    if stripped.upper() == "BEGIN IMMEDIATE":
        return f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
    ignore = re.match(r"\s*INSERT\s+OR\s+IGNORE\s+", sql, re.I) is not None
    if ignore:
        sql = re.sub(r"^\s*INSERT\s+OR\s+IGNORE\s+", "INSERT ", sql, count=1, flags=re.I)
    for pattern, replacement in _REWRITES:
        sql = pattern.sub(replacement, sql)
    result = _alias_subqueries(_placeholders(sql))
    if ignore:
        result = result.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return result


def ddl_to_postgres(script: str) -> str:
    """A migration (SQLite DDL) as PostgreSQL DDL."""
    # an expression in an index's column list needs its own parentheses
    # (PostgreSQL: a partial index the median's `outcome IN (...)` walks, see _REWRITES)
    script = script.replace("heads(profile_id, outcome IN ('success', 'partial'), rate)",
                            "heads(profile_id, rate) WHERE outcome IN ('success', 'partial')")
    script = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', script)
    script = re.sub(r"\bINTEGER\b", "BIGINT", script)
    script = re.sub(r"\bREAL\b", "DOUBLE PRECISION", script)
    for table in HISTORY:
        script = re.sub(rf"(CREATE TABLE {table} \()", r"\1 rowid BIGSERIAL UNIQUE,", script)
    for pattern, replacement in _REWRITES:
        script = pattern.sub(replacement, script)
    return _alias_subqueries(script)
