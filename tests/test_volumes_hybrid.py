"""Hybrid discs: every file system listed side by side, each compared with its own
reference tool (isoinfo, hls, fls, mdir)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import volume_images as vi
from tests.fsfixtures import mbr, tool
from workbench.config import Settings
from workbench.identify.engine import identify_image
from workbench.identify.pool import IdentifyPool

TREE = {"readme.txt": b"read me\n", "docs/letter.txt": b"Dear sir,\n" * 50,
        "docs/data.bin": bytes(range(256)) * 8}


@pytest.fixture(scope="module")
def pool():
    with IdentifyPool(0) as p:
        yield p


def _src(tmp: Path) -> Path:
    src = tmp / "src"
    for name, data in TREE.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    return src


def _files(report, fs_prefix: str) -> set[str]:
    vols = {v.index for v in report.volumes if v.fs_type.startswith(fs_prefix)}
    assert len(vols) == 1, [(v.fs_type, v.offset) for v in report.volumes]
    # AppleDouble entries (._name) carry a file's resource fork and Finder info: ours, not
    # the file system's, so the reference tools do not list them
    return {f.path.lstrip("/").lower() for f in report.files if f.volume in vols
            and "appledouble" not in f.warnings}


def _isoinfo(iso: Path) -> set[str]:
    out = vi.sh(tool("isoinfo"), "-f", "-R", "-i", iso)
    return {line.lstrip("/").lower() for line in out.splitlines()
            if line.lstrip("/").lower() in TREE}


def test_iso_and_hfs_side_by_side(tmp_path, pool):
    """genisoimage -hfs: a bare HFS volume (MDB at 1 KiB) in the ISO's system area."""
    iso = tmp_path / "hybrid.iso"
    vi.sh(tool("genisoimage"), "-quiet", "-J", "-R", "-hfs", "-V", "HYBRID",
          "-hfs-volid", "Mac Side", "-o", iso, _src(tmp_path))
    report = identify_image(iso, Settings(), pool=pool)
    assert {(v.scheme, v.fs_type.split("+")[0], v.label) for v in report.volumes} == {
        ("hybrid", "iso9660", "HYBRID"), ("hybrid", "hfs", "Mac Side")}
    assert _files(report, "iso9660") == _isoinfo(iso) == set(TREE)
    env = {"HOME": str(tmp_path)}
    subprocess.run([tool("hmount"), str(iso)], check=True, capture_output=True, env=env)
    try:
        root = set(subprocess.run([tool("hls"), "-1a", ":"], check=True,
                                  capture_output=True, text=True, env=env).stdout.splitlines())
        docs = set(subprocess.run([tool("hls"), "-1a", ":docs"], check=True,
                                  capture_output=True, text=True, env=env).stdout.splitlines())
    finally:
        subprocess.run([tool("humount")], capture_output=True, env=env)
    hls = {n.lower() for n in root - {"docs"}} | {f"docs/{n.lower()}" for n in docs}
    # hls -a also lists the Finder's invisible Desktop DB/DF, which the reader lists too
    assert _files(report, "hfs") == hls
    assert {n for n in hls if not n.startswith("desktop d")} == set(TREE)


def test_iso_and_hfsplus_in_an_apple_partition_map(tmp_path, pool):
    """xorriso -hfsplus: an APM in the system area, HFS+ in one of its partitions."""
    iso = tmp_path / "hfsplus.iso"
    vi.sh(tool("xorriso"), "-as", "mkisofs", "-quiet", "-R", "-hfsplus", "-V", "XHYBRID",
          "-o", iso, _src(tmp_path))
    report = identify_image(iso, Settings(), pool=pool)
    hfs = [v for v in report.volumes if v.fs_type == "hfsplus"]
    assert len(hfs) == 1 and hfs[0].offset % 512 == 0
    assert _files(report, "iso9660") == _isoinfo(iso) == set(TREE)
    fls = vi.sh(tool("fls"), "-r", "-p", "-o", str(hfs[0].offset // 512), iso)
    names = {line.split("\t")[1].lower() for line in fls.splitlines()
             if line.startswith("r/r") and "\t" in line}
    assert _files(report, "hfsplus") == {n for n in names if n in TREE} == set(TREE)


def test_hfsplus_in_an_hfs_wrapper_is_read_as_hfsplus(tmp_path, pool):
    """Mac OS 8.1-9 disks: a classic HFS volume whose MDB names an embedded HFS+ volume.
    Built from xorriso's HFS+ partition wrapped by hand; blkid and fls agree."""
    import struct

    iso = tmp_path / "hfsplus.iso"
    vi.sh(tool("xorriso"), "-as", "mkisofs", "-quiet", "-R", "-hfsplus", "-V", "WRAPPED",
          "-o", iso, _src(tmp_path))
    part = next(v for v in identify_image(iso, Settings(), pool=pool).volumes
                if v.fs_type == "hfsplus")
    inner = iso.read_bytes()[part.offset:part.offset + part.size]
    block, first_sector = 4096, 8  # the wrapper's allocation blocks start at sector 8
    count = -(-len(inner) // block)
    mdb = bytearray(162)
    mdb[0:2] = b"BD"
    struct.pack_into(">HI", mdb, 18, count + 2, block)
    struct.pack_into(">H", mdb, 28, first_sector)
    mdb[36:44] = bytes([7]) + b"Wrapper"
    mdb[124:126] = b"H+"
    struct.pack_into(">HH", mdb, 126, 1, count)  # the HFS+ volume: blocks 1..count
    offset = first_sector * 512 + block
    disk = bytearray(offset + count * block + block)
    disk[1024:1024 + len(mdb)] = mdb
    disk[offset:offset + len(inner)] = inner
    wrapped = tmp_path / "wrapped.img"
    wrapped.write_bytes(disk)
    report = identify_image(wrapped, Settings(), pool=pool)
    assert [(v.fs_type, v.offset) for v in report.volumes] == [("hfsplus", offset)]
    assert vi.blkid(wrapped)["TYPE"] == "hfsplus"
    assert report.volumes[0].label == vi.blkid(wrapped).get("LABEL")
    fls = vi.sh(tool("fls"), "-r", "-p", "-o", str(offset // 512), wrapped)
    names = {line.split("\t")[1].lower() for line in fls.splitlines()
             if line.startswith("r/r") and "\t" in line}
    assert _files(report, "hfsplus") == {n for n in names if n in TREE} == set(TREE)


def test_iso_and_udf_bridge(tmp_path, pool):
    iso = tmp_path / "bridge.iso"
    vi.sh(tool("genisoimage"), "-quiet", "-J", "-R", "-udf", "-V", "BRIDGE", "-o", iso,
          _src(tmp_path))
    report = identify_image(iso, Settings(), pool=pool)
    assert sorted(v.fs_type.split("+")[0] for v in report.volumes) == ["iso9660", "udf"]
    assert all(v.offset == 0 and v.scheme == "hybrid" for v in report.volumes)
    assert _files(report, "iso9660") == _isoinfo(iso) == _files(report, "udf") == set(TREE)


def test_el_torito_floppy_image_listed(tmp_path, pool):
    """A bootable CD whose El Torito image is a 1.44 MB FAT floppy: its files too."""
    src = _src(tmp_path)
    floppy = vi.fat(tmp_path / "boot.img", 1474560, "-F", "12", "-n", "BOOTDISK")
    (src / "boot").mkdir()
    (src / "boot" / "boot.img").write_bytes(floppy.read_bytes())
    iso = tmp_path / "boot.iso"
    vi.sh(tool("genisoimage"), "-quiet", "-R", "-b", "boot/boot.img", "-c", "boot/boot.cat",
          "-o", iso, src)
    report = identify_image(iso, Settings(), pool=pool)
    torito = [v for v in report.volumes if v.scheme == "eltorito"]
    assert [(v.fs_type, v.label) for v in torito] == [("fat12", "BOOTDISK")]
    assert _files(report, "fat") == {p.lower() for p in vi.mdir(str(floppy))}
    assert "readme.txt" in _files(report, "iso9660")


def test_el_torito_hard_disk_image_listed(tmp_path, pool):
    """Hard-disk emulation: the boot image is a disk with an MBR and one partition."""
    src = _src(tmp_path)
    part = vi.fat(tmp_path / "hd-part.img", 8 << 20, "-F", "12", "-n", "HDBOOT")
    hd = vi.blank(tmp_path / "hd.img", (8 << 20) + 63 * 512)
    vi.write_at(hd, 0, mbr([(0x06, 63, (8 << 20) // 512)]))
    vi.place(hd, 63 * 512, part)
    (src / "hd.img").write_bytes(hd.read_bytes())
    iso = tmp_path / "hdboot.iso"
    vi.sh(tool("genisoimage"), "-quiet", "-R", "-hard-disk-boot", "-b", "hd.img",
          "-c", "boot.cat", "-o", iso, src)
    report = identify_image(iso, Settings(), pool=pool)
    torito = [v for v in report.volumes if v.scheme == "eltorito"]
    assert [(v.fs_type, v.label) for v in torito] == [("fat12", "HDBOOT")]
    assert _files(report, "fat") == {p.lower() for p in vi.mdir(str(part))}


def test_iso_with_an_appended_efi_partition(tmp_path, pool):
    """xorriso -append_partition: an MBR in the system area points past the ISO at a FAT
    image (the EFI system partition of hybrid boot media)."""
    efi = vi.fat(tmp_path / "efi.img", 2 << 20, "-F", "12", "-n", "EFIBOOT")
    iso = tmp_path / "efi.iso"
    vi.sh(tool("xorriso"), "-as", "mkisofs", "-quiet", "-R", "-V", "HYB",
          "-append_partition", "2", "0xef", efi, "-o", iso, _src(tmp_path))
    report = identify_image(iso, Settings(), pool=pool)
    fat = [v for v in report.volumes if v.fs_type.startswith("fat")]
    assert [(v.scheme, v.partition_type, v.label) for v in fat] == [("mbr", "0xef", "EFIBOOT")]
    assert vi.blkid(iso, fat[0].offset)["LABEL"] == "EFIBOOT"
    assert _files(report, "fat") == {p.lower() for p in vi.mdir(str(efi))}
    assert _files(report, "iso9660") == _isoinfo(iso) == set(TREE)
