"""Same-carrier proof: a job folder only ever takes data from the carrier it was first
read from. Resume, retry and retry-on-another-drive compare the drive with the carrier's
fingerprint (job.json) or, failing that, with the image's finished areas, before a byte
is written; a different carrier is refused (exit 6) naming what differs."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import MEDIA, digests_of, pattern, workbench_cmd
from workbench.errors import ExitCode
from workbench.imaging.checks import DifferentCarrier
from workbench.imaging.engine import image, image_source
from workbench.imaging.record import JobRecord
from workbench.imaging.sources import Damage, VirtualDrive

FD = 1474560
SCHEMA = json.loads((Path(__file__).parent.parent / "workbench" / "imaging"
                     / "job.schema.json").read_text())
GOOD = MEDIA / "fd35-2hd-good.drive.toml"
DAMAGED = MEDIA / "fd35-2hd-damaged.drive.toml"
TRUNCATING = MEDIA / "fd35-2hd-truncating.drive.toml"


def folder_state(job: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(job.iterdir()) if p.is_file()}


def valid(job: Path) -> dict:
    data = json.loads((job / "job.json").read_text())
    jsonschema.validate(data, SCHEMA)
    return data


def test_first_read_records_a_fingerprint_of_what_it_read(profiles, settings, tmp_path):
    job = tmp_path / "job"
    rec = image(DAMAGED, profiles["fd35-2hd"], "FD-2", settings, out_dir=job)
    assert rec.outcome in ("partial", "failed")
    data = valid(job)
    fp = data["fingerprint"]
    assert fp["size"] == FD and fp["sector_size"] == 512 and fp["algorithm"] == "sha256"
    whats = [a["what"] for a in fp["areas"]]
    assert whats[0] == "boot_sector" and whats.count("sample") >= 6
    img = (job / "image.img").read_bytes()
    medium = (MEDIA / "fd35-2hd-damaged.img").read_bytes()
    for area in fp["areas"]:  # each digest is of the carrier's bytes at that place
        piece = medium[area["pos"]:area["pos"] + area["size"]]
        assert hashlib.sha256(piece).hexdigest() == area["sha256"]
        assert img[area["pos"]:area["pos"] + area["size"]] == piece
    # samples prefer sectors with data: the training disk is 99% blank
    assert sum(not a["blank"] for a in fp["areas"]) >= 2
    assert data["runs"][0]["carrier_check"]["result"] == "first_read"


def test_another_disk_in_a_healthy_drive_is_refused_and_nothing_written(profiles, settings,
                                                                        tmp_path):
    """In training the only healthy floppy drive holds another disk than the damaged one."""
    job = tmp_path / "job"
    first = image(DAMAGED, profiles["fd35-2hd"], "FD-2", settings, out_dir=job)
    assert first.outcome == "partial"
    before = folder_state(job)
    with pytest.raises(DifferentCarrier) as err:
        image(GOOD, profiles["fd35-2hd"], "FD-2", settings, out_dir=job)
    assert err.value.exit_code == ExitCode.REFUSED == 6
    message = str(err.value)
    assert "boot sector" in message and "FD-2" in message and "TRAIN-FD-01" in message
    assert folder_state(job) == before  # image, map and job.json untouched


def test_the_same_disk_in_a_better_drive_merges(profiles, settings, tmp_path):
    job = tmp_path / "job"
    assert image(DAMAGED, profiles["fd35-2hd"], "FD-2", settings,
                 out_dir=job).outcome == "partial"
    better = tmp_path / "better.drive.toml"
    better.write_text(f'image = "{MEDIA / "fd35-2hd-damaged.img"}"\nmodel = "Better"\n'
                      'serial = "B-2"\n')
    rec = image(better, profiles["fd35-2hd"], "FD-2", settings, out_dir=job)
    assert rec.outcome == "success"
    assert rec.digests == digests_of((MEDIA / "fd35-2hd-damaged.img").read_bytes())
    run = valid(job)["runs"][1]
    assert run["carrier_check"]["result"] == "same"
    assert run["carrier_check"]["matched"] == run["carrier_check"]["areas"] >= 8
    assert run["bytes_read_to_compare"] > 0
    assert run["bytes_read_from_medium"] == 6 * 512  # the passes read only what was bad


def test_a_good_drive_extends_a_truncated_carriers_map(profiles, settings, tmp_path):
    job = tmp_path / "job"
    cut = image(TRUNCATING, profiles["fd35-2hd"], "FD-9", settings, out_dir=job)
    assert cut.outcome == "failed" and cut.reason.code == "truncated" and cut.size == 737280
    rec = image(GOOD, profiles["fd35-2hd"], "FD-9", settings, out_dir=job)
    good = (MEDIA / "fd35-2hd-good.img").read_bytes()
    assert rec.outcome == "success" and rec.size == FD
    assert (job / "image.img").read_bytes() == good and rec.digests == digests_of(good)
    assert rec.drive["serial"] == "TRAIN-FD-01"  # statistics name the good drive
    last = valid(job)["runs"][-1]
    assert last["carrier_check"]["result"] == "same_extended"
    assert last["carrier_check"]["size_at_first_read"] == 737280
    assert last["bytes_read_from_medium"] == FD - 737280  # the first half is not read again
    if shutil.which("ddrescuelog"):  # GNU's word: the extended map is complete
        assert subprocess.run(["ddrescuelog", "-D", str(job / "image.map")]).returncode == 0


def test_a_good_drive_extends_a_truncated_disc(profiles, settings, tmp_path):
    job = tmp_path / "cd"
    cut = image(MEDIA / "cd-truncated.drive.toml", profiles["cd"], "CD-1", settings,
                out_dir=job)
    assert cut.outcome == "failed" and cut.reason.code == "truncated"
    rec = image(MEDIA / "cd-sample.drive.toml", profiles["cd"], "CD-1", settings, out_dir=job)
    data = (MEDIA / "cd-sample.iso").read_bytes()
    assert rec.outcome == "success" and rec.size == len(data) == rec.iso9660_size
    assert rec.digests == digests_of(data)


def test_a_map_and_image_left_by_another_carrier_are_refused(make_drive, profiles, settings,
                                                             tmp_path):
    """No job.json: the image's own finished areas are the evidence."""
    job = tmp_path / "job"
    mine, other = pattern(FD, seed=1), pattern(FD, seed=2)
    cancel_at = Damage(vanish_at=FD // 2)
    first = image_source(make_drive(other, cancel_at), profiles["fd35-2hd"], "OTHER-1",
                         settings, job)
    assert first.outcome == "failed" and first.reason.code == "vanished"
    (job / "job.json").unlink()  # left behind: an image and a map, nothing else
    before = folder_state(job)
    with pytest.raises(DifferentCarrier) as err:
        image_source(make_drive(mine), profiles["fd35-2hd"], "FD-1", settings, job)
    assert "boot sector" in str(err.value)
    assert folder_state(job) == before
    # the carrier that left them resumes from them
    rec = image_source(make_drive(other), profiles["fd35-2hd"], "FD-1", settings, job)
    assert rec.outcome == "success" and rec.digests == digests_of(other)


def test_an_image_of_another_carrier_under_this_job_record_is_refused(make_drive, profiles,
                                                                     settings, tmp_path):
    mine, other = pattern(FD, seed=1), pattern(FD, seed=2)
    a, b = tmp_path / "a", tmp_path / "b"
    image_source(make_drive(mine, Damage(bad=[(0x9000, 0x400)])), profiles["fd35-2hd"],
                 "FD-1", settings, a, retries=0)
    image_source(make_drive(other, Damage(bad=[(0x9000, 0x400)])), profiles["fd35-2hd"],
                 "FD-1", settings, b, retries=0)
    for name in ("image.img", "image.map"):  # swapped in by hand
        shutil.copy(b / name, a / name)
    before = folder_state(a)
    with pytest.raises(DifferentCarrier) as err:  # even with the right carrier
        image_source(make_drive(mine), profiles["fd35-2hd"], "FD-1", settings, a)
    assert "another carrier left it there" in str(err.value)
    assert folder_state(a) == before


def test_another_carrier_under_the_same_item_id_after_the_files_were_removed(
        make_drive, profiles, settings, tmp_path):
    job = tmp_path / "job"
    image_source(make_drive(pattern(FD, 1)), profiles["fd35-2hd"], "FD-1", settings, job)
    (job / "image.img").unlink()
    (job / "image.map").unlink()
    with pytest.raises(DifferentCarrier):
        image_source(make_drive(pattern(FD, 2)), profiles["fd35-2hd"], "FD-1", settings, job)
    assert not (job / "image.img").exists() and not (job / "image.map").exists()


def test_a_drive_that_reads_none_of_the_known_areas_proves_nothing(make_drive, profiles,
                                                                  settings, tmp_path):
    job = tmp_path / "job"
    data = pattern(FD)
    first = image_source(make_drive(data, Damage(vanish_at=FD // 3)), profiles["fd35-2hd"],
                         "FD-1", settings, job)
    known = [(a["pos"], a["size"]) for a in first.fingerprint["areas"]]
    assert known
    before = folder_state(job)
    blind = make_drive(data, Damage(bad=known))
    with pytest.raises(DifferentCarrier) as err:
        image_source(blind, profiles["fd35-2hd"], "FD-1", settings, job)
    assert "Nothing shows" in str(err.value)
    assert folder_state(job) == before and blind.bytes_read == 0


def test_a_weak_area_does_not_refuse_the_same_carrier(make_drive, profiles, settings,
                                                      tmp_path):
    job = tmp_path / "job"
    data = pattern(FD)
    first = image_source(make_drive(data, Damage(vanish_at=FD // 2)), profiles["fd35-2hd"],
                         "FD-1", settings, job)
    boot = first.fingerprint["areas"][0]
    assert boot["what"] == "boot_sector"
    rec = image_source(make_drive(data, Damage(bad=[(0, 512)])), profiles["fd35-2hd"],
                       "FD-1", settings, job)  # sector 0 no longer reads: the rest agree
    assert rec.outcome == "success" and rec.digests == digests_of(data)
    check = rec.runs[-1].carrier_check
    assert check["unreadable"] == 1 and check["matched"] >= 1


def test_a_drive_that_vanishes_while_comparing_is_recorded(make_drive, profiles, settings,
                                                          tmp_path):
    job = tmp_path / "job"
    data = pattern(FD)
    image_source(make_drive(data, Damage(vanish_at=FD // 2)), profiles["fd35-2hd"], "FD-1",
                 settings, job)
    image_before = (job / "image.img").read_bytes()
    map_before = (job / "image.map").read_bytes()
    rec = image_source(make_drive(data, Damage(vanish_at=0)), profiles["fd35-2hd"], "FD-1",
                       settings, job)
    assert rec.outcome == "failed" and rec.reason.code == "vanished"
    assert (job / "image.img").read_bytes() == image_before
    assert (job / "image.map").read_bytes() == map_before


def test_retry_on_the_healthy_training_drive_exits_6(tmp_path):
    """Through the station and the CLI: `retry --drive` with another disk is refused."""
    out = workbench_cmd("migrate", str(DAMAGED), "--profile", "fd35-2hd", "--item", "FD-2",
                        "--review-partial", cwd=tmp_path)
    assert out.returncode == ExitCode.PARTIAL, out.stderr
    job = tmp_path / "staging" / "FD-2"
    before = folder_state(job)
    retry = workbench_cmd("retry", "FD-2", "--drive", str(GOOD), cwd=tmp_path)
    assert retry.returncode == ExitCode.REFUSED, retry.stdout + retry.stderr
    assert "boot sector" in retry.stdout + retry.stderr
    assert "Traceback" not in retry.stderr
    assert folder_state(job) == before
    record = JobRecord.load(job)
    assert record is not None and [r.drive["serial"] for r in record.runs] == ["TRAIN-FD-02"]


def test_virtual_drive_fixture_reads_what_it_holds(tmp_path):
    """The training media the tests above rely on: two different disks."""
    good = VirtualDrive.from_file(GOOD)
    damaged = VirtualDrive.from_file(DAMAGED)
    with good, damaged:
        assert bytes(good.read(0, 512)) != bytes(damaged.read(0, 512))
