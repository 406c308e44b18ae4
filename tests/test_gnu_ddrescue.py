"""Interoperability with GNU ddrescue: our maps pass ddrescuelog, theirs resume here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import digests_of, need_tool, pattern
from workbench.imaging.engine import image_source
from workbench.imaging.mapfile import RescueMap
from workbench.imaging.sources import Damage

SIZE = 1474560


def test_ddrescuelog_accepts_our_map(make_drive, profiles, settings, tmp_path):
    ddrescuelog = need_tool("ddrescuelog")
    bad = [(0x4000, 0x600), (SIZE - 512, 512)]
    rec = image_source(make_drive(pattern(SIZE), Damage(bad=bad)), profiles["fd35-2hd"],
                       "FD-1", settings, tmp_path / "job")
    map_path = tmp_path / "job" / "image.map"
    out = subprocess.run([ddrescuelog, "-t", str(map_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert re.search(r"bad-sector:\s+2048 B", out.stdout), out.stdout
    assert rec.bytes_bad == 2048
    # ddrescuelog -D exits 0 only for a complete rescue: ours is not
    assert subprocess.run([ddrescuelog, "-D", str(map_path)]).returncode != 0
    good = image_source(make_drive(pattern(SIZE)), profiles["fd35-2hd"], "FD-2", settings,
                        tmp_path / "good")
    assert good.outcome == "success"
    assert subprocess.run([ddrescuelog, "-D", str(tmp_path / "good" / "image.map")]
                          ).returncode == 0


def _test_map(path: Path, size: int, bad: list[tuple[int, int]]) -> None:
    """A ddrescue --test-mode map: '+' readable, '-' unreadable."""
    m = RescueMap(size=size)
    m.mark(0, size, "+")
    for pos, n in bad:
        m.mark(pos, n, "-")
    path.write_text(m.render())


def test_a_map_written_by_gnu_ddrescue_is_resumed(make_drive, profiles, settings, tmp_path):
    ddrescue = need_tool("ddrescue")
    data = pattern(SIZE)
    src = tmp_path / "carrier.img"
    src.write_bytes(data)
    job = tmp_path / "job"
    job.mkdir()
    _test_map(tmp_path / "test.map", SIZE, [(0x20000, 0x10000), (0x80000, 0x400)])
    # GNU ddrescue's first pass only (-n: no scraping), on a medium with bad areas
    subprocess.run([ddrescue, "-n", f"--test-mode={tmp_path / 'test.map'}", str(src),
                    str(job / "image.img"), str(job / "image.map")],
                   check=True, capture_output=True)
    theirs = RescueMap.load(job / "image.map")
    pending = SIZE - theirs.total("+")
    assert pending > 0 and theirs.total("*") + theirs.total("/") > 0
    # the carrier now reads fully (another drive): resume from their map
    drive = make_drive(data)
    rec = image_source(drive, profiles["fd35-2hd"], "FD-3", settings, job)
    assert rec.outcome == "success"
    assert drive.bytes_read == pending  # finished areas were not read again
    assert (job / "image.img").read_bytes() == data
    assert rec.digests == digests_of(data)


def test_we_rescue_every_byte_gnu_ddrescue_rescues(make_drive, profiles, settings, tmp_path):
    ddrescue = need_tool("ddrescue")
    data = pattern(SIZE)
    src = tmp_path / "carrier.img"
    src.write_bytes(data)
    bad = [(0x1000, 0x200), (0x30000, 0x8000), (0x30000 + 0x9000, 0x200), (SIZE - 1024, 1024)]
    _test_map(tmp_path / "test.map", SIZE, bad)
    subprocess.run([ddrescue, "-r2", f"--test-mode={tmp_path / 'test.map'}", str(src),
                    str(tmp_path / "gnu.img"), str(tmp_path / "gnu.map")],
                   check=True, capture_output=True)
    gnu = RescueMap.load(tmp_path / "gnu.map")
    rec = image_source(make_drive(data, Damage(bad=bad)), profiles["fd35-2hd"], "FD-4",
                       settings, tmp_path / "job", retries=2)
    assert rec.bytes_rescued >= gnu.total("+")
    assert rec.bytes_rescued == SIZE - sum(n for _, n in bad)
    # GNU ddrescue stops its image (and map) before trailing bad sectors; ours keeps the
    # medium's full size with the unread tail zero-filled. Otherwise byte-identical.
    theirs = (tmp_path / "gnu.img").read_bytes()
    assert len(theirs) == SIZE - 1024 and gnu.size == SIZE - 1024
    assert (tmp_path / "job" / "image.img").read_bytes() == theirs.ljust(SIZE, b"\0")
