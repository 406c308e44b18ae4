"""UDF partition maps: where a partition's logical blocks lie in the image.

- physical (type 1): blocks follow one another from the partition's first sector;
- sparable (UDF 1.50+, CD-RW/DVD-RW packet writing): like physical, but packets listed in
  the sparing table were moved to the spare area;
- virtual (UDF 1.50+, CD-R/DVD-R/BD-R incremental): each virtual block is looked up in the
  Virtual Allocation Table (VAT), recorded last on the disc;
- metadata (UDF 2.50+): blocks of the metadata partition are the blocks of the metadata
  file (file entries and directories live there); its mirror file is read when the main
  file is damaged.

Each maps (logical block, length) to image byte ranges; a block it cannot place raises
UdfError, so no byte is ever read from a wrong place.
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.identify.udf_descriptors import UdfError

VAT_UNUSED = 0xFFFFFFFF
Ranges = list[tuple[int, int]]


def _append(out: Ranges, start: int, n: int) -> None:
    if out and out[-1][0] + out[-1][1] == start:
        out[-1] = (out[-1][0], out[-1][1] + n)
    else:
        out.append((start, n))


class Physical:
    kind = "physical"

    def __init__(self, number: int, base: int, blocks: int, block: int) -> None:
        """base: image byte offset of the partition's first block; blocks: its length."""
        self.number, self.base, self.blocks, self.block = number, base, blocks, block

    def ranges(self, lbn: int, length: int) -> Ranges:
        if length <= 0:
            return []
        end = lbn * self.block + length
        if lbn < 0 or (self.blocks and end > self.blocks * self.block):
            raise UdfError(f"block {lbn} lies outside partition {self.number}")
        return [(self.base + lbn * self.block, length)]


class Sparable(Physical):
    kind = "sparable"

    def __init__(self, number: int, base: int, blocks: int, block: int, packet: int,
                 image_base: int, sector: int) -> None:
        super().__init__(number, base, blocks, block)
        self.packet = max(packet, 1)
        self.image_base, self.sector = image_base, sector
        self.table: dict[int, int] = {}  # packet's first block -> mapped sector (absolute)

    def ranges(self, lbn: int, length: int) -> Ranges:
        super().ranges(lbn, length)  # bounds
        out: Ranges = []
        left, b = length, lbn
        while left > 0:
            first = b - b % self.packet
            n = min(left, (first + self.packet - b) * self.block)
            mapped = self.table.get(first)
            if mapped is None:
                _append(out, self.base + b * self.block, n)
            else:
                _append(out, self.image_base + mapped * self.sector + (b - first) * self.block,
                        n)
            left -= n
            b = first + self.packet
        return out


class Virtual:
    kind = "virtual"

    def __init__(self, number: int, physical: Physical, vat: list[int]) -> None:
        self.number, self.physical, self.vat = number, physical, vat
        self.block = physical.block

    def ranges(self, lbn: int, length: int) -> Ranges:
        out: Ranges = []
        left, b = length, lbn
        while left > 0:
            if not 0 <= b < len(self.vat) or self.vat[b] == VAT_UNUSED:
                raise UdfError(f"virtual block {b} is not in the VAT")
            n = min(left, self.block)
            for start, m in self.physical.ranges(self.vat[b], n):
                _append(out, start, m)
            left -= n
            b += 1
        return out


class Metadata:
    """extents: (first metadata block, physical block or None for an unrecorded extent,
    block count) of the metadata file, and the same for its mirror."""
    kind = "metadata"

    def __init__(self, number: int, physical: Physical,
                 main: list[tuple[int, int | None, int]] | None,
                 mirror: list[tuple[int, int | None, int]] | None) -> None:
        self.number, self.physical = number, physical
        self.main, self.mirror = main, mirror
        self.block = physical.block
        self.use_mirror = main is None

    def ranges(self, lbn: int, length: int, mirror: bool | None = None) -> Ranges:
        table = self.mirror if (self.use_mirror if mirror is None else mirror) else self.main
        if table is None:
            raise UdfError("metadata file is not readable")
        out: Ranges = []
        left, b = length, lbn
        while left > 0:
            found = next((t for t in table if t[0] <= b < t[0] + t[2]), None)
            if found is None:
                raise UdfError(f"metadata block {b} is not in the metadata file")
            first, phys, count = found
            if phys is None:
                raise UdfError(f"metadata block {b} is not recorded")
            n = min(left, (first + count - b) * self.block)
            for start, m in self.physical.ranges(phys + b - first, n):
                _append(out, start, m)
            left -= n
            b = first + count
        return out


Partition = Physical | Virtual | Metadata
ReadFile = Callable[[int, int], bytes]
