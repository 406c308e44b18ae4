"""The station layer: the one place that owns every carrier's state.

The CLI and the UI act on carriers only through Station, and read the record through
Station.records; engines (imaging, identify, package, tape) know nothing of it or of the
ledger (tests/test_layers.py)."""

from workbench.imaging.rescue import Cancelled
from workbench.station.core import Station
from workbench.station.records import FORMATS, SLICES, Filters, SliceRow, make_filters
from workbench.station.result import (
    ImagingProgress,
    MigrationResult,
    TapeProgress,
    environment_line,
    final_map,
    record_lines,
    step_line,
    verify_image,
)
from workbench.station.states import TRANSITIONS, Action, NotAllowed, State, allowed
from workbench.station.view import PENDING_STATES, CarrierState

__all__ = ["FORMATS", "PENDING_STATES", "SLICES", "TRANSITIONS", "Action", "Cancelled",
           "CarrierState",
           "Filters", "ImagingProgress", "MigrationResult", "NotAllowed", "SliceRow",
           "State", "Station", "TapeProgress", "allowed", "environment_line", "final_map",
           "make_filters", "record_lines", "step_line", "verify_image"]
