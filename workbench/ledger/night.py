"""Reading what unattended batches did: every disc an autoloader took out of a drive is
an event of step "autoloader" (its outcome: done, partial or rejected; its detail a JSON
object: batch, drive, bin, reason, params, text), recorded by workbench.station.autoload.
"""

from __future__ import annotations

import json
from typing import Any

from workbench.ledger.db import Con, sort_time

STEP = "autoloader"


def dispositions(con: Con, since: str = "", batch: str = "",
                 station: str = "") -> list[dict[str, Any]]:
    """The discs taken out of drives since `since` (a UTC time as the ledger writes it),
    oldest first; of one batch and one station when given. A whole second is its start
    (".000000"), so it compares right with times to the second and to the microsecond."""
    rows = con.execute(
        "SELECT item_id, station_id, started, ended, outcome, detail FROM events "
        "WHERE step = ? AND ended >= ? ORDER BY ended, item_id", (STEP, sort_time(since)))
    out = []
    for r in rows:
        try:
            detail = json.loads(r["detail"])
        except ValueError:
            detail = {}
        if not isinstance(detail, dict):
            detail = {}
        if (batch and detail.get("batch") != batch) or (station and r["station_id"] != station):
            continue
        out.append({"item": r["item_id"], "station": r["station_id"], "loaded": r["started"],
                    "ended": r["ended"], "status": r["outcome"], **detail})
    return out


def has_disposition(con: Con, item_id: str) -> bool:
    """Whether an autoloader ever took a disc recorded under this item ID."""
    return con.execute("SELECT 1 FROM events WHERE item_id = ? AND step = ? LIMIT 1",
                       (item_id, STEP)).fetchone() is not None
