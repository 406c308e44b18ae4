"""The training discs (scripts/build_discs.py) through the whole station, compared with
what the script says each holds (media/discs/expected.json) and with the BIN files
themselves: every audio track bit-exact in the bag, every session's files listed."""

from __future__ import annotations

import json

import bagit
import pytest

from tests.conftest import MEDIA
from workbench.station import Station

EXPECTED = json.loads((MEDIA / "discs" / "expected.json").read_text())


def sectors_of(disc: dict, number: int, first: int, count: int) -> bytes:
    """count raw sectors of a track from the training disc's own files, from LBA first;
    a pregap the CUE sheet leaves out of the file (PREGAP) is silence on the disc."""
    track = next(t for t in disc["tracks"] if t["number"] == number)
    at = track["offset"] + first - track["start"]
    data = (MEDIA / "discs" / track["file"]).read_bytes()
    return bytes(max(0, -at) * 2352) + data[max(0, at) * 2352:(at + count) * 2352]


@pytest.mark.parametrize("name", ["audio", "mixed", "enhanced", "two-session"])
def test_a_training_disc_migrates_into_a_bag_as_its_script_says(name, profiles, settings):
    disc = EXPECTED[name]
    with Station(settings) as station:
        result = station.migrate(str(MEDIA / f"{name}.drive.toml"), profiles["cd"],
                                 f"DISC-{name}")
    record = result.record
    assert record.outcome == "success", record.reason
    assert record.disc is not None and record.disc["disc_class"] == disc["disc_class"]
    assert result.bag is not None
    bagit.Bag(str(result.bag)).validate()
    data = result.bag / "data"
    for track in record.tracks:  # audio, bit-exact from its first sector on the disc
        kept = (data / track["file"]).read_bytes()
        assert len(kept) == track["sectors"] * 2352
        assert kept == sectors_of(disc, track["number"], track["first_lba"], track["sectors"])
    report = json.loads((result.bag / "metadata" / "formats.json").read_text())
    listed = {(f["path"], f["sha256"]) for f in report["files"]}
    for session in disc.get("data_sessions", {}).values():
        for f in session["files"]:
            assert (f["path"], f["sha256"]) in listed, f["path"]


def test_a_truncated_disc_image_fails_as_truncated(tmp_path, profiles, settings):
    """A data track shorter than the ISO 9660 volume it holds says so."""
    disc = EXPECTED["two-session"]
    for t in disc["tracks"]:
        source = MEDIA / "discs" / t["file"]
        data = source.read_bytes()
        (tmp_path / t["file"]).write_bytes(data[:-10 * 2048] if t["number"] == 2 else data)
    cue = (MEDIA / "discs" / disc["cue"]).read_text()
    (tmp_path / "cut.cue").write_text(cue)
    from workbench.imaging.engine import image
    record = image(tmp_path / "cut.cue", profiles["cd"], "CUT-1", settings,
                   out_dir=tmp_path / "job")
    assert record.outcome == "failed"
    assert record.reason is not None and record.reason.code == "truncated"
