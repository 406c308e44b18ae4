"""What two stations' records disagree on, found in a ledger after a merge.

Per carrier and station the latest finished attempt counts (a retry at one station
supersedes that station's earlier image; it is no conflict). Two kinds:

- ``item``: one item ID, different content at two stations: their images differ (SHA-256)
  or they imaged it as different carriers (profiles). Two discs were given one ID, or a
  label was misread.
- ``image``: one image (SHA-256) under two item IDs at two stations: one carrier imaged
  twice under two IDs (or a true second copy, which the report lets a person confirm).
- ``bag``: one item bagged at two stations, each bag current (not withdrawn), whether
  their content is identical or not: the same item recorded elsewhere meanwhile (an
  outage, a merge). Two bags, two sets of tape copies: one is to be withdrawn.

Nothing here changes the ledger: a merge keeps every station's history (append-only), and
these are reported for a person to settle.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

from workbench.ledger.db import Con, latest_order

FINISHED = ("success", "partial", "failed", "needs_flux", "audio_disc")
KINDS = ("item", "image", "bag")
FIELDS = ("attempt", "item_id", "station_id", "profile_id", "sha256", "outcome", "started",
          "path")


@dataclass(frozen=True)
class Side:
    attempt: str  # the attempt row (version) this side stands on
    item_id: str
    station_id: str
    profile_id: str
    sha256: str
    outcome: str
    started: str
    path: str = ""  # a bag's (kind bag; its id is the attempt field)


@dataclass(frozen=True)
class Conflict:
    kind: str  # one of KINDS
    a: Side
    b: Side

    def row(self) -> dict[str, str]:
        """Flat, for CSV: kind, then each side's fields as a_... and b_..."""
        return {"kind": self.kind, **{f"a_{k}": v for k, v in asdict(self.a).items()},
                **{f"b_{k}": v for k, v in asdict(self.b).items()}}


IMAGED = ("success", "partial")  # an attempt whose image says what the carrier holds


def _latest(con: Con) -> list[Side]:
    """Each station's latest finished attempt at each carrier."""
    rows = con.execute(
        "SELECT id, item_id, station_id, profile_id, sha256, outcome, started FROM ("
        " SELECT a.id, a.item_id, a.station_id, a.profile_id, a.sha256, a.outcome, a.started,"
        " ROW_NUMBER() OVER (PARTITION BY a.item_id, a.station_id"
        f"                    ORDER BY {latest_order('h')}) AS rn"
        " FROM heads h JOIN attempts a ON a.rowid = h.row"
        f" WHERE h.outcome IN ({', '.join('?' * len(FINISHED))})) WHERE rn = 1"
        " ORDER BY item_id, station_id", FINISHED).fetchall()
    return [Side(*(str(r[k] or "") for k in range(7))) for r in rows]


def find_conflicts(con: Con, involving: set[str] | None = None
                   ) -> list[Conflict]:
    """Every conflict in the ledger; with involving (attempt row ids), only those one of
    whose sides is such a row (what a merge brought)."""
    by_item: dict[str, list[Side]] = {}
    by_image: dict[str, list[Side]] = {}
    for side in _latest(con):
        by_item.setdefault(side.item_id, []).append(side)
        if side.sha256 and side.outcome in ("success", "partial"):
            by_image.setdefault(side.sha256, []).append(side)
    found = []
    for sides in by_item.values():
        for a, b in combinations(sides, 2):  # stations differ: one row per station
            # a failed or routed side read nothing to compare: the other station's
            # attempt is the retry routing asks for (on other equipment), not a conflict
            if a.outcome not in IMAGED or b.outcome not in IMAGED:
                continue
            if (a.sha256 and b.sha256 and a.sha256 != b.sha256) or a.profile_id != b.profile_id:
                found.append(Conflict("item", a, b))
    for sides in by_image.values():
        for a, b in combinations(sorted(sides, key=lambda s: (s.item_id, s.station_id)), 2):
            if a.item_id != b.item_id and a.station_id != b.station_id:
                found.append(Conflict("image", a, b))
    by_bag: dict[str, list[Side]] = {}
    for side in _current_bags(con):
        by_bag.setdefault(side.item_id, []).append(side)
    for sides in by_bag.values():
        found += [Conflict("bag", a, b) for a, b in combinations(sides, 2)]
    if involving is not None:
        found = [c for c in found if c.a.attempt in involving or c.b.attempt in involving]
    return found


def _current_bags(con: Con) -> list[Side]:
    """Each station's current bag (its latest not withdrawn) of each item that has a
    current bag at more than one station. attempt: the bag's row id."""
    rows = con.execute(
        "SELECT id, item_id, station_id, profile_id, sha256, outcome, created, path FROM ("
        " SELECT b.id, b.item_id, b.station_id, COALESCE(h.profile_id, '') AS profile_id,"
        " b.sha256, COALESCE(h.outcome, '') AS outcome, b.created, b.path,"
        " ROW_NUMBER() OVER (PARTITION BY b.item_id, b.station_id"
        "                    ORDER BY b.version DESC, b.created DESC, b.rowid DESC) AS rn"
        " FROM bags b LEFT JOIN heads h ON h.attempt = b.attempt"
        " WHERE NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.bag_id = b.id)"
        " AND b.item_id IN (SELECT item_id FROM bags GROUP BY item_id"
        "                   HAVING COUNT(DISTINCT station_id) > 1)"
        ") WHERE rn = 1 ORDER BY item_id, station_id").fetchall()
    return [Side(*(str(r[k] or "") for k in range(8))) for r in rows]


@dataclass(frozen=True)
class SameImage:
    """One image under several item IDs: every side of the "image" pairs of one digest,
    once each (n carriers make n(n-1)/2 pairs; a person reads one line)."""
    sha256: str
    sides: tuple[Side, ...]


def grouped(conflicts: list[Conflict]) -> tuple[list[Conflict], list[SameImage]]:
    """The real conflicts (one item ID with different content; one item bagged at two
    stations) as they are, first; then the "same image" pairs grouped by image, the
    largest group first."""
    items = [c for c in conflicts if c.kind != "image"]
    by_image: dict[str, dict[tuple[str, str], Side]] = {}
    for c in conflicts:
        if c.kind == "image":
            for side in (c.a, c.b):
                by_image.setdefault(side.sha256, {})[(side.item_id, side.station_id)] = side
    images = [SameImage(digest, tuple(sides[k] for k in sorted(sides)))
              for digest, sides in sorted(by_image.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    return items, images


def new_rows(con: Con, source: Path) -> set[str]:
    """The attempt and bag rows of the ledger file source that this ledger does not hold
    yet (asked before merging it)."""
    import sqlite3
    other = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    new: set[str] = set()
    try:
        for table in ("attempts", "bags"):
            theirs = [str(r[0]) for r in other.execute(f"SELECT id FROM {table}")]
            held: set[str] = set()
            for n in range(0, len(theirs), 500):
                chunk = theirs[n:n + 500]
                held |= {str(r[0]) for r in con.execute(
                    f"SELECT id FROM {table} WHERE id IN ({', '.join('?' * len(chunk))})",
                    chunk)}
            new |= set(theirs) - held
    finally:
        other.close()
    return new


def to_csv(conflicts: list[Conflict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["kind", *(f"{s}_{k}" for s in "ab" for k in FIELDS)],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(c.row() for c in conflicts)
    return out.getvalue()


def to_json(conflicts: list[Conflict]) -> str:
    return json.dumps([{"kind": c.kind, "a": asdict(c.a), "b": asdict(c.b)}
                       for c in conflicts], ensure_ascii=False, indent=2) + "\n"
