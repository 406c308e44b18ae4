"""Partition tables and FAT layouts: small FAT32, a stale ext3 superblock under an MBR,
MBR on 2048-byte sectors (MO), PC-98, X68000/Human68k, BPB-less floppies, FM TOWNS.
File lists are compared with mtools on the same FAT bytes."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from tests import volume_images as vi
from tests.fsfixtures import mbr, tool
from workbench.identify.fat import FatReader
from workbench.identify.model import Image
from workbench.identify.volumes import find_volumes


def listing(img: Path) -> dict[int, set[str]]:
    """Every volume's file paths (no directories) as our FAT reader lists them."""
    out: dict[int, set[str]] = {}
    with Image(img) as im:
        vols, _ = find_volumes(im)
        for v in vols:
            if v.fs_type.startswith("fat"):
                out[v.index] = {e.path.lstrip("/") for e in FatReader(im, v, "cp932").walk()
                                if not e.is_dir}
    return out


def contents(img: Path, index: int = 0) -> dict[str, bytes]:
    with Image(img) as im:
        vols, _ = find_volumes(im)
        reader = FatReader(im, vols[index], "cp932")
        return {e.path.lstrip("/"): b"".join(im.read(o, n) for o, n in e.extents or [])
                for e in reader.walk() if not e.is_dir}


def test_small_fat32_is_fat32(tmp_path):
    """mkfs.fat -F 32 on a 33 MiB image: FAT32 by its BPB (16-bit FAT size 0, FAT32
    extended BPB), as blkid and the kernel read it; files as mtools lists them."""
    img = vi.fat(tmp_path / "small32.img", 33 << 20, "-F", "32", "-n", "SMALL32")
    vols, _ = vi.volumes(img)
    assert [(v.fs_type, v.label) for v in vols] == [("fat32", "SMALL32")]
    assert listing(img)[0] == vi.mdir(str(img)) and len(listing(img)[0]) == 3
    got = contents(img)
    for name, data in vi.FILES.items():
        assert data in (got.get(name), got.get(f"SUB/{name}"))


@pytest.mark.parametrize("size", [1 << 20, 16 << 20])
def test_tiny_fat32_with_few_clusters(size, tmp_path):
    """A FAT32 with fewer than 4085 (or 65525) clusters: FAT12/16 by the cluster count,
    FAT32 by its BPB. mtools goes by the count and refuses it; the Sleuth Kit told it
    is FAT32 (fls/icat -f fat32) and fsck.fat go by the BPB and are the reference."""
    img = vi.blank(tmp_path / "tiny32.img", size)
    vi.sh(tool("mkfs.fat"), "-F", "32", "-n", "TINY32", img)
    vi.add_files_fat32(img, vi.FILES)
    vi.sh(tool("fsck.fat"), "-n", img)  # consistent, or this raises
    vols, _ = vi.volumes(img)
    assert [(v.fs_type, v.label) for v in vols] == [("fat32", "TINY32")]
    assert vi.blkid(img)["TYPE"] == "vfat"
    fls = vi.sh(tool("fls"), "-f", "fat32", "-p", img)
    inodes = {line.split("\t")[1]: line.split()[1].rstrip(":") for line in fls.splitlines()
              if line.startswith("r/r") and "Volume Label" not in line}
    tsk = {name: subprocess.run([tool("icat"), "-f", "fat32", str(img), inode],
                                capture_output=True, check=True).stdout
           for name, inode in inodes.items()}
    assert contents(img) == tsk and tsk.keys() == vi.FILES.keys()


def _stale_ext3_under_mbr(tmp: Path) -> tuple[Path, Path]:
    disk = vi.blank(tmp / "stale.img", 40 << 20)
    vi.sh(tool("mkfs.ext3"), "-q", "-L", "OLDEXT3", disk)
    part = vi.fat(tmp / "part.img", (40 << 20) - (1 << 20), "-F", "16", "-n", "NEWFAT")
    subprocess.run([tool("sfdisk"), "-q", "--no-reread", "--wipe", "never", str(disk)],
                   input="start=2048, type=6\n", text=True, check=True, capture_output=True)
    vi.place(disk, 1 << 20, part)
    return disk, part


def test_mbr_wins_over_a_stale_ext3_superblock(tmp_path):
    disk, part = _stale_ext3_under_mbr(tmp_path)
    with open(disk, "rb") as fh:
        fh.seek(1080)
        assert fh.read(2) == b"\x53\xef"  # the old superblock is still there
    vols, _ = vi.volumes(disk)
    assert [(v.scheme, v.offset, v.fs_type, v.label) for v in vols] == [
        ("mbr", 1 << 20, "fat16", "NEWFAT")]
    assert listing(disk)[0] == vi.mdir(f"{disk}@@{1 << 20}") == vi.mdir(str(part))
    assert vi.blkid(disk, 1 << 20)["LABEL"] == "NEWFAT"


def test_a_whole_disk_fat_is_not_an_mbr(tmp_path):
    """A FAT boot sector ends in 55 AA too: its boot code must not become partitions."""
    img = vi.fat(tmp_path / "super.img", 16 << 20, "-F", "16", "-n", "SUPERFLOP")
    vols, _ = vi.volumes(img)
    assert [(v.scheme, v.fs_type) for v in vols] == [("none", "fat16")]


def test_mbr_on_2048_byte_sectors(tmp_path):
    """An MO disk (640 MB and up) counts its MBR's LBAs in 2048-byte sectors."""
    disk = vi.blank(tmp_path / "mo.img", 48 << 20)
    lba, count = 16, ((48 << 20) - 16 * 2048) // 2048
    vi.write_at(disk, 0, mbr([(0x06, lba, count)]))
    part = vi.fat(tmp_path / "mo-part.img", count * 2048, "-F", "16", "-S", "2048",
                  "-n", "MO DISK")
    vi.place(disk, lba * 2048, part)
    vols, errors = vi.volumes(disk)
    assert errors == []
    assert [(v.scheme, v.sector_size, v.offset, v.fs_type, v.label) for v in vols] == [
        ("mbr", 2048, lba * 2048, "fat16", "MO DISK")]
    assert listing(disk)[0] == vi.mdir(str(part)) and len(listing(disk)[0]) == 3
    assert contents(disk) == contents(part)


def test_mbr_on_512_byte_sectors_stays(tmp_path):
    disk = vi.blank(tmp_path / "hd.img", 24 << 20)
    subprocess.run([tool("sfdisk"), "-q", "--no-reread", str(disk)],
                   input="start=2048, type=6\n", text=True, check=True, capture_output=True)
    part = vi.fat(tmp_path / "hd-part.img", (24 << 20) - (1 << 20), "-F", "16")
    vi.place(disk, 1 << 20, part)
    vols, _ = vi.volumes(disk)
    assert [(v.sector_size, v.offset, v.fs_type) for v in vols] == [(512, 1 << 20, "fat16")]


@pytest.mark.parametrize("heads,spt,ss", [(8, 17, 512), (8, 32, 512), (16, 63, 512),
                                         (8, 33, 256)])
def test_pc98_partition_table(heads, spt, ss, tmp_path):
    """IDE (8 x 17), SCSI (8 x 32), large IDE (16 x 63) and SASI (8 x 33, 256-byte
    sectors, the table at byte 256)."""
    disk, start, part = vi.pc98_disk(tmp_path, heads, spt, ss=ss)
    vols, _ = vi.volumes(disk)
    assert [(v.scheme, v.offset, v.fs_type, v.label, v.partition_label, v.partition_type)
            for v in vols] == [("pc98", start, "fat16", "PC98VOL", "ＭＳ－ＤＯＳ 6.2",
                                "PC-98 FAT16")]
    assert listing(disk)[0] == vi.mdir(str(part)) and len(listing(disk)[0]) == 3
    assert contents(disk) == contents(part)


def test_the_report_keeps_the_partition_name_apart_from_the_label(tmp_path):
    from workbench.config import Settings
    from workbench.identify.engine import identify_image

    disk, _, _ = vi.pc98_disk(tmp_path, 8, 17)
    report = identify_image(disk, Settings(), workers=1)
    assert [(v.label, v.partition_label, v.blkid_type) for v in report.volumes] == [
        ("PC98VOL", "ＭＳ－ＤＯＳ 6.2", "vfat")]
    assert report.to_dict()["volumes"][0]["partition_label"] == "ＭＳ－ＤＯＳ 6.2"


@pytest.mark.parametrize("wrap", ["hdi", "nhd"])
def test_pc98_disk_in_an_emulator_image(wrap, tmp_path):
    """Anex86 HDI and T98-Next NHD: a header, then the disk; the header's geometry (here
    5 heads x 27 sectors, which no guess would try) places the partitions."""
    disk, start, part = vi.pc98_disk(tmp_path, 5, 27)
    out = tmp_path / f"disk.{wrap}"
    base = 4096 if wrap == "hdi" else 512
    (vi.hdi if wrap == "hdi" else vi.nhd)(disk, out, 5, 27)
    vols, _ = vi.volumes(out)
    assert [(v.scheme, v.offset, v.fs_type, v.label) for v in vols] == [
        ("pc98", base + start, "fat16", "PC98VOL")]
    assert listing(out)[0] == vi.mdir(str(part)) and contents(out) == contents(part)


def test_pc98_floppy_in_an_fdi_image(tmp_path):
    """Anex86 FDI: a 2HD floppy without a BPB behind a 4096-byte header."""
    img = vi.fat(tmp_path / "raw.img", 1261568, "-F", "12", "-S", "1024", "-s", "1",
                 "-R", "1", "-r", "192", "-M", "0xFE", "-f", "2")
    expected, files = vi.mdir(str(img)), contents(img)
    vi.write_at(img, 0, b"\xeb\xfe" + bytes(1022))
    fdi = vi.hdi(img, tmp_path / "disk.fdi", 2, 8, ss=1024, kind=0x90)
    vols, _ = vi.volumes(fdi)
    assert [(v.scheme, v.offset, v.fs_type) for v in vols] == [("fdi", 4096, "fat12")]
    assert listing(fdi)[0] == expected and contents(fdi) == files


def test_pc98_sector_one_without_partitions_is_ignored(tmp_path):
    """A table whose entries lead to no file system is not taken for one."""
    disk = vi.blank(tmp_path / "junk.img", 8 << 20)
    vi.write_at(disk, 512, vi.pc98_entry(0xA0, 0xA1, (3, 0, 0), (9, 7, 16), b"X"))
    vols, _ = vi.volumes(disk)
    assert [(v.scheme, v.fs_type) for v in vols] == [("none", "")]


def test_pc98_table_with_unplaceable_partitions_is_reported(tmp_path):
    """An IPL and a FAT16 entry, but no file system where any geometry puts it: the disk
    is reported as PC-98 with an error, not as an empty disk."""
    disk = vi.blank(tmp_path / "pc98-empty.hdi", 8 << 20)
    ipl = bytearray(512)
    ipl[4:8], ipl[510:512] = b"IPL1", b"\x55\xaa"
    vi.write_at(disk, 0, bytes(ipl) + vi.pc98_entry(0xA0, 0xA1, (1, 0, 0), (50, 7, 16),
                                                    b"MS-DOS"))
    vols, _ = vi.volumes(disk)
    assert [(v.scheme, v.fs_type) for v in vols] == [("pc98", "")]
    assert "PC-98 FAT16" in vols[0].errors[0]


def _human68k_partition(tmp: Path, name: str) -> tuple[Path, set[str], dict[str, bytes]]:
    """A Human68k partition: a FAT16 made by mkfs.fat with 1024-byte sectors (listed by
    mtools first), then given what Human68k writes: a boot sector with the big-endian
    parameter block, big-endian FAT16 entries, and directory entries with names longer
    than 8 bytes."""
    part = vi.fat(tmp / name, 8 << 20, "-F", "16", "-S", "1024", "-s", "1", "-R", "1",
                  "-r", "512", "-M", "0xF8", "--invariant")
    expected = vi.mdir(str(part))
    files = contents(part)
    with Image(part) as im:
        vols, _ = find_volumes(im)
        r = FatReader(im, vols[0], "cp932")
        fat_bytes = (r.root_offset - r.fat_offset) // r.nfats
        total = im.size // 1024
    vi.to_human68k_names(part, {b"LETTER  DOC": b"LETTERTOFRIEND"})
    vi.fat16_to_big_endian(part, 1024, fat_bytes, 2)
    vi.write_at(part, 0, vi.human68k_boot(1024, 1, 1, 512, total, 0xF8, fat_bytes // 1024))
    expected = {"LETTERTOFRIEND.DOC" if p == "LETTER.DOC" else p for p in expected}
    files["LETTERTOFRIEND.DOC"] = files.pop("LETTER.DOC")
    return part, expected, files


@pytest.mark.parametrize("bus,table_at,unit", [("scsi", 0x800, 1024), ("sasi", 0x400, 256)])
def test_x68000_hard_disk_with_a_human68k_partition(bus, table_at, unit, tmp_path):
    """SCSI (.HDS): table at 0x800 in 1024-byte units; SASI (.HDF): at 0x400 in
    256-byte sectors. Files and bytes as mtools read them before the Human68k changes."""
    part, expected, files = _human68k_partition(tmp_path, f"h68k-{bus}.img")
    disk = vi.blank(tmp_path / f"x68k.{bus}", 20 << 20)
    if bus == "scsi":
        vi.write_at(disk, 0, b"X68SCSI1")
    start = 32 * 1024 // unit
    length = part.stat().st_size // unit
    table = b"X68K" + struct.pack(">III", 0, 20 << 10, 20 << 10)
    table += b"Human68k" + struct.pack(">II", start, length)
    vi.write_at(disk, table_at, table)
    vi.place(disk, 32 * 1024, part)
    vols, errors = vi.volumes(disk)
    assert errors == []
    assert [(v.scheme, v.offset, v.fs_type, v.partition_label) for v in vols] == [
        ("x68k", 32 * 1024, "fat16", "Human68k")]
    assert listing(disk)[0] == expected
    assert contents(disk) == files


def test_human68k_floppy_with_a_68000_boot_sector(tmp_path):
    """X68000 2HD floppies: 1024-byte sectors, a bra.s jump and "X68IPL30"; names of
    up to 18 + 3 bytes."""
    img = vi.fat(tmp_path / "x68fd.xdf", 1261568, "-F", "12", "-S", "1024", "-s", "1",
                 "-R", "1", "-r", "192", "-M", "0xFE", "-f", "2")
    expected = vi.mdir(str(img))
    vi.to_human68k_names(img, {b"README  TXT": b"README_FIRST"})
    vi.write_at(img, 0, b"\x60\x3c" + b"\x90X68IPL30")
    expected = {"README_FIRST.TXT" if p == "README.TXT" else p for p in expected}
    vols, _ = vi.volumes(img)
    assert [(v.fs_type, v.blkid_type) for v in vols] == [("fat12", vi.blkid(img)["TYPE"])]
    assert listing(img)[0] == expected


def test_floppy_without_a_bpb(tmp_path):
    """PC-98 2HD floppies often carry no BPB: the size (1,261,568 bytes) and the media
    byte FE at the start of the FAT give the layout."""
    img = vi.fat(tmp_path / "pc98.fdi", 1261568, "-F", "12", "-S", "1024", "-s", "1",
                 "-R", "1", "-r", "192", "-M", "0xFE", "-f", "2")
    expected, files = vi.mdir(str(img)), contents(img)
    vi.write_at(img, 0, b"\xeb\xfe" + bytes(1022))  # an IPL with no BPB
    vols, _ = vi.volumes(img)
    assert [v.fs_type for v in vols] == ["fat12"]
    assert listing(img)[0] == expected and contents(img) == files


def test_x68000_floppy_without_a_parameter_block(tmp_path):
    """An X68000 2HD floppy whose 68000 boot code carries no parameter block at all:
    the media byte gives the layout, the bra.s says the names are Human68k's."""
    img = vi.fat(tmp_path / "x68.dim", 1261568, "-F", "12", "-S", "1024", "-s", "1",
                 "-R", "1", "-r", "192", "-M", "0xFE", "-f", "2")
    expected = vi.mdir(str(img))
    vi.to_human68k_names(img, {b"DATA    BIN": b"DATA_FOR_X68000"})
    vi.write_at(img, 0, b"\x60\x1e" + bytes(1022))
    vols, _ = vi.volumes(img)
    assert [(v.fs_type, v.blkid_type) for v in vols] == [("fat12", "")]
    assert listing(img)[0] == {"SUB/DATA_FOR_X68000.BIN" if p == "SUB/DATA.BIN" else p
                               for p in expected}


def test_fm_towns_floppy_with_an_ipl4_boot_sector(tmp_path):
    """FM TOWNS floppies start with "IPL4" where DOS has its jump; the BPB follows at
    the DOS offsets."""
    img = vi.fat(tmp_path / "towns.img", 1261568, "-F", "12", "-S", "1024", "-s", "1",
                 "-R", "1", "-r", "192", "-M", "0xFE", "-f", "2", "-n", "TOWNSDISK")
    expected, files = vi.mdir(str(img)), contents(img)
    vi.write_at(img, 0, b"IPL4\xcb")
    vols, _ = vi.volumes(img)
    assert [(v.fs_type, v.label) for v in vols] == [("fat12", "TOWNSDISK")]
    assert vols[0].blkid_type == vi.blkid(img).get("TYPE", "")
    assert listing(img)[0] == expected and contents(img) == files


def test_fm_towns_disk_is_reported_not_guessed(tmp_path):
    disk = vi.blank(tmp_path / "towns.hdd", 4 << 20)
    vi.write_at(disk, 0, b"IPL4" + bytes(508))
    vols, _ = vi.volumes(disk)
    assert [(v.scheme, v.fs_type) for v in vols] == [("fm-towns", "")]
    assert "FM TOWNS" in vols[0].errors[0]
