"""Labels and file-system types agree with blkid -p on every fixture."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import volume_images as vi
from tests.fsfixtures import tool


def _fat_root_label_deleted(tmp: Path) -> Path:
    """mkfs.fat writes the label twice; with the root entry gone blkid has no LABEL
    (only LABEL_FATBOOT)."""
    img = vi.blank(tmp / "bootonly.img", 16 << 20)
    vi.sh(tool("mkfs.fat"), "-F", "16", "-n", "BOOTONLY", img)
    _patch_root_label(img, lambda entry: b"\xe5" + entry[1:])
    return img


def _fat_root_label_differs(tmp: Path) -> Path:
    img = vi.blank(tmp / "differs.img", 4 << 20)
    vi.sh(tool("mkfs.fat"), "-F", "12", "-n", "INBOOT", img)
    _patch_root_label(img, lambda entry: b"ROOT LABEL " + entry[11:])
    return img


def _patch_root_label(img: Path, change: Callable[[bytes], bytes]) -> None:
    from workbench.identify.fatgeom import fat_geometry
    from workbench.identify.model import Image
    with Image(img) as im:
        geo = fat_geometry(im.read, 0, im.size)
        assert geo is not None
        root = (geo.reserved + geo.nfats * geo.fat_sectors) * geo.bps
        data = im.read(root, geo.root_entries * 32)
    for i in range(0, len(data), 32):
        if data[i + 11] & 0x18 == 0x08:
            vi.write_at(img, root + i, change(data[i:i + 32]))
            return
    raise AssertionError("no label entry")


def _fat_japanese_label(tmp: Path) -> Path:
    """A label in Shift_JIS (cp932), as Japanese DOS wrote it: blkid passes the bytes
    on; decoded as cp932 they must equal ours."""
    img = vi.blank(tmp / "jp.img", 1474560)
    vi.sh(tool("mkfs.fat"), "-F", "12", "-n", "XXXXXXXXXXX", img)
    _patch_root_label(img, lambda entry: "資料 98".encode("cp932").ljust(11) + entry[11:])
    return img


def _mkfs(name: str, size: int, *cmd: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        img = vi.blank(tmp / name, size)
        vi.sh(tool(cmd[0]), *cmd[1:], img)
        return img
    return make


def _iso(name: str, *opts: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        src = tmp / "iso-src"
        src.mkdir(exist_ok=True)
        (src / "readme.txt").write_bytes(b"hello\n")
        out = tmp / name
        vi.sh(tool("genisoimage"), "-quiet", *opts, "-o", out, src)
        return out
    return make


def _hfs(tmp: Path) -> Path:
    img = vi.blank(tmp / "hfs.img", 1440 * 1024)
    vi.sh(tool("hformat"), "-l", "Mac Disk 1", img)
    return img


FIXTURES: dict[str, Callable[[Path], Path]] = {
    "fat12-label": _mkfs("f12.img", 1474560, "mkfs.fat", "-F", "12", "-n", "FLOPPY 1"),
    "fat12-nolabel": _mkfs("f12n.img", 1474560, "mkfs.fat", "-F", "12"),
    "fat16-label": _mkfs("f16.img", 16 << 20, "mkfs.fat", "-F", "16", "-n", "Mixed Case"),
    "fat16-nolabel": _mkfs("f16n.img", 16 << 20, "mkfs.fat", "-F", "16"),
    "fat32-label": _mkfs("f32.img", 40 << 20, "mkfs.fat", "-F", "32", "-n", "BIG32"),
    "fat32-small": _mkfs("f32s.img", 33 << 20, "mkfs.fat", "-F", "32", "-n", "SMALL32"),
    "fat32-tiny": _mkfs("f32t.img", 1 << 20, "mkfs.fat", "-F", "32", "-n", "TINY"),
    "fat-bootlabel-only": _fat_root_label_deleted,
    "fat-rootlabel-differs": _fat_root_label_differs,
    "fat-japanese-label": _fat_japanese_label,
    "exfat-label": _mkfs("ex.img", 8 << 20, "mkfs.exfat", "-L", "EXVOL"),
    "exfat-nolabel": _mkfs("exn.img", 8 << 20, "mkfs.exfat"),
    "ntfs-label": _mkfs("nt.img", 8 << 20, "mkntfs", "-q", "-F", "-f", "-L", "Data Volume"),
    "ntfs-nolabel": _mkfs("ntn.img", 8 << 20, "mkntfs", "-q", "-F", "-f"),
    "ext2": _mkfs("e2.img", 4 << 20, "mkfs.ext2", "-q", "-L", "e2label"),
    "ext3": _mkfs("e3.img", 8 << 20, "mkfs.ext3", "-q", "-L", "e3 label"),
    "ext4": _mkfs("e4.img", 8 << 20, "mkfs.ext4", "-q", "-L", "rootfs"),
    "ext4-nolabel": _mkfs("e4n.img", 8 << 20, "mkfs.ext4", "-q"),
    "iso": _iso("plain.iso", "-V", "PLAIN_DISC"),
    "iso-joliet-long": _iso("jl.iso", "-J", "-V", "A Joliet Label Longer Than 16"),
    "iso-joliet-case": _iso("jc.iso", "-J", "-R", "-V", "Photos 1998"),
    "iso-udf": _iso("udf.iso", "-J", "-udf", "-V", "BRIDGE DISC"),
    "iso-joliet-japanese": _iso("jp.iso", "-J", "-input-charset", "utf-8", "-V",
                                "写真 1998 夏"),
    "udf": _mkfs("u.img", 8 << 20, "mkudffs", "--label=UDF Volume", "--blocksize=2048"),
    "udf-512": _mkfs("u512.img", 8 << 20, "mkudffs", "--label=Disk UDF", "--blocksize=512"),
    "hfs": _hfs,
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_label_and_type_as_blkid(name, tmp_path):
    img = FIXTURES[name](tmp_path)
    want = vi.blkid(img, codec="cp932" if name.startswith("fat") else "utf-8")
    assert want.get("TYPE"), want  # blkid must recognise our fixture
    vols, _ = vi.volumes(img)
    at_zero = [v for v in vols if v.offset == 0]
    by_type = {v.blkid_type: v for v in at_zero}
    assert want["TYPE"] in by_type, (want, at_zero)
    vol = by_type[want["TYPE"]]
    assert vol.label_checked
    assert vol.label == want.get("LABEL", ""), (name, vol.label, want)


def test_hfsplus_label_in_a_hybrid_disc(tmp_path):
    """HFS+ names its volume in the catalog (the root folder's record), not in a
    header field; blkid reads it there, so do we."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    iso = tmp_path / "hfsplus.iso"
    vi.sh(tool("xorriso"), "-as", "mkisofs", "-quiet", "-hfsplus", "-V", "Mac Plus Side",
          "-o", iso, src)
    vols, _ = vi.volumes(iso)
    hfs = [v for v in vols if v.fs_type == "hfsplus"]
    assert len(hfs) == 1 and hfs[0].offset > 0
    want = vi.blkid(iso, hfs[0].offset)
    assert (hfs[0].blkid_type, hfs[0].label) == (want["TYPE"], want["LABEL"])


@pytest.mark.parametrize("make,codec", [(_fat_root_label_differs, "cp932"),
                                        (_fat_japanese_label, "cp932"),
                                        (FIXTURES["iso-joliet-japanese"], "utf-8"),
                                        (FIXTURES["ntfs-label"], "utf-8")])
def test_labels_reach_the_report(make, codec, tmp_path):
    """The engine reports blkid's label (FAT: the root entry over the BPB's copy, in the
    station's code page)."""
    from workbench.config import Settings
    from workbench.identify.engine import identify_image
    from workbench.identify.pool import IdentifyPool
    img = make(tmp_path)
    with IdentifyPool(0) as pool:
        report = identify_image(img, Settings(legacy_codepage="cp932"), pool=pool)
    assert report.volumes[0].label == vi.blkid(img, codec=codec)["LABEL"]


def test_gpt_partition_name_is_not_the_label(tmp_path):
    """A GPT partition's name is blkid's PART_ENTRY_NAME; LABEL is the file system's."""
    img = vi.blank(tmp_path / "gpt.img", 40 << 20)
    script = "label: gpt\nstart=2048, size=30000, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, " \
             "name=\"My Partition\"\n"
    subprocess.run([tool("sfdisk"), "-q", str(img)], input=script, text=True, check=True,
                   capture_output=True)
    part = vi.blank(tmp_path / "p.img", 30000 * 512)
    vi.sh(tool("mkfs.fat"), "-F", "16", "-n", "FSLABEL", part)
    vi.place(img, 2048 * 512, part)
    vols, _ = vi.volumes(img)
    assert [(v.scheme, v.partition_label, v.label) for v in vols] == [
        ("gpt", "My Partition", "FSLABEL")]
    want = vi.blkid(img, 2048 * 512)
    assert (vols[0].blkid_type, vols[0].label) == (want["TYPE"], want["LABEL"])
