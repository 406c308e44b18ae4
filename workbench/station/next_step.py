"""What continues a carrier, as the station sees it: the ledger's state (view.next_step)
and, for an interrupted carrier, what its job folder says (a flux capture goes on with
`retry`, which reads flux again; `migrate` needs a drive). The front ends ask here which
way a carrier goes on (`continuation`) and only choose the screen or command for it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from workbench.station.states import State
from workbench.station.view import CarrierState, next_step

if TYPE_CHECKING:
    from workbench.station.core import Station


class Way(StrEnum):
    """How a carrier goes on from its state."""
    IMAGE = "image"            # new, or imaging interrupted: (describe and) image it
    FLUX = "flux"              # a flux capture begun, or a flux carrier withdrawn: flux again
    IMAGE_AGAIN = "again"      # withdrawn: a new attempt (retry)
    REVIEW = "review"          # imaged, not accepted: show the result to accept or retry
    STAGE = "stage"            # bagged, a pool without a verified copy: write to tape
    RELEASE = "release"        # on tape in every pool: release the staging copy
    INGEST = "ingest"          # files ingested: the ingest command goes on with them
    NONE = "none"              # nothing to continue (done, failed, routed: said in words)


@dataclass(frozen=True)
class Continuation:
    way: Way
    state: CarrierState

    @property
    def item_id(self) -> str:
        return self.state.item_id

    @property
    def profile_id(self) -> str:
        """The profile of the latest attempt ("" for a carrier never imaged)."""
        return str(self.state.attempt["profile_id"]) if self.state.attempt else ""


def continuation(station: Station, item_id: str) -> Continuation:
    """Which way the carrier `item_id` goes on (raises for a malformed item ID)."""
    st = station.state(item_id)
    return Continuation(_way(station, st), st)


def _way(station: Station, st: CarrierState) -> Way:
    if st.is_ingest and st.state in (State.INTERRUPTED, State.IMAGED, State.FAILED,
                                     State.WITHDRAWN):  # withdrawn: `ingest` again
        return Way.INGEST
    if st.state in (State.INTERRUPTED, State.WITHDRAWN):  # a flux carrier reads flux again
        from workbench.station.flux import continues_with_flux
        if continues_with_flux(station, st.item_id):
            return Way.FLUX
    return _BY_STATE.get(st.state, Way.NONE)


_BY_STATE = {State.NEW: Way.IMAGE, State.INTERRUPTED: Way.IMAGE,
             State.WITHDRAWN: Way.IMAGE_AGAIN, State.IMAGED: Way.REVIEW,
             State.BAGGED: Way.STAGE, State.ON_TAPE: Way.RELEASE}


def next_step_for(station: Station, st: CarrierState) -> tuple[str, dict[str, str]]:
    """An i18n key and its fields ("" when nothing is left to do)."""
    if st.state is State.INTERRUPTED and _way(station, st) is Way.FLUX:
        return "lead.next_flux", {"item": st.item_id}
    return next_step(st)
