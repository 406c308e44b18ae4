"""Real block devices: loop devices stand in for a USB floppy drive (CI runs as root)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MEDIA, digests_of, workbench_cmd
from workbench.errors import ExitCode, Refused
from workbench.imaging.engine import image

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("losetup") is None,
                                reason="loop devices need root and losetup (util-linux)")


@contextlib.contextmanager
def loop_device(backing: Path, read_only: bool = False,
                sector_size: int | None = None) -> Iterator[str]:
    args = ["losetup", "-f", "--show"] + (["-r"] if read_only else []) + \
        (["--sector-size", str(sector_size)] if sector_size else []) + [str(backing)]
    made = subprocess.run(args, capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"this machine cannot attach loop devices: {made.stderr.strip()}")
    dev = made.stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_loop_device_is_imaged_as_a_real_block_device(profiles, settings, tmp_path):
    backing = tmp_path / "floppy.img"
    shutil.copy(MEDIA / "fd35-2hd-good.img", backing)
    before = backing.read_bytes()
    with loop_device(backing) as dev:
        rec = image(dev, profiles["fd35-2hd"], "LOOP-1", settings, out_dir=tmp_path / "job")
    assert rec.drive["kind"] == "block" and rec.drive["path"] == dev
    assert rec.outcome == "success" and rec.sector_size == 512
    assert rec.digests == digests_of(before)
    assert (tmp_path / "job" / "image.img").read_bytes() == before
    assert backing.read_bytes() == before  # the source is untouched


def test_drives_lists_the_loop_device_with_its_suggested_profile(tmp_path):
    backing = tmp_path / "floppy.img"
    shutil.copy(MEDIA / "fd35-2hd-good.img", backing)
    with loop_device(backing) as dev:
        out = workbench_cmd("drives", "--json", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        drives = {d["path"]: d for d in json.loads(out.stdout)}
        assert drives[dev]["size"] == 1474560
        assert drives[dev]["sector_size"] == 512
        assert drives[dev]["suggested_profile"] == "fd35-2hd"
        assert drives[dev]["transport"] == "loop" and not drives[dev]["mounted"]
        text = workbench_cmd("drives", cwd=tmp_path).stdout
        assert dev in text and "fd35-2hd" in text


def test_a_mounted_device_is_refused(profiles, settings, tmp_path):
    if shutil.which("mkfs.ext2") is None:
        pytest.skip("mkfs.ext2 (e2fsprogs) is not installed")
    backing = tmp_path / "stick.img"
    with open(backing, "wb") as fh:
        fh.truncate(4 << 20)
    subprocess.run(["mkfs.ext2", "-q", "-F", str(backing)], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with loop_device(backing) as dev:
        mounted = subprocess.run(["mount", dev, str(mnt)], capture_output=True, text=True)
        if mounted.returncode != 0:
            pytest.skip(f"this machine cannot mount ext2: {mounted.stderr.strip()}")
        try:
            with pytest.raises(Refused) as err:
                image(dev, profiles["usb"], "USB-1", settings, out_dir=tmp_path / "job")
            assert dev in str(err.value) and "Unmount" in str(err.value)
            assert not (tmp_path / "job" / "image.img").exists()
            cli = workbench_cmd("image", dev, "--profile", "usb", "--item", "USB-1",
                                cwd=tmp_path)
            assert cli.returncode == ExitCode.REFUSED and "Unmount" in cli.stderr
            listed = {d["path"]: d for d in json.loads(
                workbench_cmd("drives", "--json", cwd=tmp_path).stdout)}
            assert listed[dev]["mounted"] and str(mnt) in listed[dev]["mountpoints"]
        finally:
            subprocess.run(["umount", str(mnt)], check=False)
        # once unmounted the same device images fine
        rec = image(dev, profiles["usb"], "USB-1", settings, out_dir=tmp_path / "job")
        assert rec.outcome == "success"


def test_block_devices_are_read_with_o_direct(tmp_path):
    from workbench.imaging.sources import DeviceSource
    backing = tmp_path / "floppy.img"
    shutil.copy(MEDIA / "fd35-2hd-good.img", backing)
    with loop_device(backing) as dev, DeviceSource(dev) as src:
        assert src.is_block and src._direct_fd >= 0 and src.sector_size == 512
        assert bytes(src.read(0, 9216)) == backing.read_bytes()[:9216]
        assert bytes(src.read(512, 100)) == backing.read_bytes()[512:612]  # unaligned: buffered


def test_the_system_disk_is_refused(tmp_path):
    from workbench.imaging import preflight
    from workbench.imaging.sources import DeviceSource
    root_dev = os.stat("/").st_dev
    if not Path(f"/sys/dev/block/{os.major(root_dev)}:{os.minor(root_dev)}").exists():
        pytest.skip("the root file system is not on a block device here (overlay/container)")
    disk = preflight.whole_disk(root_dev)
    assert disk in preflight.system_disks()
    source = DeviceSource.__new__(DeviceSource)  # the system disk is mounted: O_EXCL would
    source.path, source.is_block, source.rdev = "/dev/system", True, disk  # refuse first
    checks = {c.key: c for c in preflight.run_checks(source, tmp_path, [], 0, 0)}
    assert not checks["not_system_disk"].ok and not checks["not_mounted"].ok
    with pytest.raises(Refused):
        preflight.enforce(list(checks.values()))
