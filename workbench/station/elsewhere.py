"""A carrier imaged at another station is that station's to go on with.

In a shared ledger every station sees every carrier, but an image, its map and its job
folder lie on the disk of the station that read it. Accepting or re-imaging a carrier
imaged at another station (waiting there to be accepted) would act on this station's
empty staging folder (a "no job record" error about the wrong folder) or leave that
image behind, and a route from here would write a new version of the other station's
attempt. So, while the carrier's latest attempt is another station's, accept, retry and
migrate of an imaged carrier, and a route in any state, are refused naming that station
and the state. An imaging another station left unfinished (interrupted: stopped, or the
station died with its lock) may be imaged again here from the start; its attempt is
shown abandoned. A carrier that failed or was routed elsewhere may be read again here
(retry): that is what routing to other equipment is for, and the new attempt is this
station's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import Refused
from workbench.i18n import t
from workbench.station.states import Action, State
from workbench.station.view import state_of

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.ledger.db import Con
    from workbench.station.core import Station
    from workbench.station.view import CarrierState

IMAGE_THERE = frozenset({State.IMAGED})  # its image waits at that station to be accepted
GUARDED = frozenset({Action.IMAGE, Action.RETRY, Action.ACCEPT, Action.ROUTE})


class ImagedElsewhere(Refused):
    """Refused: the carrier's latest attempt and its image are at another station."""

    def __init__(self, item: str, station: str, state: State, action: Action) -> None:
        super().__init__("crossfix.imaged_elsewhere", item=item, station=station,
                         state=state.value)
        self.item, self.station, self.state, self.action = item, station, state, action

    def message(self, lang: str | None = None) -> str:
        return t("crossfix.imaged_elsewhere", lang=lang, item=self.item, station=self.station,
                 state=t(f"state.{self.state.value}", lang=lang))

    def __str__(self) -> str:
        return self.message()


def check_imaged_elsewhere(con: Con, settings: Settings, item_id: str, action: str) -> None:
    """Refused (ImagedElsewhere) when action here would act on another station's image
    (see the module's words); nothing for this station's own carriers."""
    try:
        act = Action(action)
    except ValueError:
        return
    if act not in GUARDED:
        return
    st = state_of(con, item_id, settings.tape_pools)
    if st.attempt is None:
        return
    there = str(st.attempt.get("station_id") or "")
    if there in ("", settings.station_id):
        return
    if st.state in IMAGE_THERE or act is Action.ROUTE:
        raise ImagedElsewhere(st.item_id, there, st.state, act)


def refuse_overtaken(station: Station, st: CarrierState) -> None:
    """After this process imaged the carrier: a current bag another station made
    meanwhile (its lock lapsed in a long outage, tryout 15c T1) is never taken for this
    station's result; what it imaged stays in its job folder, recorded nowhere."""
    bag = st.bag
    if bag is None or st.state is State.WITHDRAWN or not bag.station_id or \
            bag.station_id == station.settings.station_id:
        return
    from workbench.imaging.engine import job_dir
    raise Refused("lead.overtaken", item=st.item_id, station=bag.station_id, path=bag.path,
                  job=str(job_dir(station.settings, st.item_id)))
