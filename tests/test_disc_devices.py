"""A multi-session disc as a drive reads it back: a 2,048-byte-sector loop device over
the whole disc (session 1, the unreadable gap as zeros, session 2), made by genisoimage
-C/-M. No TOC comes from a loop device: the image must not stop at session 1's volume,
and identification must find session 2 by itself (CI runs as root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.test_block_devices import loop_device
from workbench.identify.engine import identify_image
from workbench.imaging.engine import image
from workbench.optical.toc import FIRST_SESSION_GAP

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("losetup") is None,
                       reason="loop devices need root and losetup (util-linux)"),
    pytest.mark.skipif(shutil.which("genisoimage") is None,
                       reason="genisoimage is not installed (.ci/run installs it with apt)"),
]


def two_session_disc(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "early.txt").write_text("written in session one\n")
    (one / "notes.txt").write_text("first version\n")
    s1 = tmp_path / "s1.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-R", "-o", str(s1), str(one)], check=True)
    start2 = s1.stat().st_size // 2048 + FIRST_SESSION_GAP
    (two / "late.txt").write_text("added in session two\n")
    (two / "notes.txt").write_text("second version, longer than the first\n")
    s2 = tmp_path / "s2.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-R", "-C", f"0,{start2}", "-M", str(s1),
                    "-o", str(s2), str(two)], check=True)
    disc = tmp_path / "disc.bin"
    disc.write_bytes(s1.read_bytes() + bytes((start2 - s1.stat().st_size // 2048) * 2048)
                     + s2.read_bytes())
    return disc, start2


def test_a_two_session_disc_in_a_drive_keeps_every_byte_and_lists_session_two(
        profiles, settings, tmp_path):
    disc, start2 = two_session_disc(tmp_path)
    before = disc.read_bytes()
    with loop_device(disc, read_only=True, sector_size=2048) as dev:
        rec = image(dev, profiles["cd"], "MS-LOOP", settings, out_dir=tmp_path / "job")
    assert rec.drive["kind"] == "block" and rec.sector_size == 2048
    assert rec.outcome == "success", rec.reason
    assert (tmp_path / "job" / "image.iso").read_bytes() == before  # every byte kept
    # the size check took the largest volume a session declares: session 2's
    assert rec.declared_size == len(before)
    report = identify_image(tmp_path / "job" / "image.iso", settings,
                            map_path=tmp_path / "job" / "image.map")
    paths = {f.path for f in report.files}
    assert {"/early.txt", "/late.txt", "/notes.txt"} <= paths
    newest = [f for f in report.files if f.path == "/notes.txt"
              and "superseded" not in f.warnings]
    older = [f for f in report.files if f.path == "/notes.txt" and "superseded" in f.warnings]
    assert len(newest) == 1 and len(older) == 1
    assert newest[0].size == len("second version, longer than the first\n")
    # isoinfo (cdrtools), told where session 2 starts, lists the same newest tree
    listing = subprocess.run(["isoinfo", "-J", "-f", "-i", str(tmp_path / "job" / "image.iso"),
                              "-T", str(start2)], capture_output=True, text=True).stdout
    assert {line.strip() for line in listing.splitlines() if line.strip()} == \
        {"/early.txt", "/late.txt", "/notes.txt"}
    json.dumps(rec.disc)  # no TOC from a loop device: a flat disc, read as before
    assert rec.disc is None
