"""The ledger as the tape engine's copy book: every copy state is a ledger row; the JSON
catalogue beside the ledger (and on each tape) is only an export of it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.atomic import write_atomic
from workbench.imaging.record import utc_now
from workbench.ledger import record as ledger
from workbench.station.view import Bag, copies_of, entry_of
from workbench.tape.catalogue import CopyEntry, latest, to_json

if TYPE_CHECKING:
    from workbench.ledger.db import Con


def item_of(bag: str) -> str:
    """Bags are named ITEM (first version) or ITEM+vN; item IDs never hold '+'."""
    return bag.split("+v", 1)[0]


def bag_name(item_id: str, version: int) -> str:
    return item_id if version == 1 else f"{item_id}+v{version}"


class LedgerBook:
    """CopyBook over the ledger: add() is an INSERT (never lost to a concurrent writer,
    never duplicated: stable ids), current() reads the latest row of each copy. The book
    holds this station's copies of this station's bags: merged rows of other stations
    describe their tapes."""

    def __init__(self, con: Con, station_id: str) -> None:
        self.con, self.station_id = con, station_id

    def _bag(self, name: str) -> Bag | None:
        row = self.con.execute("SELECT * FROM bags WHERE station_id = ? AND (name = ? OR "
                               "(name = '' AND item_id = ?)) "
                               "ORDER BY created DESC, rowid DESC LIMIT 1",
                               (self.station_id, name, name)).fetchone()
        if row is None:
            return None
        return Bag(row["id"], row["item_id"], row["name"] or row["item_id"], row["path"],
                   row["version"], row["attempt"], row["payload_oxum"], row["sha256"],
                   row["created"], row["station_id"])

    def bag_of(self, name: str) -> Bag | None:
        """The ledger's bag of this station named name (None: not this station's)."""
        return self._bag(name)

    def add(self, entry: CopyEntry) -> None:
        """The copy's state and its step, in one transaction."""
        bag = self._bag(entry.bag)
        item = bag.item_id if bag else item_of(entry.bag)
        self.con.execute("BEGIN IMMEDIATE")
        try:
            ledger.record_tape_copy(self.con, item, self.station_id, entry,
                                    bag.id if bag else "")
            if bag is not None:
                verb = "verification" if entry.verified else "write"
                ledger.record_event(self.con, bag.attempt, item, self.station_id,
                                    f"tape copy {entry.copy}", entry.verified or entry.written,
                                    utc_now(), entry.result,
                                    f"{verb} {entry.bag} on {entry.barcode} ({entry.pool}) "
                                    f"{entry.detail}".strip(),
                                    key=f"{entry.bag}|{entry.barcode}|{entry.written}|"
                                        f"{entry.verified}|{entry.detail}")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def entries(self) -> list[CopyEntry]:
        return [entry_of(r) for r in self.con.execute(
            "SELECT * FROM tape_copies WHERE station_id = ? ORDER BY MAX(written, verified), "
            "rowid", (self.station_id,))]

    def current(self) -> dict[tuple[str, str], CopyEntry]:
        return latest(self.entries())

    def history(self, bag: str) -> list[CopyEntry]:
        found = self._bag(bag)
        if found is None:
            return [e for e in self.entries() if e.bag == bag]
        return copies_of(self.con, found)

    def export(self, path: Path) -> None:
        """The station's catalogue file: every copy state, as the ledger holds them."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, to_json(self.entries()))
