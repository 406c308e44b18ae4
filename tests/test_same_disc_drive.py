"""'The disc was not changed' is asked of this drive's last carrier, never another
drive's, and never of a carrier resuming its own job (its same-carrier proof decides)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import MEDIA
from workbench.errors import Refused
from workbench.station import State, Station


def drive_copy(tmp_path: Path, name: str) -> Path:
    """A second training drive holding the same Enhanced CD (another drive, the same
    TOC: its CUE sheet and BIN files copied)."""
    discs = tmp_path / "discs"
    discs.mkdir(exist_ok=True)
    for part in (MEDIA / "discs").glob("enhanced*"):
        shutil.copy(part, discs / part.name)
    path = tmp_path / f"{name}.drive.toml"
    path.write_text((MEDIA / "enhanced.drive.toml").read_text(encoding="utf-8"),
                    encoding="utf-8")
    return path


def test_the_last_disc_is_this_drives_not_the_stations(settings):
    a, b = MEDIA / "enhanced.drive.toml", MEDIA / "mixed.drive.toml"  # discs with a TOC
    with Station(settings) as station:
        cd = station.profiles["cd"]
        station.migrate(a, cd, "W-1")
        with pytest.raises(Refused):  # the same disc in the same drive: not changed
            station.migrate(a, cd, "W-1b")
        station.migrate(b, cd, "W-2")  # another drive, another disc
        with pytest.raises(Refused):  # drive a still holds W-1's disc
            station.migrate(a, cd, "W-3")
        assert station.state("W-3").state is State.NEW


def test_a_carrier_resumes_after_another_drive_read_the_same_disc(settings, tmp_path):
    copy = drive_copy(tmp_path, "second")
    with Station(settings) as station:
        cd = station.profiles["cd"]
        station.migrate(copy, cd, "B-1", review=True)  # imaged, waiting for review
        station.migrate(MEDIA / "enhanced.drive.toml", cd, "B-2")  # a copy of the disc
        result = station.retry("B-1", drive=str(copy))  # B-1's own disc, its own job
        assert result.record.outcome == "success"
        assert station.state("B-1").state in (State.BAGGED, State.ON_TAPE)
