"""`workbench tape format / mount / unmount` end to end against the real LTFS tools on
their file-backed tape simulator (a folder stands in for the cartridge: `[tape] device`
is that folder, `ltfs_backend = "file"`).

Runs only where mkltfs and ltfs (LTFS 2.4.x built with its file backend) are on PATH and
FUSE is usable (/dev/fuse, fusermount); skipped otherwise. CI does not build LTFS, so
there it is always skipped: tests/ltfs_outputs/README.md says how to build the tools and
run it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_tape_retrieve import cli
from workbench.tape.tapes import LABEL

TOOLS = ("mkltfs", "ltfs", "fusermount")
missing = [t for t in TOOLS if not shutil.which(t)]
pytestmark = pytest.mark.skipif(
    bool(missing) or not os.access("/dev/fuse", os.R_OK | os.W_OK),
    reason=f"needs the LTFS tools and FUSE ({', '.join(missing) or '/dev/fuse'} missing): "
           "CI cannot build LTFS; see tests/ltfs_outputs/README.md")


@pytest.fixture
def station(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    root, shelf = tmp_path / "station", tmp_path / "shelf" / "A00001L8"
    root.mkdir()
    shelf.mkdir(parents=True)
    (root / "workbench.toml").write_text(
        f'[tape]\nheadroom_percent = 0\ndevice = "{shelf}"\nltfs_backend = "file"\n')
    yield root, shelf
    mountpoint = root / "tape" / "A00001L8"
    if os.path.ismount(mountpoint):  # a failed test never leaves a mount behind
        subprocess.run(["fusermount", "-u", str(mountpoint)], check=False, timeout=60)


def test_format_mount_unmount_a_simulated_cartridge(station):
    root, shelf = station
    mountpoint = root / "tape" / "A00001L8"
    run = cli(root, "tape", "format", "--pool", "primary", "--barcode", "A00001L8")
    assert run.returncode == 0, run.stderr
    assert os.path.ismount(mountpoint) and (mountpoint / LABEL).is_file()
    assert os.getxattr(mountpoint, "user.ltfs.volumeName") == b"A00001L8"

    run = cli(root, "tape", "unmount", "A00001L8")
    assert run.returncode == 0, run.stderr
    assert not os.path.ismount(mountpoint)
    kept = list((root / "logs" / "ltfs-index").glob("A00001L8-*.xml"))
    assert len(kept) == 1 and f"<name>{LABEL}</name>" in kept[0].read_text()

    run = cli(root, "tape", "format", "--pool", "primary", "--barcode", "A00001L8")
    assert run.returncode == 6 and "formatted already" in run.stderr  # never --force
    assert not os.path.ismount(mountpoint)

    run = cli(root, "tape", "mount", "--barcode", "A00001L8")
    assert run.returncode == 0, run.stderr
    assert os.path.ismount(mountpoint) and "primary" in run.stdout
    assert cli(root, "tape", "unmount", "A00001L8").returncode == 0

    # the simulator's write protect switch: mounted read-only and said so
    conf = shelf / "filedebug_tc_conf.xml"
    conf.write_text(conf.read_text().replace("<emulate_readonly>false",
                                             "<emulate_readonly>true"))
    run = cli(root, "tape", "mount", "--barcode", "A00001L8")
    assert run.returncode == 3 and os.path.ismount(mountpoint), run.stderr
    assert "write" in run.stderr.lower()
    assert cli(root, "tape", "unmount", "A00001L8").returncode == 0
    assert not os.path.ismount(mountpoint)
