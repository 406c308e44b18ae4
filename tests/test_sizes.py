"""Sizes from the medium's own word: a floppy must be as large as its FAT boot sector
declares, an optical image needs a recognised volume and whole 2048-byte sectors.
Real file systems are made by independent tools (mkfs.fat, mtools, pycdlib, mkudffs)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import MEDIA, digests_of, pattern
from workbench.imaging.checks import fat_geometry, iso9660_volume_size, udf_recognised
from workbench.imaging.engine import image_source

FD, DD = 1474560, 737280


def need(tool: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def mkfs_fat(path: Path, kib: int, sector: int = 512) -> bytes:
    subprocess.run([need("mkfs.fat"), "-S", str(sector), "-C", str(path), str(kib)],
                   check=True, capture_output=True)
    return path.read_bytes()


def minfo_size(path: Path) -> int:
    """The declared size by mtools' own reading of the boot sector."""
    out = subprocess.run([need("minfo"), "-i", str(path), "::"], check=True,
                         capture_output=True, text=True).stdout
    sector = int(re.search(r"sector size: (\d+) bytes", out).group(1))
    totals = [int(n) for n in re.findall(r"(?:small|big) size: (\d+) sectors", out)]
    return sector * max(totals)


def test_fat_geometry_agrees_with_mtools(tmp_path):
    for kib, sector in ((1440, 512), (720, 512), (2880, 512), (1232, 1024), (32768, 512)):
        path = tmp_path / f"{kib}-{sector}.img"
        data = mkfs_fat(path, kib, sector)
        geometry = fat_geometry(data[:512])
        assert geometry is not None and geometry.size == minfo_size(path) == kib * 1024
    assert fat_geometry((MEDIA / "fd35-2hd-good.img").read_bytes()) is not None
    assert fat_geometry(pattern(512)) is None and fat_geometry(bytes(512)) is None


def test_half_a_floppy_is_truncated_whatever_the_profile(make_drive, profiles, settings,
                                                         tmp_path):
    """A 720 KB profile and a write blocker that gives half of a 1.44 MB disk."""
    data = mkfs_fat(tmp_path / "fd.img", 1440)
    for profile in ("fd35-2dd", "fd35-2hd"):
        rec = image_source(make_drive(data, size=DD), profiles[profile], "FD-1", settings,
                           tmp_path / profile)
        assert rec.outcome == "failed" and rec.reason.code == "truncated", profile
        assert rec.declared_size == minfo_size(tmp_path / "fd.img") == FD
        assert rec.read_errors == 0 and "1,474,560" in rec.reason.text
        assert "write blocker" in rec.reason.text and "profile" not in rec.reason.text


def test_a_whole_floppy_is_judged_by_its_boot_sector(make_drive, profiles, settings, tmp_path):
    data = mkfs_fat(tmp_path / "fd.img", 1440)
    rec = image_source(make_drive(data), profiles["fd35-2hd"], "FD-1", settings,
                       tmp_path / "a")
    assert rec.outcome == "success" and rec.declared_by == "FAT" and rec.declared_size == FD
    assert rec.digests == digests_of(data)
    # a 720 KB disk: its boot sector says 1,440 sectors, and so does the image
    small = mkfs_fat(tmp_path / "dd.img", 720)
    rec = image_source(make_drive(small), profiles["fd35-2dd"], "FD-2", settings,
                       tmp_path / "b")
    assert rec.outcome == "success" and rec.declared_size == DD


def test_a_disk_larger_than_its_file_system_is_whole_if_the_profile_expects_it(
        make_drive, profiles, settings, tmp_path):
    """A 720 KB image written onto a 1.44 MB disk: the drive reads the whole disk, past
    the volume too, as a disc larger than its ISO 9660 volume. Failing it would leave the
    carrier unacceptable for ever (the disk is what it is, whatever drive reads it)."""
    from workbench.station import record_lines
    data = mkfs_fat(tmp_path / "dd.img", 720) + pattern(FD - DD)
    rec = image_source(make_drive(data), profiles["fd35-2hd"], "FD-1", settings, tmp_path / "j")
    assert rec.outcome == "success" and rec.reason is None and rec.digests == digests_of(data)
    assert (rec.declared_by, rec.declared_size) == ("FAT", DD)
    said = " ".join(record_lines(rec))
    assert "737,280 of the carrier's 1,474,560 bytes" in said and "past the volume" in said
    # a size the profile does not expect either: the drive or the profile is wrong
    odd = mkfs_fat(tmp_path / "dd2.img", 720) + bytes(512 * 100)
    rec = image_source(make_drive(odd), profiles["fd35-2hd"], "FD-2", settings, tmp_path / "k")
    assert rec.outcome == "failed" and rec.reason is not None
    assert rec.reason.code == "volume_larger" and "737,280" in rec.reason.text
    assert "write blocker" not in rec.reason.text and "profile" in rec.reason.text


def test_pc98_boot_sector_with_1024_byte_sectors(make_drive, profiles, settings, tmp_path):
    data = mkfs_fat(tmp_path / "pc98.img", 1232, sector=1024)
    rec = image_source(make_drive(data, sector_size=1024), profiles["pc98-2hd"], "PC-1",
                       settings, tmp_path / "ok")
    assert rec.outcome == "success" and rec.declared_size == 1261568
    cut = image_source(make_drive(data, sector_size=1024, size=1024 * 616),
                       profiles["pc98-2hd"], "PC-2", settings, tmp_path / "cut")
    assert cut.outcome == "failed" and cut.reason.code == "truncated"


def test_a_floppy_without_a_fat_keeps_the_profile_sizes(make_drive, profiles, settings,
                                                        tmp_path):
    rec = image_source(make_drive(pattern(DD)), profiles["fd35-2hd"], "FD-1", settings,
                       tmp_path / "j")
    assert rec.outcome == "failed" and rec.reason.code == "size_mismatch"
    assert rec.declared_size is None
    assert "profile" not in rec.reason.text and "write blocker" in rec.reason.text
    ok = image_source(make_drive(pattern(FD)), profiles["fd35-2hd"], "FD-2", settings,
                      tmp_path / "k")
    assert ok.outcome == "success"


def test_a_64_byte_file_is_not_a_cd(make_drive, profiles, settings, tmp_path):
    rec = image_source(make_drive(b"x" * 64, sector_size=2048), profiles["cd"], "CD-1",
                       settings, tmp_path / "a")
    assert rec.outcome == "failed" and rec.reason.code == "not_whole_sectors"
    blank = image_source(make_drive(bytes(40 * 2048), sector_size=2048), profiles["cd"],
                         "CD-2", settings, tmp_path / "b")
    assert blank.outcome == "failed" and blank.reason.code == "no_volume"
    noise = image_source(make_drive(pattern(40 * 2048), sector_size=2048), profiles["dvd"],
                         "DVD-1", settings, tmp_path / "c")
    assert noise.outcome == "failed" and noise.reason.code == "no_volume"


def make_iso(path: Path, files: int) -> bytes:
    import pycdlib
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3)
    for n in range(files):
        body = pattern(3000 + n * 512, seed=n)
        iso.add_fp(__import__("io").BytesIO(body), len(body), f"/F{n}.BIN;1",
                   joliet_path=f"/f{n}.bin")
    iso.write(str(path))
    iso.close()
    return path.read_bytes()


def test_an_iso_volume_is_the_size_it_declares(make_drive, profiles, settings, tmp_path):
    data = make_iso(tmp_path / "disc.iso", 20)
    declared = iso9660_volume_size(lambda p, n: data[p:p + n])
    assert declared == len(data)
    rec = image_source(make_drive(data, sector_size=2048), profiles["cd"], "CD-1", settings,
                       tmp_path / "a")
    assert rec.outcome == "success" and rec.declared_by == "ISO 9660"
    # readable sectors beyond the volume (a later session may lie there): all imaged,
    # never cut to the first volume
    longer = image_source(make_drive(data + bytes(4 * 2048), sector_size=2048),
                          profiles["cd"], "CD-2", settings, tmp_path / "b")
    assert longer.outcome == "success" and longer.size == len(data) + 4 * 2048
    cut = image_source(make_drive(data, sector_size=2048, size=len(data) - 8 * 2048),
                       profiles["cd"], "CD-3", settings, tmp_path / "c")
    assert cut.outcome == "failed" and cut.reason.code == "truncated"
    assert "ISO 9660" in cut.reason.text and "profile" not in cut.reason.text


def test_a_udf_disc_is_a_recognised_volume(make_drive, profiles, settings, tmp_path):
    mkudffs = need("mkudffs")
    path = tmp_path / "udf.img"
    with open(path, "wb") as fh:
        fh.truncate(4 << 20)
    subprocess.run([mkudffs, "--blocksize=2048", "--media-type=dvdrw", str(path)],
                   check=True, capture_output=True)
    data = path.read_bytes()
    assert udf_recognised(lambda p, n: data[p:p + n])
    assert iso9660_volume_size(lambda p, n: data[p:p + n]) is None
    rec = image_source(make_drive(data, sector_size=2048), profiles["dvd"], "DVD-1", settings,
                       tmp_path / "a")
    assert rec.outcome == "success" and rec.declared_by == "UDF"


def test_the_training_samples_keep_their_outcomes(profiles, settings, tmp_path):
    from workbench.imaging.sources import VirtualDrive
    outcomes = {}
    for name in ("fd35-2hd-good", "fd35-2hd-truncating", "cd-sample", "cd-truncated",
                 "usb-sample"):
        drive = VirtualDrive.from_file(MEDIA / f"{name}.drive.toml")
        with drive:
            rec = image_source(drive, profiles[drive.profile_hint], name.upper(), settings,
                               tmp_path / name)
        outcomes[name] = (rec.outcome, rec.reason.code if rec.reason else "")
    assert outcomes == {"fd35-2hd-good": ("success", ""),
                        "fd35-2hd-truncating": ("failed", "truncated"),
                        "cd-sample": ("success", ""), "cd-truncated": ("failed", "truncated"),
                        "usb-sample": ("success", "")}


def test_a_profile_change_does_not_rescue_a_truncated_floppy(profiles):
    """The fd35-2dd profile expects exactly the truncated size: the boot sector wins."""
    assert profiles["fd35-2dd"].size_expected(DD)
    assert replace(profiles["fd35-2dd"]).expected_sizes == (DD,)
