"""A small, deterministic FAT12/FAT16 image writer for sample media and test fixtures.

Short names are given as bytes in the legacy code page (cp932 on Japanese media);
an optional long (VFAT) name is written as UTF-16. Fixed timestamps make every build
byte-identical.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

ATTR_DIR, ATTR_ARCHIVE, ATTR_LABEL, ATTR_LFN = 0x10, 0x20, 0x08, 0x0F


@dataclass
class Entry:
    short: bytes  # 11 bytes, padded name + extension, in the legacy code page
    data: bytes = b""
    long: str | None = None
    children: list[Entry] | None = None  # a directory when not None
    when: tuple[int, int, int, int, int, int] = (1998, 3, 14, 10, 30, 0)


@dataclass
class Geometry:
    total_sectors: int
    sectors_per_cluster: int = 1
    root_entries: int = 224
    sectors_per_track: int = 18
    heads: int = 2
    media: int = 0xF0
    hidden: int = 0
    label: bytes = b"NO NAME    "
    volume_id: int = 0x19980314
    extra: dict = field(default_factory=dict)


def short_name(name: str, codepage: str = "cp932") -> bytes:
    base, _, ext = name.upper().partition(".")
    raw = base.encode(codepage).ljust(8, b" ")[:8] + ext.encode(codepage).ljust(3, b" ")[:3]
    return b"\x05" + raw[1:] if raw[0] == 0xE5 else raw  # 0xE5 marks deleted entries


def _dos_time(when: tuple[int, ...]) -> tuple[int, int]:
    y, mo, d, h, mi, s = when
    return ((y - 1980) << 9) | (mo << 5) | d, (h << 11) | (mi << 5) | (s // 2)


def _lfn_checksum(short: bytes) -> int:
    total = 0
    for b in short:
        total = (((total & 1) << 7) + (total >> 1) + b) & 0xFF
    return total


def _lfn_entries(long: str, short: bytes) -> list[bytes]:
    units = long.encode("utf-16-le")
    chars = [units[i:i + 2] for i in range(0, len(units), 2)]
    if len(chars) % 13:
        chars.append(b"\0\0")
    while len(chars) % 13:
        chars.append(b"\xff\xff")
    parts = [b"".join(chars[i:i + 13]) for i in range(0, len(chars), 13)]
    csum = _lfn_checksum(short)
    out = []
    for n, part in enumerate(parts, 1):
        seq = n | (0x40 if n == len(parts) else 0)
        out.append(struct.pack("<B10sBBB12sH4s", seq, part[:10], ATTR_LFN, 0, csum,
                               part[10:22], 0, part[22:26]))
    return list(reversed(out))


def _dirent(short: bytes, attr: int, cluster: int, size: int, when: tuple[int, ...]) -> bytes:
    date, time = _dos_time(when)
    return struct.pack("<11sBBBHHHHHHHI", short, attr, 0, 0, time, date, date, 0, time, date,
                       cluster, size)


class FatImage:
    def __init__(self, geo: Geometry, bytes_per_sector: int = 512) -> None:
        self.geo, self.bps = geo, bytes_per_sector
        spc = geo.sectors_per_cluster
        root_sectors = geo.root_entries * 32 // bytes_per_sector
        # size the FAT: solve for the number of clusters
        clusters = geo.total_sectors // spc
        self.fat16 = clusters >= 4085
        for _ in range(4):
            fat_bytes = (clusters + 2) * (2 if self.fat16 else 1.5)
            self.fat_sectors = int(-(-fat_bytes // bytes_per_sector))
            data_start = 1 + 2 * self.fat_sectors + root_sectors
            clusters = (geo.total_sectors - data_start) // spc
        self.root_start = 1 + 2 * self.fat_sectors
        self.data_start = self.root_start + root_sectors
        self.clusters = clusters
        self.fat = [0] * (clusters + 2)
        self.fat[0], self.fat[1] = 0xFF00 | geo.media if self.fat16 else 0xF00 | geo.media, \
            0xFFFF if self.fat16 else 0xFFF
        self.image = bytearray(geo.total_sectors * bytes_per_sector)
        self.next_cluster = 2

    @property
    def cluster_bytes(self) -> int:
        return self.geo.sectors_per_cluster * self.bps

    def cluster_offset(self, cluster: int) -> int:
        return (self.data_start + (cluster - 2) * self.geo.sectors_per_cluster) * self.bps

    def _allocate(self, data: bytes) -> int:
        if not data:
            return 0
        count = -(-len(data) // self.cluster_bytes)
        first = self.next_cluster
        for i in range(count):
            c = first + i
            self.fat[c] = c + 1 if i < count - 1 else (0xFFFF if self.fat16 else 0xFFF)
            off = self.cluster_offset(c)
            chunk = data[i * self.cluster_bytes:(i + 1) * self.cluster_bytes]
            self.image[off:off + len(chunk)] = chunk
        self.next_cluster += count
        return first

    def _directory(self, entries: list[Entry], self_cluster: int, parent: int) -> bytes:
        out = bytearray()
        if self_cluster:
            when = entries[0].when if entries else (1998, 3, 14, 10, 30, 0)
            out += _dirent(b".          ", ATTR_DIR, self_cluster, 0, when)
            out += _dirent(b"..         ", ATTR_DIR, parent, 0, when)
        for e in entries:
            if e.long:
                out += b"".join(_lfn_entries(e.long, e.short))
            if e.children is not None:
                # reserve the directory's clusters first, so children know the parent
                size = (len(e.children) * 3 + 2) * 32
                cluster = self._allocate(b"\0" * size)
                body = self._directory(e.children, cluster, self_cluster)
                off = self.cluster_offset(cluster)
                self.image[off:off + len(body)] = body
                out += _dirent(e.short, ATTR_DIR, cluster, 0, e.when)
            else:
                cluster = self._allocate(e.data)
                out += _dirent(e.short, ATTR_ARCHIVE, cluster, len(e.data), e.when)
        return bytes(out)

    def build(self, entries: list[Entry]) -> bytes:
        g = self.geo
        root = _dirent(g.label, ATTR_LABEL, 0, 0, (1998, 3, 14, 10, 0, 0))
        root += self._directory(entries, 0, 0)
        if len(root) > g.root_entries * 32:
            raise ValueError("too many root entries")
        start = self.root_start * self.bps
        self.image[start:start + len(root)] = root
        total16 = g.total_sectors if g.total_sectors < 65536 else 0
        total32 = 0 if total16 else g.total_sectors
        boot = struct.pack("<3s8sHBHBHHBHHHII", b"\xeb\x3c\x90", b"WORKBNCH", self.bps,
                           g.sectors_per_cluster, 1, 2, g.root_entries, total16, g.media,
                           self.fat_sectors, g.sectors_per_track, g.heads, g.hidden, total32)
        boot += struct.pack("<BBBI11s8s", 0x80 if g.hidden else 0, 0, 0x29, g.volume_id, g.label,
                            b"FAT16   " if self.fat16 else b"FAT12   ")
        boot = boot.ljust(510, b"\0") + b"\x55\xaa"
        self.image[0:512] = boot
        fat = bytearray()
        if self.fat16:
            for v in self.fat:
                fat += struct.pack("<H", v)
        else:
            vals = self.fat + [0] * (len(self.fat) % 2)
            for i in range(0, len(vals), 2):
                a, b = vals[i], vals[i + 1]
                fat += bytes([a & 0xFF, ((a >> 8) & 0x0F) | ((b & 0x0F) << 4), b >> 4])
        for n in range(2):
            off = (1 + n * self.fat_sectors) * self.bps
            self.image[off:off + len(fat)] = fat
        return bytes(self.image)


def mbr(partitions: list[tuple[int, int, int]], disk_id: int = 0x19980314) -> bytes:
    """A classic MBR: partitions as (type, first LBA, sector count)."""
    table = b""
    for ptype, lba, count in partitions:
        table += struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", ptype, b"\xfe\xff\xff", lba, count)
    table = table.ljust(64, b"\0")
    return (b"\0" * 440 + struct.pack("<IH", disk_id, 0) + table + b"\x55\xaa")
