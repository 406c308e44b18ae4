"""What state a carrier is in, read from the ledger (the one record), and the work list.

The CLI's `show`/`pending`, the UI's home work list and result screen, and every station
action read the state from here, so all of them agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.ledger import db
from workbench.station.states import Action, State, allowed
from workbench.tape.catalogue import VERIFIED, CopyEntry, latest

if TYPE_CHECKING:
    from workbench.ledger.db import Con, Row

UNFINISHED = ("running", "aborted")
ROUTED = ("needs_flux", "audio_disc")


@dataclass(frozen=True)
class Bag:
    id: str
    item_id: str
    name: str
    path: str
    version: int
    attempt: str
    oxum: str
    sha256: str
    created: str
    station_id: str = ""
    withdrawn: str = ""  # the reason, when withdrawn
    released: bool = False


@dataclass(frozen=True)
class CarrierState:
    item_id: str
    state: State
    attempt: dict[str, object] | None = None  # the latest version of the latest attempt
    bag: Bag | None = None  # the bag of the latest attempt (withdrawn or not)
    bags: tuple[Bag, ...] = ()  # every version, oldest first
    copies: dict[str, list[CopyEntry]] = field(default_factory=dict)  # bag name -> copies
    missing_pools: tuple[str, ...] = ()  # pools without a verified copy of `bag`

    @property
    def is_ingest(self) -> bool:
        """Files ingested (station/ingest.py), not a carrier imaged: the same ingest
        command continues it; migrate, retry and accept refuse it."""
        return self.attempt is not None and str(self.attempt["family"]) == "ingest"

    @property
    def next_actions(self) -> list[Action]:
        if self.is_ingest and self.state in (State.INTERRUPTED, State.IMAGED, State.FAILED,
                                             State.WITHDRAWN):
            return [Action.NOTE]  # the way on is the ingest command (next_step)
        return allowed(self.state)

    @property
    def outcome(self) -> str:
        return str(self.attempt["outcome"]) if self.attempt else ""

    @property
    def job_dir(self) -> str:
        return str(self.attempt["job_dir"]) if self.attempt else ""

    @property
    def batch(self) -> str:
        return str(self.attempt["batch"]) if self.attempt else ""


def _bags(con: Con, item_id: str) -> list[Bag]:
    rows = con.execute(
        "SELECT b.*, w.reason AS withdrawn, r.id AS released FROM bags b "
        "LEFT JOIN withdrawals w ON w.bag_id = b.id LEFT JOIN releases r ON r.bag_id = b.id "
        "WHERE b.item_id = ? ORDER BY b.version, b.created, b.rowid", (item_id,)).fetchall()
    return [Bag(r["id"], r["item_id"], r["name"] or r["item_id"], r["path"], r["version"],
                r["attempt"], r["payload_oxum"], r["sha256"], r["created"], r["station_id"],
                r["withdrawn"] or "", bool(r["released"])) for r in rows]


def copies_of(con: Con, bag: Bag) -> list[CopyEntry]:
    """Every recorded state of every tape copy of a bag, in the order they happened.
    A copy belongs to one bag (its id): another station's bag of the same name, merged
    into this ledger, has copies of its own. Rows from before copies named their bag's id
    are matched by name and the station that made the bag."""
    rows = con.execute(
        "SELECT * FROM tape_copies WHERE bag_id = ? OR (bag_id = '' AND station_id = ? "
        "AND (bag = ? OR (bag = '' AND item_id = ? AND ? = ?))) "
        "ORDER BY MAX(written, verified), rowid",
        (bag.id, bag.station_id, bag.name, bag.item_id, bag.name, bag.item_id)).fetchall()
    return [entry_of(r) for r in rows]


def entry_of(r: Row) -> CopyEntry:
    return CopyEntry(bag=r["bag"] or r["item_id"], barcode=r["barcode"], pool=r["pool"],
                     bytes=r["bytes"], files=r["files"], result=r["result"],
                     written=r["written"], verified=r["verified"], detail=r["detail"],
                     layout=r["layout"], copy=r["copy"])


def latest_attempt(con: Con, item_id: str) -> dict[str, object] | None:
    """The carrier's latest attempt (ledger.db.LATEST: what every reader calls latest)."""
    row = db.latest_attempt(con, item_id)
    return dict(row) if row is not None else None


def state_of(con: Con, item_id: str, pools: tuple[str, ...]) -> CarrierState:
    attempt = latest_attempt(con, item_id)
    if attempt is None:
        return CarrierState(item_id, State.NEW)
    bags = _bags(con, item_id)
    copies = {b.name: list(latest(copies_of(con, b)).values()) for b in bags}
    outcome = attempt["outcome"]
    bag = next((b for b in reversed(bags) if b.attempt == attempt["attempt"]), None)
    missing: tuple[str, ...] = ()
    if bag is not None:
        verified = {c.pool for c in copies.get(bag.name, []) if c.result == VERIFIED}
        missing = tuple(p for p in pools if p not in verified)

    def make(state: State) -> CarrierState:
        return CarrierState(item_id, state, attempt, bag, tuple(bags), copies, missing)

    if outcome in UNFINISHED:
        return make(State.INTERRUPTED)
    if outcome in ROUTED:
        return make(State.ROUTED)
    if outcome == "failed":
        return make(State.FAILED)
    if bag is None:
        return make(State.IMAGED)
    if bag.withdrawn:
        return make(State.WITHDRAWN)
    if bag.released:
        return make(State.RELEASED)
    return make(State.BAGGED if missing else State.ON_TAPE)


# the work list: unfinished carriers and the action that continues each
PENDING_STATES = {State.INTERRUPTED: Action.IMAGE, State.IMAGED: Action.ACCEPT,
                  State.BAGGED: Action.TAPE_WRITE, State.ON_TAPE: Action.RELEASE,
                  State.WITHDRAWN: Action.RETRY}


def next_step(st: CarrierState) -> tuple[str, dict[str, str]]:
    """The work list's next step (an i18n key and its fields): an unfinished ingest is
    continued by the same ingest command, never by migrate, accept or retry."""
    if st.is_ingest and st.state in (State.INTERRUPTED, State.IMAGED, State.FAILED,
                                     State.WITHDRAWN):
        assert st.attempt is not None
        # waiting: read again (--again) or bag as read; withdrawn: a new version
        key = {State.IMAGED: "ingest2.next_waiting",
               State.WITHDRAWN: "ingest2.next_withdrawn"}.get(st.state, "tapefix.next_ingest")
        return key, {"item": st.item_id, "source": str(st.attempt["drive"] or "SOURCE")}
    action = PENDING_STATES.get(st.state)
    return (f"action.{action.value}", {}) if action else ("", {})


def pending(con: Con, pools: tuple[str, ...], station_id: str,
            limit: int = 500) -> list[CarrierState]:
    """This station's carriers with work left, oldest first: interrupted, imaged but not
    accepted, bagged but not on tape in every pool, on tape but not released, withdrawn
    (other stations' carriers, merged in, are theirs to finish)."""
    candidates = con.execute(
        # latest attempt interrupted (no later ended attempt)
        "SELECT h.item_id, h.started FROM heads h LEFT JOIN carrier_heads c "
        "ON c.item_id = h.item_id WHERE h.outcome IN ('running', 'aborted') AND "
        "h.station_id = ? AND (c.item_id IS NULL OR (h.started, h.station_id, h.row) > "
        "(c.started, c.station_id, c.row)) "
        "UNION "
        # accepted outcomes whose bag is not released (or was withdrawn)
        "SELECT c.item_id, c.started FROM carrier_heads c WHERE c.outcome IN "
        "('success', 'partial') AND c.station_id = ? AND NOT EXISTS (SELECT 1 FROM bags b "
        "JOIN releases r ON r.bag_id = b.id WHERE b.attempt = c.attempt AND NOT EXISTS "
        "(SELECT 1 FROM withdrawals w WHERE w.bag_id = b.id)) "
        "ORDER BY 2, 1 LIMIT ?", (station_id, station_id, limit)).fetchall()
    out = []
    for row in candidates:
        state = state_of(con, row["item_id"], pools)
        if state.state in PENDING_STATES:
            out.append(state)
    return out
