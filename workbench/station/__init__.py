"""The station layer: the one place that owns every carrier's state.

The CLI and the UI act on carriers only through Station; engines (imaging, identify,
package, tape) know nothing of it or of the ledger (tests/test_layers.py)."""

from workbench.station.core import MigrationResult, Station, step_line, verify_image
from workbench.station.states import TRANSITIONS, Action, NotAllowed, State, allowed
from workbench.station.view import PENDING_STATES, CarrierState

__all__ = ["PENDING_STATES", "TRANSITIONS", "Action", "CarrierState", "MigrationResult",
           "NotAllowed", "State", "Station", "allowed", "step_line", "verify_image"]
