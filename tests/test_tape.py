"""LTO staging against folders standing in for tapes: plan, write, read back, release."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema

from tests.conftest import MEDIA, workbench_run
from workbench import PROJECT_ROOT
from workbench.config import Settings
from workbench.errors import BadInput, ExitCode
from workbench.imaging.engine import image
from workbench.package.carrier import bag_job
from workbench.profiles import load_profiles
from workbench.tape import readback, stage
from workbench.tape.catalogue import Catalogue
from workbench.tape.plan import plan
from workbench.tape.tapes import Tape, label_tape, load_generations, ltfs_problems

GENERATIONS = load_generations(PROJECT_ROOT / "profiles")
PREMIS = xmlschema.XMLSchema(str(Path(__file__).parent / "premis-subset.xsd"))


@pytest.fixture
def station(tmp_path: Path) -> Settings:
    base = Settings()
    return replace(base, free_space_margin=0, tape_headroom=0.0,
                   paths=replace(base.paths, staging=tmp_path / "staging",
                                 bags=tmp_path / "bags", tape=tmp_path / "tape",
                                 logs=tmp_path / "logs"))


def bagged(station: Settings, item: str = "FD-1", drive: str = "fd35-2hd-good") -> Path:
    profiles = load_profiles(PROJECT_ROOT / "profiles")
    image(MEDIA / f"{drive}.drive.toml", profiles["fd35-2hd"], item, station)
    return bag_job(station.paths.staging / item, station).path


def tape(station: Settings, barcode: str, pool: str, capacity: int = 50_000_000) -> Tape:
    return label_tape(station.paths.tape / barcode, barcode, pool, "LTO-8", capacity,
                      GENERATIONS)


def fake_bag(root: Path, name: str, size: int) -> Path:
    bag = root / name
    bag.mkdir(parents=True)
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\n")
    with open(bag / "payload", "wb") as fh:
        fh.truncate(size - (bag / "bagit.txt").stat().st_size)
    return bag


def test_plan_fills_largest_first_never_splits_and_keeps_headroom(tmp_path):
    bags = [fake_bag(tmp_path / "b", n, s) for n, s in
            [("A", 600), ("B", 500), ("C", 400), ("D", 300), ("E", 1200)]]
    tapes = [Tape(tmp_path / "t1", "T1", "p", "LTO-8", 1000),
             Tape(tmp_path / "t2", "T2", "p", "LTO-8", 1000)]
    for t in tapes:
        t.mount.mkdir()
    placed, unplaced = plan(bags, tapes, Catalogue(tmp_path / "c.json"), ("p",), 0.0)
    where = {a.bag.name: a.barcode for a in placed}
    assert where == {"A": "T1", "B": "T2", "C": "T1", "D": "T2"}  # 1000 and 800 used
    assert [(u.bag.name, u.reason) for u in unplaced] == [("E", "too_big")]
    # 20% headroom: 800 usable a tape. A on T1 (200 left), B+D on T2, C (400) fits nowhere
    placed, unplaced = plan(bags[:4], tapes, Catalogue(tmp_path / "c.json"), ("p",), 0.20)
    assert {a.bag.name: a.barcode for a in placed} == {"A": "T1", "B": "T2", "D": "T2"}
    assert [(u.bag.name, u.reason) for u in unplaced] == [("C", "no_tape")]


def test_write_and_read_back_two_pools(station):
    bag = bagged(station)
    tape(station, "P00001L8", "primary")
    tape(station, "S00001L8", "secondary")
    catalogue = Catalogue(station.paths.logs / "tape-catalogue.json")
    done, unplaced = stage.run_plan(station, catalogue, [bag])
    assert [(e.pool, e.result) for e in done] == [("primary", "verified"),
                                                  ("secondary", "verified")]
    assert unplaced == []
    copy = station.paths.tape / "P00001L8" / "FD-1"
    for path in bag.rglob("*"):
        if path.is_file():
            assert (copy / path.relative_to(bag)).read_bytes() == path.read_bytes()
    catalogue = Catalogue(station.paths.logs / "tape-catalogue.json")  # read back
    assert catalogue.verified_pools("FD-1") == {"primary", "secondary"}
    assert [e.copy for e in catalogue.copies("FD-1")] == [1, 2]
    on_tape = json.loads((copy.parent / stage.TAPE_CATALOGUE).read_text())
    assert [(e["bag"], e["result"]) for e in on_tape] == [("FD-1", "verified")]
    premis = (station.paths.logs / "tape-premis" / "FD-1.premis.xml").read_text()
    PREMIS.validate(premis)
    assert premis.count("replication") == 0 or "fixity check" in premis
    assert premis.count("<premis:eventType>fixity check</premis:eventType>") == 2
    assert stage.run_plan(station, catalogue, [bag])[0] == []  # nothing left to do


def test_a_tape_that_fills_mid_write_is_replanned(station, monkeypatch):
    bag = bagged(station)
    small = tape(station, "P00001L8", "primary", capacity=400_000)  # smaller than the bag
    tape(station, "P00002L8", "primary")
    # the planner's estimate is wrong (as when the LTFS index grows): it sees room
    monkeypatch.setattr(Tape, "room", lambda self, headroom: 10**9 if not self.full else 0)
    done, _ = stage.run_plan(replace(station, tape_pools=("primary",)),
                             Catalogue(station.paths.logs / "c.json"), [bag])
    assert [(e.barcode, e.result) for e in done] == [("P00001L8", "failed"),
                                                     ("P00002L8", "verified")]
    assert "filled" in done[0].detail
    assert not any(p.name.endswith(".partial") for p in small.mount.iterdir())
    assert not (small.mount / "FD-1").exists()
    relabelled = stage.station_tapes(station)[0]
    assert relabelled.barcode == "P00001L8" and relabelled.full


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_real_enospc_mid_write(station, monkeypatch):
    bag = bagged(station)
    mount = station.paths.tape / "P00001L8"
    mount.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)]
                      ).returncode != 0:
        pytest.skip("this machine cannot mount tmpfs")
    try:
        tape(station, "P00001L8", "primary")
        tape(station, "P00002L8", "primary")
        monkeypatch.setattr(Tape, "room", lambda self, headroom: 10**9 if not self.full else 0)
        done, _ = stage.run_plan(replace(station, tape_pools=("primary",)),
                                 Catalogue(station.paths.logs / "c.json"), [bag])
        assert [(e.barcode, e.result) for e in done] == [("P00001L8", "failed"),
                                                         ("P00002L8", "verified")]
    finally:
        subprocess.run(["umount", str(mount)])


def test_read_back_mismatch_is_not_counted(station):
    bag = bagged(station)
    primary = tape(station, "P00001L8", "primary")
    catalogue = Catalogue(station.paths.logs / "tape-catalogue.json")
    entry = stage.write_copy(bag, primary, catalogue, station, verify=False)
    assert entry.result == "written"
    on_tape = primary.mount / "FD-1" / "data" / "image.img"
    data = bytearray(on_tape.read_bytes())
    data[4096] ^= 1
    on_tape.write_bytes(bytes(data))
    result = readback.verify_copy("FD-1", primary, catalogue)
    assert result.result == "failed" and "image.img" in result.detail
    assert catalogue.verified_pools("FD-1") == set()
    again = stage.write_copy(bag, primary, catalogue, station)  # written anew, then verified
    assert again.result == "verified"
    assert (primary.mount / "FD-1" / "data" / "image.img").read_bytes() == \
        (bag / "data" / "image.img").read_bytes()


def test_a_copy_left_unrecorded_by_a_crash_is_read_back_not_refused(station):
    """A run killed after the rename but before its catalogue entry: the complete copy
    on the tape is read back against the bag's manifests and kept."""
    bag = bagged(station)
    primary = tape(station, "P00001L8", "primary")
    stage.write_copy(bag, primary, Catalogue(station.paths.logs / "lost.json"), station)
    fresh = Catalogue(station.paths.logs / "tape-catalogue.json")  # knows nothing of it
    entry = stage.write_copy(bag, primary, fresh, station)
    assert entry.result == "verified"
    assert [e.result for e in fresh.history("FD-1")] == ["written", "verified"]
    assert "interrupted" in fresh.history("FD-1")[0].detail


def test_ltfs_names(station, tmp_path):
    assert ltfs_problems(["ok/name.txt"]) == []
    assert ltfs_problems(["a:b"]) and ltfs_problems(["x" * 256])
    assert ltfs_problems(["cafe\u0301"])  # decomposed: not NFC
    bag = fake_bag(tmp_path / "b", "odd", 100)
    (bag / "c:d.txt").write_text("x")
    primary = tape(station, "P00001L8", "primary")
    with pytest.raises(BadInput) as err:
        stage.write_copy(bag, primary, Catalogue(tmp_path / "c.json"), station)
    assert "':'" in str(err.value)


def test_bags_with_many_files_go_as_one_tar(station):
    bag = bagged(station)
    primary = tape(station, "P00001L8", "primary")
    catalogue = Catalogue(station.paths.logs / "tape-catalogue.json")
    settings = replace(station, tar_threshold=2)
    entry = stage.write_copy(bag, primary, catalogue, settings)
    assert entry.layout == "tar" and entry.result == "verified"
    tar = primary.mount / "FD-1.tar"
    assert tar.is_file()
    assert readback.verify_copy("FD-1", primary, catalogue).result == "verified"
    data = bytearray(tar.read_bytes())
    data[len(data) // 2] ^= 1
    tar.write_bytes(bytes(data))
    assert readback.verify_copy("FD-1", primary, catalogue).result == "failed"


def test_cli_tape_commands(station, tmp_path):
    (tmp_path / "workbench.toml").write_text(
        f'[paths]\nstaging = "{station.paths.staging}"\nbags = "{station.paths.bags}"\n'
        f'tape = "{station.paths.tape}"\nlogs = "{station.paths.logs}"\n')
    for barcode, pool in (("P00001L8", "primary"), ("S00001L8", "secondary")):
        out = workbench_run("tape", "label", str(station.paths.tape / barcode), "--barcode",
                            barcode, "--pool", pool, "--capacity", "50000000", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    done = workbench_run("bag", str(bagged_by_cli(tmp_path)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "FD-1" in workbench_run("tape", "plan", cwd=tmp_path).stdout
    out = workbench_run("tape", "write", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.count("verified") == 2, out.stdout + out.stderr
    cat = workbench_run("tape", "catalog", cwd=tmp_path).stdout
    assert "P00001L8" in cat and "S00001L8" in cat
    assert workbench_run("tape", "verify", cwd=tmp_path).returncode == 0
    rel = workbench_run("tape", "release", "FD-1", cwd=tmp_path)
    assert rel.returncode == 0 and "released" in rel.stdout
    again = workbench_run("tape", "release", "FD-2", cwd=tmp_path)
    assert again.returncode == ExitCode.REFUSED and "new" in again.stderr
    shown = workbench_run("show", "FD-1", cwd=tmp_path).stdout
    assert "staging released" in shown and "P00001L8" in shown


def bagged_by_cli(cwd: Path) -> Path:
    """Imaged by the station (`workbench image`): recorded, so `bag` can accept it."""
    out = workbench_run("image", str(MEDIA / "fd35-2hd-good.drive.toml"), "--profile",
                        "fd35-2hd", "--item", "FD-1", cwd=cwd)
    assert out.returncode == 0, out.stderr
    return cwd / "staging" / "FD-1"

