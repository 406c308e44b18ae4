"""NEC PC-9800 hard-disk partition tables.

Layout (FreeBSD's sys/diskpc98.h, Aaru's PC98 plugin): sector 0 holds the IPL (boot
code, ending in 55 AA); sector 1 the table: 16 entries of 32 bytes, little-endian:

    0 mid (0x80: bootable; 0x20 MS-DOS)   1 sid (0x80: active; 0x01 FAT12,
    0x11/0x21 FAT16, 0x61 FAT32, 0x44 FreeBSD, 0x62 Linux)   2-3 unused
    4 IPL sector  5 IPL head  6 IPL cylinder (2)
    8 start sector  9 start head  10 start cylinder (2)
    12 end sector  13 end head  14 end cylinder (2)
    16 name, 16 bytes, Shift_JIS, space-padded

Addresses are cylinder/head/sector with sectors counted from 0, and the table does not
say the disk's geometry (the BIOS knew it): the common PC-98 geometries are tried and the
one that puts the partitions on recognised file systems wins. The table sector is
sector 1 of the disk's sector size (512 on most disks, 256 on old SASI disks, 1024 or
2048 on MO).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from workbench.identify.model import Image, Volume

SniffAt = Callable[[Image, int, int], str]
# (heads, sectors per track) of PC-98 disks: IDE 8 x 17, SASI 4/6/8 x 33 (256-byte
# sectors), SCSI 8 x 32, emulators' 8 x 16 and 8 x 25, and the large IDE translations
GEOMETRIES = ((8, 17), (8, 32), (8, 33), (4, 33), (6, 33), (8, 16), (8, 25), (8, 26),
              (16, 63), (15, 63), (16, 17), (4, 17), (6, 17), (16, 32), (255, 63), (2, 8),
              (1, 1))
SECTOR_SIZES = (512, 256, 1024, 2048)
SID_NAMES = {0x01: "PC-98 FAT12", 0x04: "PC-UX", 0x06: "N88-BASIC(86)",
             0x11: "PC-98 FAT16", 0x21: "PC-98 FAT16", 0x28: "Windows volume set",
             0x41: "Windows volume set", 0x48: "Windows volume set", 0x44: "FreeBSD",
             0x61: "PC-98 FAT32", 0x62: "Linux"}


def _entries(table: bytes) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for i in range(len(table) // 32):
        e = table[i * 32:(i + 1) * 32]
        mid, sid = e[0], e[1]
        if mid == 0 and sid == 0:
            continue
        ssect, shd, scyl, esect, ehd, ecyl = struct.unpack_from("<BBHBBH", e, 8)
        out.append((i, mid, sid, ssect, shd, scyl, esect, ehd, ecyl))
    return out


def _volumes(image: Image, entries: list[tuple[int, ...]], table: bytes, ss: int,
             heads: int, spt: int) -> list[Volume]:
    volumes: list[Volume] = []
    for i, mid, sid, ssect, shd, scyl, esect, ehd, ecyl in entries:
        if ssect >= spt or shd >= heads or esect >= spt or ehd >= heads or ecyl < scyl:
            continue
        start = (scyl * heads + shd) * spt + ssect
        if ehd == 0 and esect == 0:  # the end given as a cylinder: up to its last sector
            end = (ecyl + 1) * heads * spt - 1
        else:
            end = (ecyl * heads + ehd) * spt + esect
        offset, size = start * ss, (end - start + 1) * ss
        if start == 0 or offset >= image.size or end < start:
            continue
        size = min(size, image.size - offset)
        name = table[i * 32 + 16:i * 32 + 32].split(b"\0")[0].decode("cp932", "replace")
        ptype = SID_NAMES.get(sid & 0x7F, f"PC-98 {mid:#04x}/{sid:#04x}")
        volumes.append(Volume(len(volumes), offset, size, "pc98", ptype,
                              partition_label=name.rstrip(" "), sector_size=ss))
    return volumes


def pc98(image: Image, errors: list[str], sniff_at: SniffAt,
         hint: tuple[int, int, int] | None = None) -> list[Volume] | None:
    """The partitions of a PC-98 table, or None when sector 1 holds none that lands on a
    recognised file system under some geometry (an empty or foreign sector 1 must not
    turn into phantom partitions). hint: (sector size, heads, sectors per track) from an
    emulator's image header, tried first."""
    best: tuple[int, list[Volume]] | None = None
    sizes = ((hint[0],) if hint else ()) + SECTOR_SIZES
    for ss in dict.fromkeys(sizes):
        ipl = image.read(0, ss)
        table = image.read(ss, 512)
        if len(table) < 512 or len(ipl) < 256:
            continue
        entries = _entries(table)
        if not entries or len(entries) > 16:
            continue
        tried = ((hint[1], hint[2]),) if hint and hint[0] == ss else ()
        for heads, spt in dict.fromkeys(tried + GEOMETRIES):
            volumes = _volumes(image, entries, table, ss, heads, spt)
            for v in volumes:
                v.fs_type = sniff_at(image, v.offset, v.size)
            score = sum(1 for v in volumes if v.fs_type)
            if score and (best is None or score > best[0]):
                best = (score, volumes)
    if best is None:
        return None
    if best[0] < len(best[1]):
        errors.append(f"PC-98 partition table: {len(best[1]) - best[0]} partition(s) hold "
                      "no recognised file system")
    return best[1]


def pc98_unread(image: Image) -> list[Volume]:
    """A PC-98 table none of whose partitions could be placed on a file system (an
    unknown geometry, or file systems we do not read): the disk reported as such, one
    volume, rather than as a disk with nothing on it."""
    ipl, table = image.read(0, 512), image.read(512, 512)
    if ipl[510:512] != b"\x55\xaa" or len(table) < 512:
        return []
    known = [e for e in _entries(table) if e[2] & 0x7F in SID_NAMES and e[1] & 0x20]
    if not known:
        return []
    kinds = ", ".join(sorted({SID_NAMES[e[2] & 0x7F] for e in known}))
    return [Volume(0, 0, image.size, "pc98", "PC-98 partition table",
                   errors=[f"PC-98 partition table ({kinds}): no partition could be placed "
                           "on a recognised file system under a known disk geometry"])]
