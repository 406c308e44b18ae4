"""What continues a carrier of the work list, as the station sees it: the ledger's state
(view.next_step) and, for an interrupted carrier, what its job folder says (a flux
capture goes on with `retry`, which reads flux again; `migrate` needs a drive)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.station.states import State
from workbench.station.view import CarrierState, next_step

if TYPE_CHECKING:
    from workbench.station.core import Station


def next_step_for(station: Station, st: CarrierState) -> tuple[str, dict[str, str]]:
    """An i18n key and its fields ("" when nothing is left to do)."""
    if st.state is State.INTERRUPTED and not st.is_ingest:
        from workbench.station.flux import continues_with_flux
        if continues_with_flux(station, st.item_id):
            return "lead.next_flux", {"item": st.item_id}
    return next_step(st)
