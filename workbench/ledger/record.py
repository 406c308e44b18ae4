"""Writing to the ledger: carriers, attempt versions, steps, formats, bags, tape copies.

An attempt is the imaging of one carrier until a final outcome; a resume after a crash or
a cancel continues the same attempt, a retry after a final outcome starts a new one.
Each new state of an attempt is a new version row superseding the previous one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from workbench.imaging.record import JobRecord, Run, utc_now
from workbench.ledger.db import Con, Row, last_attempt_row, latest_attempt, refresh_heads, stable_id
from workbench.tape.catalogue import CopyEntry

FINAL = ("success", "partial", "failed")
ROUTED = ("needs_flux", "audio_disc")  # carriers sent to other equipment, kept apart


def _attempts(record: JobRecord) -> list[list[Run]]:
    """The job's runs grouped into attempts."""
    groups: list[list[Run]] = []
    for run in record.runs:
        if not groups or groups[-1][-1].outcome in FINAL:
            groups.append([])
        groups[-1].append(run)
    return groups


def _latest(con: Con, attempt: str) -> Row | None:
    return con.execute(
        "SELECT * FROM attempts a WHERE attempt = ? AND NOT EXISTS "
        "(SELECT 1 FROM attempts b WHERE b.supersedes = a.id)", (attempt,)).fetchone()


def _insert(con: Con, table: str, row: dict[str, object]) -> bool:
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cur = con.execute(f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})",
                      tuple(row.values()))
    return cur.rowcount > 0


def ensure_carrier(con: Con, record: JobRecord, label: str = "",
                   record_id: str = "", volume: int | None = None,
                   volumes: int | None = None) -> None:
    _insert(con, "carriers", {"item_id": record.item_id, "record_id": record_id,
                              "volume": volume, "volumes": volumes,
                              "profile_id": record.profile_id, "family": record.media_family,
                              "label": label, "station_id": record.station_id,
                              "created": record.started or utc_now()})


def record_job(con: Con, record: JobRecord, job_dir: Path, batch: str = "",
               label: str = "") -> str | None:
    """Bring the ledger up to date with a job record; returns the current attempt id."""
    con.execute("BEGIN IMMEDIATE")
    try:
        ensure_carrier(con, record, label)
        current = None
        groups = _attempts(record)
        first_run = 0
        for n, runs in enumerate(groups):
            # runs are only ever appended: the first run's position is stable (a quick
            # retry can start within the same clock tick). The job's own id tells a fresh
            # job (an earlier one set aside) from the earlier one, whatever the clock said;
            # records from before job ids keep the ids their attempts were given
            attempt = stable_id(record.station_id, record.item_id, "job", record.job_id,
                                first_run) if record.job_id else \
                stable_id(record.station_id, record.item_id, runs[0].started, first_run)
            first_run += len(runs)
            last = runs[-1]
            is_current = n == len(groups) - 1
            if not is_current and _latest(con, attempt) is not None:
                continue  # recorded in full while it was current
            outcome = last.outcome if not is_current else record.outcome
            reason = record.reason if is_current and record.reason else None
            drive = last.drive or {}
            row = {
                "attempt": attempt, "item_id": record.item_id,
                "station_id": record.station_id, "operator": last.operator,
                "drive": " ".join(x for x in (drive.get("vendor", ""), drive.get("model", ""))
                                  if x) or drive.get("path", ""),
                "drive_serial": drive.get("serial", ""), "profile_id": record.profile_id,
                "family": record.media_family, "batch": batch, "started": runs[0].started,
                "ended": last.ended, "outcome": outcome,
                "reason_code": reason.code if reason else "",
                "reason": reason.text if reason else "",
                "bytes": record.size if is_current else 0,
                "bytes_rescued": record.bytes_rescued if is_current else 0,
                "bad_sectors": record.bad_sector_count if is_current else 0,
                "read_errors": sum(r.read_errors for r in runs),
                "rate": record.average_rate if is_current else 0.0,
                "md5": record.digests.get("md5", "") if is_current else "",
                "sha256": record.digests.get("sha256", "") if is_current else "",
                "job_dir": str(job_dir), "note": "",
                **disc_columns(record),
            }
            add_version(con, row)
            current = attempt
        con.execute("COMMIT")
        return current
    except BaseException:
        con.execute("ROLLBACK")
        raise


def disc_columns(record: JobRecord) -> dict[str, str]:
    """An optical disc's type, kind and class for statistics; nothing for other
    carriers (their rows, and so their ids, are as before)."""
    if not record.disc:
        return {}
    from workbench.optical.toc import disc_kind
    disc_type = str(record.disc.get("disc_type", ""))
    return {"disc_type": disc_type, "disc_kind": disc_kind(disc_type),
            "disc_class": str(record.disc.get("disc_class", ""))}


def add_version(con: Con, row: dict[str, object]) -> bool:
    """Append a new version of an attempt when it differs from the latest one."""
    latest = _latest(con, str(row["attempt"]))
    if latest is not None and latest["outcome"] in ROUTED and row["outcome"] not in ROUTED \
            and latest["ended"] == row["ended"]:
        return False  # a routing mark stands until the carrier is imaged again
    if latest is not None:
        same = all(latest[k] == v for k, v in row.items() if k not in ("recorded",))
        if same:
            return False
        if latest["batch"] and not row.get("batch"):
            row["batch"] = latest["batch"]  # a resume without --batch keeps the batch
            if all(latest[k] == v for k, v in row.items() if k not in ("recorded",)):
                return False
    content = json.dumps(row, sort_keys=True, default=str)
    row = {"id": stable_id("attempt-version", content,
                           latest["id"] if latest is not None else ""),
           "supersedes": latest["id"] if latest is not None else None,
           **row, "recorded": utc_now()}
    since = last_attempt_row(con)
    added = _insert(con, "attempts", row)
    if added:
        refresh_heads(con, since)
    return added


ATTEMPT_COLUMNS = ("attempt", "item_id", "station_id", "operator", "drive", "drive_serial",
                   "profile_id", "family", "batch", "started", "ended", "outcome",
                   "reason_code", "reason", "bytes", "bytes_rescued", "bad_sectors",
                   "read_errors", "rate", "md5", "sha256", "job_dir", "note")


CARRIER_COLUMNS = ("item_id", "profile_id", "family", "station_id", "created")


def add_attempts(con: Con, rows: list[dict[str, object]],
                 carriers: list[dict[str, object]] | None = None) -> int:
    """Batch insertion of first versions (imports, other systems' logs): one transaction,
    stable ids, so a repeated batch adds nothing. Returns the attempt rows added."""
    now = utc_now()
    if getattr(con, "backend", "sqlite") == "sqlite":
        # 64 MiB of page cache for this connection (SQLite's default is 2 MiB): random
        # stable ids land all over the id index, which outgrows 2 MiB near 50,000
        # attempts; every insertion then re-reads index pages (2x slower at 400,000)
        con.execute("PRAGMA cache_size = -65536")
    con.execute("BEGIN IMMEDIATE")
    try:
        bulk = getattr(con, "insert_many", None)  # the server's COPY (pg.py)
        if carriers and bulk is not None:
            bulk("carriers", CARRIER_COLUMNS, [tuple(c[k] for k in CARRIER_COLUMNS)
                                               for c in carriers])
        elif carriers:
            con.executemany(
                "INSERT OR IGNORE INTO carriers (item_id, record_id, volume, volumes, "
                "profile_id, family, label, station_id, created) VALUES "
                "(:item_id, '', NULL, NULL, :profile_id, :family, '', :station_id, :created)",
                carriers)
        since = last_attempt_row(con)
        versions = ((stable_id("attempt-version", row["attempt"], "first"), None,
                     *(row[c] for c in ATTEMPT_COLUMNS), now) for row in rows)
        if bulk is not None:
            added = bulk("attempts", ("id", "supersedes", *ATTEMPT_COLUMNS, "recorded"),
                         versions)
        else:
            added = con.executemany(
                f"INSERT OR IGNORE INTO attempts (id, supersedes, "
                f"{', '.join(ATTEMPT_COLUMNS)}, recorded) VALUES "
                f"({', '.join('?' * (len(ATTEMPT_COLUMNS) + 3))})",
                versions).rowcount  # summed over the rows, on both backends
        refresh_heads(con, since)
        con.execute("COMMIT")
        return added
    except BaseException:
        con.execute("ROLLBACK")
        raise


def mark(con: Con, item_id: str, outcome: str, note: str, operator: str
         ) -> bool:
    """Route a carrier elsewhere (needs flux imaging, audio disc): a new version of its
    latest attempt, superseding it. Nothing is overwritten."""
    con.execute("BEGIN IMMEDIATE")
    try:
        latest = latest_attempt(con, item_id)
        if latest is None:
            con.execute("ROLLBACK")
            return False
        keys = latest.keys()
        row = {k: latest[k] for k in keys if k not in ("id", "supersedes", "recorded", "seq")}
        row.update(outcome=outcome, note=note, reason_code=outcome, reason=note,
                   operator=operator or row["operator"])
        added = add_version(con, row)
        con.execute("COMMIT")
        return added
    except BaseException:
        con.execute("ROLLBACK")
        raise


def record_event(con: Con, attempt: str, item_id: str, station_id: str,
                 step: str, started: str, ended: str, outcome: str, detail: str = "",
                 key: str = "") -> bool:
    return _insert(con, "events", {
        "id": stable_id("event", attempt, step, key or started, outcome),
        "attempt": attempt, "item_id": item_id, "station_id": station_id, "step": step,
        "started": started, "ended": ended, "outcome": outcome, "detail": detail,
        "recorded": utc_now()})


def record_formats(con: Con, attempt: str, item_id: str, station_id: str,
                   files: list[dict[str, Any]]) -> None:
    by_puid: dict[tuple[str, str, str], list[int]] = {}
    for f in files:
        key = (f.get("puid") or "UNKNOWN", f.get("format_name") or "Unidentified",
               f.get("mime") or "")
        by_puid.setdefault(key, []).append(int(f.get("size", 0)))
    con.execute("BEGIN IMMEDIATE")
    for (puid, name, mime), sizes in sorted(by_puid.items()):
        _insert(con, "formats", {"id": stable_id("formats", attempt, puid), "attempt": attempt,
                                 "item_id": item_id, "station_id": station_id, "puid": puid,
                                 "format_name": name, "mime": mime, "files": len(sizes),
                                 "bytes": sum(sizes)})
    con.execute("COMMIT")


def bag_id(item_id: str, name: str, oxum: str, sha256: str, station_id: str = "",
           path: str = "") -> str:
    """A bag's stable id: its station and path are in it, so that two stations' bags
    of one item (the same content, made during an outage) stay two rows on a shared
    ledger or in a merge. (Rows recorded before keep their ids: record_bag finds them.)"""
    return stable_id("bag", item_id, name, oxum, sha256, station_id, path)


def record_bag(con: Con, attempt: str, item_id: str, station_id: str,
               path: Path, oxum: str, version: int = 1, sha256: str = "") -> str:
    """A made bag; returns its id. Recorded again (an accept run again after a crash),
    the row already there is the answer, whatever id scheme made it."""
    known = con.execute("SELECT id FROM bags WHERE item_id = ? AND station_id = ? AND "
                        "path = ? AND payload_oxum = ? ORDER BY rowid LIMIT 1",
                        (item_id, station_id, str(path), oxum)).fetchone()
    if known is not None:
        return str(known[0])
    row_id = bag_id(item_id, path.name, oxum, sha256, station_id, str(path))
    _insert(con, "bags", {"id": row_id, "item_id": item_id, "attempt": attempt,
                          "station_id": station_id, "path": str(path), "payload_oxum": oxum,
                          "created": utc_now(), "name": path.name, "version": version,
                          "sha256": sha256})
    return row_id


def record_tape_copy(con: Con, item_id: str, station_id: str,
                     entry: CopyEntry, bag_row_id: str = "") -> bool:
    """One state of one tape copy (written, verified or failed) of the bag bag_row_id: a
    new row, never an update; the latest row of a (bag, tape) pair is the copy's current
    state. Two states recorded in the same second stay two rows (the id holds the time
    to the nanosecond); a merge copies ids, so merging twice adds nothing."""
    return _insert(con, "tape_copies", {
        "id": stable_id("copy", bag_row_id or entry.bag, entry.barcode, entry.result,
                        entry.written, entry.verified, entry.detail, time.time_ns()),
        "item_id": item_id, "station_id": station_id, "barcode": entry.barcode,
        "pool": entry.pool, "copy": entry.copy, "bytes": entry.bytes, "result": entry.result,
        "written": entry.written, "verified": entry.verified, "detail": entry.detail,
        "bag": entry.bag, "files": entry.files, "layout": entry.layout,
        "recorded": utc_now(), "bag_id": bag_row_id})


def record_withdrawal(con: Con, item_id: str, bag_row_id: str, bag: str,
                      station_id: str, operator: str, reason: str) -> str:
    at = utc_now()
    row_id = stable_id("withdrawal", bag_row_id)
    _insert(con, "withdrawals", {"id": row_id, "item_id": item_id, "bag_id": bag_row_id,
                                 "bag": bag, "station_id": station_id, "operator": operator,
                                 "reason": reason, "at": at})
    return row_id


def record_release(con: Con, item_id: str, bag_row_id: str, bag: str,
                   station_id: str, detail: str) -> None:
    _insert(con, "releases", {"id": stable_id("release", bag_row_id), "item_id": item_id,
                              "bag_id": bag_row_id, "bag": bag, "station_id": station_id,
                              "at": utc_now(), "detail": detail})
