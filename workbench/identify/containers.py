"""Disk images made by PC-98 emulators: a header, then the raw disk. The header says
where the disk starts and, for hard disks, the geometry its CHS partition table needs.

- Anex86 HDI (hard disk) and FDI (floppy): eight little-endian 32-bit words: 0, type,
  header size (usually 4096), data size, sector size, sectors per track, heads,
  cylinders.
- T98-Next NHD: "T98HDDIMAGE.R0" and a 256-byte comment, then at 0x110 the header size
  (32-bit), cylinders (32-bit), heads, sectors per track and sector size (16-bit each).
(Layouts as Neko Project II reads them.) A header is accepted only when its numbers
agree with each other and with the file's size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from workbench.identify.model import Image


@dataclass(frozen=True)
class Container:
    kind: str  # hdi | fdi | nhd
    base: int
    size: int
    sector_size: int
    heads: int
    sectors: int


def emulator_container(image: Image) -> Container | None:
    head = image.read(0, 0x120)
    if len(head) < 0x120:
        return None
    if head[:15] == b"T98HDDIMAGE.R0\0":
        base, cyl = struct.unpack_from("<II", head, 0x110)
        heads, spt, ss = struct.unpack_from("<HHH", head, 0x118)
        size = cyl * heads * spt * ss
        if ss in (256, 512, 1024) and heads and spt and 0x120 <= base <= image.size - size:
            return Container("nhd", base, size, ss, heads, spt)
        return None
    zero, _kind, base, size, ss, spt, heads, cyl = struct.unpack_from("<8I", head, 0)
    if zero or ss not in (128, 256, 512, 1024, 2048) or not (spt and heads and cyl):
        return None
    if size != ss * spt * heads * cyl or not 32 <= base <= image.size - size or size == 0:
        return None
    kind = "fdi" if cyl <= 85 and heads <= 2 else "hdi"
    return Container(kind, base, size, ss, heads, spt)


class SubImage(Image):
    """The disk inside a container: reads shifted by its base, bounded by its size."""

    def __init__(self, image: Image, base: int, size: int) -> None:
        self.path, self.fd = image.path, -1  # reads go through the image; nothing to close
        self.base, self.size = base, size
        self._image = image

    def read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self.size:
            return b""
        return self._image.read(self.base + offset, min(size, self.size - offset))
