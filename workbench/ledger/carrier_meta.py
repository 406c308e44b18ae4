"""Carrier metadata in the ledger: versions of one record per carrier, never changed.

A new description is a new row superseding the current one; describing the same thing
again adds nothing (the id is a digest of the content and the version it follows)."""

from __future__ import annotations

import json

from workbench.carrier_info import CarrierInfo
from workbench.imaging.record import utc_now
from workbench.ledger.db import Con, stable_id

_CURRENT = ("SELECT * FROM carrier_metadata m WHERE item_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM carrier_metadata n WHERE n.supersedes = m.id) "
            "ORDER BY recorded DESC, rowid DESC LIMIT 1")


def current(con: Con, item_id: str) -> CarrierInfo | None:
    row = con.execute(_CURRENT, (item_id,)).fetchone()
    return CarrierInfo.from_row(row) if row is not None else None


def same_record(con: Con, record_id: str, item_id: str) -> list[CarrierInfo]:
    """The current descriptions of the other carriers of a catalogue record (a set's
    other volumes), one per carrier."""
    rows = con.execute(
        "SELECT * FROM carrier_metadata m WHERE record_id = ? AND item_id != ? AND NOT "
        "EXISTS (SELECT 1 FROM carrier_metadata n WHERE n.supersedes = m.id) "
        "ORDER BY item_id, recorded DESC, rowid DESC", (record_id, item_id)).fetchall()
    latest: dict[str, CarrierInfo] = {}
    for row in rows:
        latest.setdefault(row["item_id"], CarrierInfo.from_row(row))
    return list(latest.values())


def history(con: Con, item_id: str) -> list[CarrierInfo]:
    """Every version, oldest first (`show` and merges from other stations)."""
    rows = con.execute("SELECT * FROM carrier_metadata WHERE item_id = ? "
                       "ORDER BY recorded, rowid", (item_id,)).fetchall()
    return [CarrierInfo.from_row(r) for r in rows]


def record(con: Con, info: CarrierInfo) -> CarrierInfo:
    """Append info as the carrier's new version (unless it says what the current one
    says); returns the current version after it."""
    con.execute("BEGIN IMMEDIATE")
    try:
        latest = con.execute(_CURRENT, (info.item_id,)).fetchone()
        previous = CarrierInfo.from_row(latest) if latest is not None else None
        if previous is not None and previous.content() == info.content():
            con.execute("COMMIT")
            return previous
        supersedes = previous.version if previous is not None else ""
        row_id = stable_id("carrier-metadata", info.item_id,
                           json.dumps(info.content(), sort_keys=True), supersedes)
        con.execute(
            "INSERT OR IGNORE INTO carrier_metadata (id, supersedes, item_id, station_id, "
            "operator, record_id, title, volume, volumes, conditions, condition_note, "
            "photos, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row_id, supersedes, info.item_id, info.station_id, info.operator,
             info.record_id, info.title, info.volume, info.volumes,
             ",".join(info.conditions), info.condition_note,
             json.dumps(info.content()["photos"], ensure_ascii=False), utc_now()))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    found = current(con, info.item_id)
    assert found is not None
    return found
