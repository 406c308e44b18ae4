"""The drive's identity reaches the job record, bag-info, PREMIS and the ledger."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, MEDIA, workbench_cmd
from workbench.imaging.identity import block_facts
from workbench.package.bags import read_info


def fake_sysfs(root: Path) -> Path:
    """/sys/dev/block/8:16 -> a SCSI disk sdb with vendor, model, rev, serial; 8:17 ->
    its partition sdb1."""
    disk = root / "devices" / "pci0000:00" / "usb1" / "1-1" / "host6" / "block" / "sdb"
    (disk / "device").mkdir(parents=True)
    (disk / "dev").write_text("8:16\n")
    (disk / "device" / "vendor").write_text("TEAC    \n")
    (disk / "device" / "model").write_text("FD-05PUW        \n")
    (disk / "device" / "rev").write_text("3000\n")
    (disk / "device" / "serial").write_text("SN-0042\n")
    part = disk / "sdb1"
    part.mkdir()
    (part / "partition").write_text("1\n")
    (part / "dev").write_text("8:17\n")
    links = root / "dev" / "block"
    links.mkdir(parents=True)
    (links / "8:16").symlink_to(disk)
    (links / "8:17").symlink_to(part)
    return links


def test_block_facts_from_sysfs_also_for_a_partition(tmp_path):
    links = fake_sysfs(tmp_path)
    for rdev in (os.makedev(8, 16), os.makedev(8, 17)):
        facts = block_facts(rdev, links)
        assert facts == {"vendor": "TEAC", "model": "FD-05PUW", "serial": "SN-0042",
                         "firmware": "3000", "transport": "usb"}


def test_the_write_blocker_and_drive_reach_bag_info_and_premis(tmp_path):
    (tmp_path / "workbench.toml").write_text('[station]\nwrite_blocker = "Tableau T8u"\n')
    out = workbench_cmd("migrate", str(MEDIA / "fd35-2hd-good.drive.toml"), "--profile",
                        "fd35-2hd", "--item", "FD-1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    bag = tmp_path / "bags" / "FD-1"
    drive = dict(read_info(bag))["Drive"]
    assert drive == ("Workbench Training floppy drive (serial TRAIN-FD-01) "
                     "behind write blocker Tableau T8u"), drive
    assert "behind write blocker Tableau T8u" in (bag / "metadata" / "premis.xml").read_text()
    job = json.loads((bag / "metadata" / "job.json").read_text())
    assert job["drive"]["write_blocker"] == "Tableau T8u"


@pytest.mark.skipif(not IS_ROOT or not shutil.which("losetup"),
                    reason="a loop device needs root and losetup (util-linux)")
def test_a_real_block_device_is_named_in_the_record(tmp_path):
    backing = tmp_path / "disk.img"
    shutil.copy(MEDIA / "fd35-2hd-good.img", backing)
    loop = subprocess.run(["losetup", "--find", "--show", "--read-only", str(backing)],
                          capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.skip(f"no loop device here: {loop.stderr.strip()}")
    device = loop.stdout.strip()
    try:
        out = workbench_cmd("image", device, "--profile", "fd35-2hd", "--item", "LOOP-1",
                            cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        drive = json.loads((tmp_path / "staging" / "LOOP-1" / "job.json").read_text())["drive"]
        assert drive["kind"] == "block" and drive["transport"] == "loop"
        assert drive["model"] == str(backing)  # a loop device: its backing file
    finally:
        subprocess.run(["losetup", "-d", device])
