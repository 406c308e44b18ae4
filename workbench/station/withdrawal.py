"""Withdrawing a bag: a station withdraws a bag it made itself.

In a shared ledger (or one merged from several stations) an item may have bags of more
than one station: two stations imaged it, one of them during an outage. The carrier's
"latest" bag is then whichever was recorded last, not the one the person at this station
means. So withdraw takes this station's own newest current bag (not withdrawn), and,
when this station has none, refuses naming the station whose bag is current: the bag,
its staging folder and its tapes are there, and the decision to withdraw it belongs to
the person who can look at it. There is no "withdraw another station's bag from here":
a withdrawal is only a ledger row, so the other station can always make it itself, and a
row that says "station-B withdrew station-A's bag" is exactly the wrong record this
rule is for (tryout 15b, N1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import BadInput, Refused
from workbench.i18n import t
from workbench.imaging.record import utc_now
from workbench.ledger import record as ledger
from workbench.station.states import Action

if TYPE_CHECKING:
    from workbench.station.core import Station
    from workbench.station.view import Bag, CarrierState


def own_bag(st: CarrierState, station_id: str) -> Bag:
    """The bag a withdrawal at station_id takes: its own newest bag not yet withdrawn
    (rows of ledgers from before station ids name no station: this station's). Refused
    naming the station whose bag is current when this station has none."""
    current = [b for b in st.bags if not b.withdrawn]
    mine = [b for b in current if b.station_id in (station_id, "")]
    if mine:
        return mine[-1]  # bags are oldest first
    others = sorted({b.station_id for b in current})
    if others:
        raise Refused("crossfix.withdraw_elsewhere", item=st.item_id,
                      station=", ".join(others))
    assert st.bag is not None  # the state machine let a bagged state through
    return st.bag


def withdraw(station: Station, item_id: str, reason: str) -> CarrierState:
    """Station.withdraw: the bag (own_bag) and its step, in one transaction."""
    if not reason.strip():
        raise BadInput("station.withdraw_reason")
    refuse_waiting_ingest(station.state(item_id))
    lock, st = station._begin(item_id, Action.WITHDRAW)
    try:
        bag = own_bag(st, station.settings.station_id)
        con, here = station.con, station.settings.station_id
        con.execute("BEGIN IMMEDIATE")  # the row and its step, or neither
        try:
            ledger.record_withdrawal(con, st.item_id, bag.id, bag.name, here,
                                     station.settings.operator, reason.strip())
            now = utc_now()
            # the step belongs to the attempt that made the withdrawn bag
            ledger.record_event(con, bag.attempt, st.item_id, here, "withdrawal", now, now,
                                "recorded", f"{bag.name}: {reason.strip()}", key=bag.id)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return station.state(st.item_id)
    finally:
        lock.release()


def refuse_waiting_ingest(st: CarrierState) -> None:
    """An ingest not bagged yet (waiting on a mismatch or a review, interrupted) has no
    bag to withdraw: its ways on are the ingest command's (--again, --accept-mismatch)."""
    from workbench.station.states import State
    if st.is_ingest and st.state in (State.INTERRUPTED, State.IMAGED, State.FAILED):
        raise Refused("ingest2.withdraw_unbagged", item=st.item_id,
                      state=t(f"state.{st.state.value}"),
                      source=str(st.attempt["drive"] if st.attempt else "") or "SOURCE")


def withdrawn_words(st: CarrierState, station_id: str, reason: str) -> str:
    """The words after a withdrawal at station_id (the CLI and the UI say the same): an
    ingest's next version comes from `ingest`; while another station's bag stays
    current, the carrier goes on there (this station's imaging would be refused)."""
    from workbench.i18n import t
    bag = withdrawn_bag(st, station_id)
    name = bag.name if bag is not None else "-"
    current = st.bag
    if current is not None and not current.withdrawn and current.station_id and \
            current.station_id != station_id:
        return t("lead.withdrawn_other_current", item=st.item_id, bag=name, reason=reason,
                 station=current.station_id, path=current.path)
    return t("ingest2.withdrawn" if st.is_ingest else "station.withdrawn", item=st.item_id,
             bag=name, reason=reason, version=len(st.bags) + 1)


def withdrawn_bag(st: CarrierState, station_id: str) -> Bag | None:
    """After a withdrawal at station_id: the bag it withdrew (its newest withdrawn one),
    for the front ends' message."""
    mine = [b for b in st.bags if b.withdrawn and b.station_id in (station_id, "")]
    return mine[-1] if mine else None
