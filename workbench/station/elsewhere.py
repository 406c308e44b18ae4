"""A carrier imaged at another station is that station's to go on with.

In a shared ledger every station sees every carrier, but an image, its map and its job
folder lie on the disk of the station that read it. Accepting, resuming or routing it at
another station would act on this station's empty staging folder (a "no job record"
error about the wrong folder), or, for a route, write a new version of the other
station's attempt from here. So, while the carrier's latest attempt is another station's
and its image waits there (imaged, interrupted, or a failure migrate resumes from its
map), image/retry/accept/route here are refused naming that station and the state; a
route is refused for any state of another station's attempt (the row would be a version
of that station's attempt). A carrier that failed or was routed elsewhere may be read
again here (retry): that is what routing to other equipment is for, and the new attempt
is this station's own.
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

IMAGE_THERE = frozenset({State.IMAGED, State.INTERRUPTED})  # its image waits at that station
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
    from workbench.station.core import RESUMABLE_FAILURES  # migrate resumes them: the map
    resumable = st.state is State.FAILED and st.attempt["reason_code"] in RESUMABLE_FAILURES
    if st.state in IMAGE_THERE or act is Action.ROUTE or (act is Action.IMAGE and resumable):
        raise ImagedElsewhere(st.item_id, there, st.state, act)
