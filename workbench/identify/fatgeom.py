"""Where a FAT volume's parts lie: from a DOS BPB, a Human68k (X68000) BPB, or, for
PC-98 and X68000 floppies that carry no BPB at all, from the media byte at the start of
the FAT and the size of the medium.

The FAT type follows blkid and the Linux kernel: a BPB whose 16-bit FAT size is 0 and
whose FAT32 size is not is FAT32 whatever its cluster count (mkfs.fat makes small FAT32
volumes with a few hundred clusters); otherwise the cluster count decides (Microsoft's
FAT specification: < 4085 FAT12, < 65525 FAT16).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

Read = Callable[[int, int], bytes]

FAT12_MAX, FAT16_MAX, FAT32_MAX = 4085, 65525, 0x0FFFFFF6


@dataclass(frozen=True)
class FatGeometry:
    kind: str  # fat12 | fat16 | fat32
    bps: int
    spc: int
    reserved: int
    nfats: int
    root_entries: int
    total_sectors: int
    fat_sectors: int
    root_cluster: int = 0
    boot_label: bytes = b""  # the BPB's label field (blkid prefers the root directory's)
    human68k: bool = False  # Human68k directory entries: names of 18 + 3 bytes
    fat_be: bool = False  # FAT16 entries big-endian (Human68k hard disks)
    source: str = "bpb"  # bpb | human68k-bpb | media-byte

    @property
    def clusters(self) -> int:
        return (self.total_sectors - self.reserved - self.nfats * self.fat_sectors
                - self.root_sectors) // self.spc

    @property
    def root_sectors(self) -> int:
        return (self.root_entries * 32 + self.bps - 1) // self.bps


def _pow2(n: int) -> bool:
    return n > 0 and not n & (n - 1)


def _kind(fat16: int, fat32: int, clusters: int) -> str:
    if fat16 == 0 and fat32:
        return "fat32" if clusters <= FAT32_MAX else ""
    if clusters <= 0:
        return ""
    return "fat12" if clusters < FAT12_MAX else "fat16" if clusters < FAT16_MAX else ""


def dos_bpb(boot: bytes) -> FatGeometry | None:
    """A DOS BPB (little-endian, after an x86 jump, a 68000 bra.s on Human68k and
    Atari floppies, or "IPL4" on FM TOWNS floppies), checked as blkid checks it."""
    if len(boot) < 512 or (boot[0] not in (0xEB, 0xE9, 0x60) and boot[:4] != b"IPL4"):
        return None
    bps, spc, reserved, nfats, root_entries, total16, media, fat16 = struct.unpack_from(
        "<HBHBHHBH", boot, 11)
    total32, fat32 = struct.unpack_from("<II", boot, 32)
    if not (_pow2(bps) and 512 <= bps <= 4096 and _pow2(spc) and reserved and
            nfats in (1, 2) and (media >= 0xF8 or media == 0xF0)):
        return None
    fat_sectors, total = fat16 or fat32, total16 or total32
    if fat_sectors == 0 or total == 0:
        return None
    geo = FatGeometry("", bps, spc, reserved, nfats, root_entries, total, fat_sectors)
    kind = _kind(fat16, fat32, geo.clusters)
    if not kind:
        return None
    root_cluster = struct.unpack_from("<I", boot, 44)[0] if kind == "fat32" else 0
    at, sign = (71, 66) if kind == "fat32" else (43, 38)
    label = boot[at:at + 11] if boot[sign] == 0x29 else b""
    return FatGeometry(kind, bps, spc, reserved, nfats, root_entries, total, fat_sectors,
                       root_cluster, label, human68k=boot[0] == 0x60 and boot[3:6] == b"X68")


def blkid_sees_fat(boot: bytes) -> bool:
    """Whether blkid's vfat probe starts on this boot sector: a FAT magic string, or an
    x86 jump / no jump with the 55 AA signature."""
    return (boot[0x52:0x57] == b"MSWIN" or boot[0x52:0x5A] == b"FAT32   "
            or boot[0x36:0x3B] == b"MSDOS" or boot[0x36:0x39] == b"FAT"
            or boot[510:512] == b"\x55\xaa")


def human68k_bpb(boot: bytes, read: Read, offset: int) -> FatGeometry | None:
    """The big-endian parameter block of a Human68k hard-disk partition: bra.s, a
    16-byte name ("Hudson soft 2.00", "SHARP/KG    1.00"), bytes per sector, sectors
    per cluster, FATs, reserved sectors, root entries, total sectors, media byte,
    sectors per FAT (one byte), total sectors (32-bit, at 0x1E). Accepted only when the
    FAT it points at starts with the same media byte. On these disks the FAT16 entries
    are big-endian too (the media byte is the first entry's high byte); FAT12 packing
    stays the DOS one (X68000 floppies are DOS-compatible)."""
    if len(boot) < 34 or boot[0] != 0x60 or not all(0x20 <= b < 0x7F for b in boot[2:18]):
        return None
    bps, spc, nfats, reserved, root_entries, total16, media, fat_sectors, total32 = \
        struct.unpack_from(">HBBHHHBBI", boot, 18)
    total = total16 or total32
    if not (_pow2(bps) and 256 <= bps <= 4096 and _pow2(spc) and nfats in (1, 2)
            and reserved and fat_sectors and total and media >= 0xF0):
        return None
    if read(offset + reserved * bps, 1) != bytes([media]):
        return None
    geo = FatGeometry("", bps, spc, reserved, nfats, root_entries, total, fat_sectors,
                      human68k=True, source="human68k-bpb")
    kind = _kind(fat_sectors, 0, geo.clusters)
    if not kind:
        return None
    return FatGeometry(kind, bps, spc, reserved, nfats, root_entries, total, fat_sectors,
                       human68k=True, fat_be=kind == "fat16", source="human68k-bpb")


# Floppies formatted without a BPB (PC-98 and X68000 2HD, PC-98 2DD): the medium's size
# and the media byte at the start of the FAT give the layout, as DOS itself did.
# (size, sector size, media byte) -> (spc, reserved, FATs, root entries, FAT sectors)
_FLOPPIES = {
    (1261568, 1024, 0xFE): (1, 1, 2, 192, 2),  # 2HD, 77 x 2 x 8 x 1024
    (1228800, 512, 0xF9): (1, 1, 2, 224, 7),  # 2HC, 80 x 2 x 15 x 512
    (737280, 512, 0xF9): (2, 1, 2, 112, 3),  # 2DD 720K
    (655360, 512, 0xFB): (2, 1, 2, 112, 2),  # 2DD 640K
}


def media_byte_geometry(size: int, fat_head: dict[int, bytes], x68000: bool = False
                        ) -> FatGeometry | None:
    """fat_head: the first bytes of the second sector for each sector size tried;
    x68000: the boot sector starts with a 68000 bra.s (Human68k names then)."""
    for (fsize, bps, media), (spc, res, nfats, root, fat_sectors) in _FLOPPIES.items():
        head = fat_head.get(bps, b"")
        if size == fsize and head[:3] == bytes([media, 0xFF, 0xFF]):
            total = fsize // bps
            return FatGeometry("fat12", bps, spc, res, nfats, root, total, fat_sectors,
                               human68k=x68000, source="media-byte")
    return None


def fat_geometry(read: Read, offset: int, size: int) -> FatGeometry | None:
    """The geometry of the FAT volume at offset (size bytes), or None. read is an
    Image.read-like callable (offset, size) -> bytes."""
    boot = read(offset, 512)
    if len(boot) < 512:
        return None
    geo = dos_bpb(boot)
    if geo is not None:
        return geo
    if boot[0] == 0x60:
        human = human68k_bpb(boot, read, offset)
        if human is not None:
            return human
    return media_byte_geometry(size, {bps: read(offset + bps, 3) for bps in (512, 1024)},
                               boot[0] == 0x60)
