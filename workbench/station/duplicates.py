"""One image under several item IDs, and one item ID with several contents: what the
station says about them outside the imaging step (a carrier's history, the log, a
merge of other stations' ledgers). Said, never refused: a second copy of a disc is real."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.i18n import t
from workbench.ledger import conflicts, export
from workbench.ledger.conflicts import Conflict
from workbench.ledger.query import same_image

if TYPE_CHECKING:
    from workbench.ledger.db import Con, Row


@dataclass
class Merged:
    """A merge of one ledger file: rows added per table, and the conflicts it brought."""
    added: dict[str, int]
    conflicts: list[Conflict] = field(default_factory=list)


def merge(con: Con, source: Path) -> Merged:
    """Every row of source goes in (histories are kept whole, append-only); the conflicts
    the new rows bring are reported, each once: a second merge of the file adds nothing
    and reports nothing new (`ledger conflicts` lists every standing one)."""
    export.check_mergeable(source, con)
    new = conflicts.new_rows(con, source)
    added = export.merge_ledger(con, source)
    return Merged(added, conflicts.find_conflicts(con, new) if new else [])


def identical_line(con: Con, item_id: str) -> str:
    """'Same image as ...' for a carrier whose current image other carriers share."""
    row = con.execute(
        "SELECT a.sha256 FROM carrier_heads c JOIN attempts a ON a.rowid = c.row "
        "WHERE c.item_id = ?", (item_id,)).fetchone()
    same = same_image(con, row["sha256"], item_id) if row else []
    return t("dup.identical", items=", ".join(same)) if same else ""


def identical_in(con: Con, rows: list[Row]) -> dict[str, list[str]]:
    """For attempt rows (a log page): row id -> other carriers whose current image is
    that row's, in one query."""
    digests = {r["sha256"] for r in rows if r["sha256"]}
    if not digests:
        return {}
    by_digest: dict[str, set[str]] = {}
    for r in con.execute(
            "SELECT a.sha256, a.item_id FROM heads h JOIN attempts a ON a.rowid = h.row "
            f"WHERE a.outcome IN ('success', 'partial') AND a.sha256 IN "
            f"({', '.join('?' * len(digests))})", sorted(digests)):
        by_digest.setdefault(r["sha256"], set()).add(r["item_id"])
    out = {}
    for r in rows:
        others = sorted(by_digest.get(r["sha256"], set()) - {r["item_id"]})
        if others:
            out[r["id"]] = others
    return out


def conflict_lines(con: Con, item_id: str) -> list[str]:
    """The standing conflicts of one item ID (other content at another station), for
    its history: `show` says them as `ledger conflicts` does."""
    return [conflict_line(c) for c in conflicts.find_conflicts(con)
            if c.kind in ("item", "bag") and c.a.item_id == item_id]


def conflict_line(c: Conflict) -> str:
    """One conflict in words (the CLI prints one line per conflict)."""
    a, b = c.a, c.b
    if c.kind == "bag":  # one item bagged at two stations (ledger/conflicts.py)
        same = a.sha256 and a.sha256 == b.sha256
        return t("ledgerfix.conflict_bag", item=a.item_id, station_a=a.station_id,
                 path_a=a.path, date_a=a.started, station_b=b.station_id, path_b=b.path,
                 date_b=b.started, content=t("ledgerfix.same_content" if same
                                             else "ledgerfix.other_content"))
    if c.kind == "image":
        return t("dup.conflict_image", digest=a.sha256[:16], item_a=a.item_id,
                 station_a=a.station_id, date_a=a.started, item_b=b.item_id,
                 station_b=b.station_id, date_b=b.started)
    return t("dup.conflict_item", item=a.item_id,
             station_a=a.station_id, what_a=_what(a), date_a=a.started,
             station_b=b.station_id, what_b=_what(b), date_b=b.started)


def _what(side: conflicts.Side) -> str:
    digest = side.sha256[:16] if side.sha256 else t("dup.no_image")
    return f"{side.profile_id} {digest} ({t('outcome.' + side.outcome)})"
