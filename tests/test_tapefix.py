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


def test_ingest_refuses_the_stations_own_folders(tmp_path: Path):
    from tests.test_ingest import master_folder
    from workbench.station.ingest import ingest
    root = tmp_path / "station"
    mount_tapes(root)
    (root / "staging" / "OLD").mkdir(parents=True)
    master_folder(root / "staging" / "OLD")
    with Station(settings_in(root)) as st:
        for source, item in ((root, "SELF"), (root / "staging", "SELF2"),
                             (root / "staging" / "OLD", "SELF3"), (root / "tape", "SELF4")):
            with pytest.raises(Refused) as refused:
                ingest(st, source, item)
            assert refused.value.key == "tapefix.own_folder", source
            assert not (root / "staging" / item).exists()
            assert st.state(item).state is State.NEW


def test_ingest_refuses_before_copying_what_does_not_fit(tmp_path: Path, monkeypatch):
    from tests.test_ingest import master_folder
    from workbench.station import ingest_guard
    from workbench.station.ingest import ingest
    root = tmp_path / "station"
    mount_tapes(root)
    master_folder(tmp_path / "disc")
    need = ingest_guard.source_size(tmp_path / "disc")
    assert need == sum(p.stat().st_size for p in (tmp_path / "disc").rglob("*") if p.is_file())
    real = ingest_guard.psutil.disk_usage

    def small(path: str):
        return real(path)._replace(free=need - 1)

    monkeypatch.setattr(ingest_guard.psutil, "disk_usage", small)
    with Station(replace(settings_in(root), free_space_margin=0)) as st:
        with pytest.raises(Refused) as refused:
            ingest(st, tmp_path / "disc", "FULL-1")
        assert refused.value.key == "tapefix.no_room"
        assert "needed" in refused.value.message("en")
        assert not (root / "staging" / "FULL-1").exists()


def test_ingest_of_a_mounted_device_is_refused_as_migrate_refuses_it(tmp_path: Path,
                                                                    monkeypatch):
    """The imaging pre-flight (reused) sees the device; here its check says mounted."""
    from workbench.imaging import preflight
    from workbench.station.ingest import ingest
    root = tmp_path / "station"
    mount_tapes(root)
    seen: list[str] = []

    def mounted(path: object) -> None:
        seen.append(str(path))
        raise Refused("preflight.not_mounted.refused", path=str(path), mounts="/mnt/x")

    monkeypatch.setattr(preflight, "refuse_before_open", mounted)
    (tmp_path / "stick.img").write_bytes(bytes(4096))
    with Station(settings_in(root)) as st, pytest.raises(Refused) as refused:
        ingest(st, tmp_path / "stick.img", "ING-MNT")
    assert refused.value.key == "preflight.not_mounted.refused"
    assert seen == [str(tmp_path / "stick.img")]
    assert not (root / "staging" / "ING-MNT").exists()
