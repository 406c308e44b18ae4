"""Tryout 16 defects: a damaged tar copy on tape, a tape gone mid-run, ingest pre-flight
and guard, names from images, retry on an ingest, unreadable checksum lines, bagit-python
agreement, and the smaller retrieve/recopy/report points."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_station import GOOD, mount_tapes, settings_in
from workbench.errors import Refused
from workbench.station import State, Station
from workbench.tape import stage


@pytest.fixture
def tar_root(tmp_path: Path) -> Path:
    """FD-1 on a primary and a secondary tape, each copy one tar."""
    root = tmp_path / "station"
    mount_tapes(root)
    with Station(replace(settings_in(root), tar_threshold=2)) as st:
        st.migrate(GOOD, st.profiles["fd35-2hd"], "FD-1")
        assert st.state("FD-1").state is State.ON_TAPE
    return root


def damage_header(tar: Path) -> None:
    data = bytearray(tar.read_bytes())
    at = data.find(b"FD-1/data/")
    data[at + 6] ^= 0x20  # a name byte: the header's checksum no longer holds
    tar.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["header", "truncated"])
def test_a_damaged_tar_copy_is_a_failed_copy_and_verify_goes_on(tar_root: Path, damage):
    tar = tar_root / "tape" / "P00001L8" / "FD-1.tar"
    assert tar.is_file()
    if damage == "header":
        damage_header(tar)
    else:
        os.truncate(tar, 3000)
    with Station(settings_in(tar_root)) as st:
        done = {e.barcode: e for e in st.tapes.verify(older_than=0)}
    assert done["P00001L8"].result == "failed"
    assert "FD-1.tar" in done["P00001L8"].detail
    assert done["S00001L8"].result == "verified"  # the run went on


def test_a_tape_gone_mid_read_records_nothing_and_gets_no_catalogue(tar_root: Path,
                                                                     monkeypatch):
    primary = tar_root / "tape" / "P00001L8"
    real = stage._check_copy

    def vanish(copy: Path, bag: str, layout: str, expected: dict[str, str]) -> list[str]:
        if copy.parent == primary:  # the tape is unmounted while its copy is read
            for p in sorted(primary.iterdir()):
                p.unlink()
            raise FileNotFoundError(2, "No such file or directory", str(copy))
        return real(copy, bag, layout, expected)

    monkeypatch.setattr(stage, "_check_copy", vanish)
    with Station(settings_in(tar_root)) as st:
        with pytest.raises(Refused) as gone:
            st.tapes.verify(older_than=0)
        assert gone.value.key == "lto.vanished"
        assert "failed" not in [e.result for e in st.tapes.book.history("FD-1")]
    assert list(primary.iterdir()) == []  # no catalogue written into the bare mount point
