"""CUE sheets as people and other tools write them, and as nobody should: what is a disc
is read as one; what is not is refused with the line and what is allowed (exit 2),
never imaged as a smaller "success"."""

from __future__ import annotations

import os
import random

import pytest

from workbench.errors import BadInput
from workbench.imaging.engine import image
from workbench.optical.cue import read_cue

RAW = 2352


@pytest.fixture
def bins(tmp_path):
    rnd = random.Random(5)
    for name in ("a.bin", "b.bin"):
        (tmp_path / name).write_bytes(rnd.randbytes(300 * RAW))
    return tmp_path


def sheet(folder, text: str, name: str = "x.cue"):
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


REFUSED = {
    "duplicate track": 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n'
                       ' TRACK 01 AUDIO\n  INDEX 01 00:02:00\n',
    "descending tracks": 'FILE "a.bin" BINARY\n TRACK 02 AUDIO\n  INDEX 01 00:00:00\n'
                         ' TRACK 01 AUDIO\n  INDEX 01 00:02:00\n',
    "track 0": 'FILE "a.bin" BINARY\n TRACK 00 AUDIO\n  INDEX 01 00:00:00\n',
    "track 100": 'FILE "a.bin" BINARY\n TRACK 100 AUDIO\n  INDEX 01 00:00:00\n',
    "sessions backwards": 'REM SESSION 02\nFILE "a.bin" BINARY\n TRACK 01 AUDIO\n'
                          '  INDEX 01 00:00:00\n',
    "session skipped": 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n'
                       'REM SESSION 03\nFILE "b.bin" BINARY\n TRACK 02 AUDIO\n'
                       '  INDEX 01 00:00:00\n',
    "index 00 after 01": 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:02:00\n'
                         '  INDEX 00 00:00:00\n',
    "index 02 before 01": 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 02 00:01:00\n'
                          '  INDEX 01 00:00:00\n',
    "huge pregap": 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n'
                   'FILE "b.bin" BINARY\n TRACK 02 AUDIO\n  PREGAP 99:59:74\n'
                   '  INDEX 01 00:00:00\n',
    "lead-out within a session": 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n'
                                 '  INDEX 01 00:00:00\n REM LEAD-OUT 00:01:00\n',
    "no index 01": 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 00 00:00:00\n',
    "missing file": 'FILE "gone.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n',
    "2336-byte mode 2": 'FILE "a.bin" BINARY\n TRACK 01 MODE2/2336\n  INDEX 01 00:00:00\n',
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_sheet_that_is_no_disc_is_refused_with_its_line(bins, case):
    with pytest.raises(BadInput) as refused:
        read_cue(sheet(bins, REFUSED[case]))
    assert "x.cue" in refused.value.message()


def test_a_fifo_is_no_cue_sheet_and_nothing_waits_on_it(tmp_path):
    os.mkfifo(tmp_path / "f.cue")
    with pytest.raises(BadInput):
        read_cue(tmp_path / "f.cue")


def test_a_postgap_is_the_tracks_own_silence(bins, profiles, settings):
    """POSTGAP: 150 sectors the sheet adds after track 1: part of it, never lost, and
    the next track starts after them."""
    cue = sheet(bins, 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n'
                      '  POSTGAP 00:02:00\nFILE "b.bin" BINARY\n TRACK 02 AUDIO\n'
                      '  INDEX 01 00:00:00\n')
    disc = read_cue(cue).disc
    assert [(t.start, t.length) for t in disc.tracks] == [(0, 450), (450, 300)]
    record = image(cue, profiles["cd"], "PG-1", settings, out_dir=bins / "job")
    assert record.outcome == "success", record.reason
    one = (bins / "job" / "track01.bin").read_bytes()
    assert one == (bins / "a.bin").read_bytes() + bytes(150 * RAW)
    assert (bins / "job" / "track02.bin").read_bytes() == (bins / "b.bin").read_bytes()


def test_what_a_file_holds_before_track_ones_index_01_is_kept(bins, profiles, settings):
    cue = sheet(bins, 'FILE "a.bin" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:03:00\n')
    record = image(cue, profiles["cd"], "I1-1", settings, out_dir=bins / "job")
    assert record.outcome == "success"
    assert (bins / "job" / "track01.bin").read_bytes() == (bins / "a.bin").read_bytes()


def test_metadata_lines_never_make_a_sheet_unreadable(bins):
    cue = sheet(bins, "REM COMMENT Don't panic\nPERFORMER Guns_N'_Roses\n"
                      'TITLE "It\'s"\nFILE "a.bin" BINARY\n TRACK 01 AUDIO\n'
                      "  PERFORMER O'Brien\n  INDEX 01 00:00:00\n")
    assert read_cue(cue).disc.tracks[0].length == 300


@pytest.mark.parametrize("on_disk", ["utf-8", "cp932"])
def test_a_shift_jis_sheet_finds_its_file(bins, on_disk):
    """A sheet written on Japanese Windows (Shift_JIS) names 音楽.bin; the file may have
    kept its Shift_JIS name or been renamed to UTF-8 on the way."""
    name = "音楽.bin"
    target = bins / os.fsdecode(name.encode(on_disk))
    (bins / "a.bin").rename(target)
    cue = sheet(bins, f'FILE "{name}" BINARY\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n'
                .encode("cp932"))
    found = read_cue(cue)
    assert found.files[1].path == target and found.disc.tracks[0].length == 300


def test_a_damaged_raw_data_sector_is_bad_as_on_a_drive(tmp_path, profiles, settings):
    """Four bytes changed in a MODE1/2352 sector of the training mixed-mode disc: its EDC
    no longer matches, so it is a bad sector (partial), never good data."""
    from tests.conftest import MEDIA
    data = bytearray((MEDIA / "discs" / "mixed.bin").read_bytes())
    data[50 * RAW + 100:50 * RAW + 104] = b"\xff\xff\xff\xff"
    (tmp_path / "mb.bin").write_bytes(bytes(data))
    cue = (MEDIA / "discs" / "mixed.cue").read_text().replace("mixed.bin", "mb.bin")
    (tmp_path / "mb.cue").write_text(cue)
    record = image(tmp_path / "mb.cue", profiles["cd"], "EDC-1", settings,
                   out_dir=tmp_path / "job", retries=0)
    assert record.outcome == "partial"
    assert record.bad_ranges == [[50 * 2048, 2048]]
