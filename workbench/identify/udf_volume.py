"""A UDF volume's layout: the anchor, the volume descriptor sequence (main, else reserve),
the partitions and the logical volume's partition maps, with the sparing table, VAT or
metadata file each kind needs. Gives byte ranges and blocks by (partition reference,
logical block)."""

from __future__ import annotations

import struct

from workbench.identify.model import ZERO, Image, Volume
from workbench.identify.udf_descriptors import (
    FILE_TYPE_VAT20,
    TAG_ANCHOR,
    TAG_EFE,
    TAG_FE,
    TAG_LVD,
    TAG_PARTITION,
    TAG_SPARING,
    TAG_TERMINATOR,
    UdfError,
    descriptor,
    dstring,
    regid,
    tag_id,
)
from workbench.identify.udf_files import FileInfo, descriptors, extents, parse_entry
from workbench.identify.udf_partitions import (
    Metadata,
    Partition,
    Physical,
    Ranges,
    Sparable,
    Virtual,
)

SECTOR = 2048
VAT_SEARCH = 512  # sectors before the end searched for the VAT (run-out, padding)
VAT15_ID = b"*UDF Virtual Alloc Tbl"
_MAX_SMALL_FILE = 64 << 20  # a VAT or metadata table larger than this is not real
_MAX_ZERO_TAIL = 1 << 30  # zeros skipped at most when looking for the written end


class UdfLayout:
    def __init__(self, image: Image, volume: Volume) -> None:
        self.image, self.volume = image, volume
        self.errors: list[str] = []
        self.sector = SECTOR
        anchor = self._find_anchor()
        pds, lvd = self._sequence(*struct.unpack_from("<II", anchor, 16)[::-1])
        if lvd is None or not pds:  # the main sequence is damaged: the reserve one
            pds, lvd = self._sequence(*struct.unpack_from("<II", anchor, 24)[::-1])
            self.errors.append("main volume descriptor sequence damaged; reserve used")
        if lvd is None or not pds:
            raise UdfError("UDF volume descriptors are missing or damaged")
        self.block = struct.unpack_from("<I", lvd, 212)[0]
        if self.block not in (512, 1024, 2048, 4096, 8192, 16384, 32768):
            raise UdfError(f"UDF logical block size {self.block} is not valid")
        self.label = dstring(lvd[84:212])
        self.partitions: list[Partition] = self._maps(lvd, pds)
        fsd_lbn, fsd_ref = struct.unpack_from("<IH", lvd, 252)
        self.fsd = (fsd_ref, fsd_lbn)

    # -- volume descriptors --------------------------------------------------------
    def _sector(self, n: int) -> bytes:
        if n < 0 or (n + 1) * self.sector > self.volume.size:
            return b""
        return self.image.read(self.volume.offset + n * self.sector, self.sector)

    def _find_anchor(self) -> bytes:
        """The anchor sits at sector 256 (or N-256, N-1) of the medium's own sector size:
        2048 on optical discs, often 512 on disks and image files."""
        for self.sector in (SECTOR, 512, 1024, 4096):
            last = self.volume.size // self.sector - 1
            for n in (256, last - 256, last):
                desc = self._sector(n)
                if descriptor(desc, TAG_ANCHOR) == TAG_ANCHOR:
                    return desc
        raise UdfError("UDF anchor volume descriptor pointer not found")

    def _sequence(self, location: int, length: int
                  ) -> tuple[dict[int, tuple[int, int]], bytes | None]:
        pds: dict[int, tuple[int, int]] = {}
        lvd = None
        for n in range(min(length // self.sector, 64)):
            desc = self._sector(location + n)
            tag = descriptor(desc, TAG_PARTITION, TAG_LVD, TAG_TERMINATOR)
            if tag == TAG_TERMINATOR:
                break
            if tag == TAG_PARTITION:
                number = struct.unpack_from("<H", desc, 22)[0]
                pds[number] = struct.unpack_from("<II", desc, 188)
            elif tag == TAG_LVD:
                lvd = desc
        return pds, lvd

    # -- partition maps ------------------------------------------------------------
    def _maps(self, lvd: bytes, pds: dict[int, tuple[int, int]]) -> list[Partition]:
        map_length, map_count = struct.unpack_from("<II", lvd, 264)
        table = lvd[440:440 + min(map_length, len(lvd) - 440)]
        found: list[tuple[int, bytes, int, int]] = []  # (type, regid, number, position)
        pos = 0
        for _ in range(min(map_count, 16)):
            if pos + 2 > len(table) or table[pos + 1] < 6:
                raise UdfError("UDF partition maps are damaged")
            kind, size = table[pos], table[pos + 1]
            if kind == 1:
                found.append((1, b"", struct.unpack_from("<H", table, pos + 4)[0], pos))
            elif kind == 2 and size >= 64:
                found.append((2, regid(table[pos + 4:pos + 36]),
                              struct.unpack_from("<H", table, pos + 38)[0], pos))
            else:
                raise UdfError(f"UDF partition map type {kind} is not known")
            pos += size
        if not found:
            raise UdfError("UDF has no partition map")
        parts: list[Partition | None] = [None] * len(found)
        for ref, (kind, ident, number, pos) in enumerate(found):  # physical ones first
            if kind == 1 or ident == b"*UDF Sparable Partition":
                if number not in pds:
                    raise UdfError(f"UDF partition {number} is not described")
                start, blocks = pds[number]
                base = self.volume.offset + start * self.sector
                if kind == 1:
                    parts[ref] = Physical(number, base, blocks, self.block)
                else:
                    parts[ref] = self._sparable(number, base, blocks, table[pos:pos + 64])
        for ref, (_, ident, number, pos) in enumerate(found):
            if parts[ref] is not None:
                continue
            under = [(r, p) for r, p in enumerate(parts) if isinstance(p, Physical)
                     and p.number == number]
            if not under:
                raise UdfError(f"UDF partition map {ident!r} has no partition {number}")
            if ident == b"*UDF Virtual Partition":
                parts[ref] = Virtual(number, under[0][1], self._vat(*under[0]))
            elif ident == b"*UDF Metadata Partition":
                parts[ref] = self._metadata(number, *under[0], table[pos:pos + 64])
            else:
                raise UdfError(f"UDF partition map {ident!r} is not known")
        return [p for p in parts if p is not None]

    def _sparable(self, number: int, base: int, blocks: int, pmap: bytes) -> Sparable:
        packet, count = struct.unpack_from("<HB", pmap, 40)
        size = struct.unpack_from("<I", pmap, 44)[0]
        part = Sparable(number, base, blocks, self.block, packet, self.volume.offset,
                        self.sector)
        for n in range(min(count, 4)):
            where = struct.unpack_from("<I", pmap, 48 + 4 * n)[0]
            sectors = -(-min(size, 1 << 20) // self.sector)
            raw = self.image.read(self.volume.offset + where * self.sector,
                                  sectors * self.sector)
            if (len(raw) < 56 or tag_id(raw) != TAG_SPARING
                    or regid(raw[16:48]) != b"*UDF Sparing Table"
                    or descriptor(raw, TAG_SPARING) != TAG_SPARING):
                continue
            entries = struct.unpack_from("<H", raw, 48)[0]
            for i in range(entries):
                if 56 + 8 * i + 8 > len(raw):
                    break
                original, mapped = struct.unpack_from("<II", raw, 56 + 8 * i)
                if original < 0xFFFFFFF0:
                    part.table[original] = mapped
            return part
        self.errors.append("sparing tables unreadable: packets moved to the spare area "
                           "would be read from their original place")
        return part

    # -- small files the layout needs (VAT, metadata file) ----------------------------
    def entry_at(self, part: Partition, ref: int, lbn: int) -> FileInfo:
        raw = self.read_ranges(part.ranges(lbn, self.block))
        return parse_entry(raw, f"block {lbn}")

    def read_ranges(self, ranges: Ranges) -> bytes:
        out = []
        for start, n in ranges:
            out.append(bytes(n) if start == ZERO else self.image.read(start, n))
        return b"".join(out)

    def _file_bytes(self, info: FileInfo, part: Partition, ref: int) -> bytes:
        if info.size > _MAX_SMALL_FILE:
            raise UdfError("table file too large")

        def local(p: int, lbn: int, n: int) -> Ranges:
            return part.ranges(lbn, n)  # these files name only their own partition

        ranges, data, errors = extents(info, ref, "table", local,
                                       lambda p, lbn: self.read_ranges(
                                           part.ranges(lbn, self.block)))
        if errors:
            raise UdfError(errors[0])
        return data if ranges is None else self.read_ranges(ranges)

    def _vat(self, ref: int, physical: Physical) -> list[int]:
        """The newest VAT: a file entry of type 248 (UDF 2.00+), or of type 0 ending in
        the VAT 1.50 identifier, in the last recorded sectors."""
        first_block = (physical.base - self.volume.offset) // self.sector
        last = self._last_recorded(first_block)
        for n in range(last, max(first_block, last - VAT_SEARCH), -1):
            desc = self._sector(n)
            if descriptor(desc[:self.block], TAG_FE, TAG_EFE) < 0:
                continue
            try:
                info = parse_entry(desc, f"sector {n}")
                if info.file_type not in (0, FILE_TYPE_VAT20):
                    continue
                data = self._file_bytes(info, physical, ref)
            except UdfError:
                continue
            if info.file_type == FILE_TYPE_VAT20 and len(data) >= 152:
                header = struct.unpack_from("<H", data, 0)[0]
                body = data[header:]
            elif info.file_type == 0 and regid(data[-36:-4]) == VAT15_ID:
                body = data[:-36]
            else:
                continue
            return list(struct.unpack_from(f"<{len(body) // 4}I", body))
        raise UdfError("UDF virtual partition: no VAT found in the last recorded sectors")

    def _last_recorded(self, first: int) -> int:
        """The last sector that is not all zeros: an image read past the written end of a
        disc (to its capacity) holds zeros after the VAT."""
        n = self.volume.size // self.sector - 1
        step = 256
        skipped = 0
        while n > first and skipped < _MAX_ZERO_TAIL:
            at = max(first, n - step + 1)
            chunk = self.image.read(self.volume.offset + at * self.sector,
                                    (n - at + 1) * self.sector)
            if chunk.count(0) != len(chunk):
                stripped = len(chunk.rstrip(b"\0"))
                return at + (stripped - 1) // self.sector
            skipped += len(chunk)
            n = at - 1
        return self.volume.size // self.sector - 1

    def _metadata(self, number: int, ref: int, physical: Physical, pmap: bytes) -> Metadata:
        main_at, mirror_at = struct.unpack_from("<II", pmap, 40)
        tables: list[list[tuple[int, int | None, int]] | None] = []
        for what, lbn in (("metadata file", main_at), ("metadata mirror file", mirror_at)):
            try:
                info = self.entry_at(physical, ref, lbn)
                ads, errors = descriptors(info, ref, what, lambda p, b: self.read_ranges(
                    physical.ranges(b, self.block)))
                if errors or info.alloc not in (0, 1, 2):
                    raise UdfError(errors[0] if errors else "embedded metadata file")
            except UdfError as exc:
                self.errors.append(f"{what} is damaged: {exc}")
                tables.append(None)
                continue
            table, first = [], 0
            for kind, _, start, n in ads:
                count = -(-n // self.block)
                table.append((first, start if kind == 0 else None, count))
                first += count
            tables.append(table)
        if tables[0] is None and tables[1] is None:
            raise UdfError("UDF metadata file and its mirror are both damaged")
        if tables[0] is None:
            self.errors.append("metadata read from the mirror file")
        return Metadata(number, physical, tables[0], tables[1])

    # -- access by (partition reference, logical block) ------------------------------
    def ranges(self, ref: int, lbn: int, length: int) -> Ranges:
        if not 0 <= ref < len(self.partitions):
            raise UdfError(f"partition reference {ref} is not mapped")
        return self.partitions[ref].ranges(lbn, length)

    def block_at(self, ref: int, lbn: int) -> bytes:
        """One logical block; a block of the metadata partition whose descriptor tag is
        bad is read again from the mirror file."""
        try:
            data = self.read_ranges(self.ranges(ref, lbn, self.block))
        except UdfError:
            data = b""
        part = self.partitions[ref] if 0 <= ref < len(self.partitions) else None
        if (isinstance(part, Metadata) and not part.use_mirror and part.mirror
                and tag_id(data) < 0):
            try:
                mirrored = self.read_ranges(part.ranges(lbn, self.block, mirror=True))
            except UdfError:
                return data
            if tag_id(mirrored) >= 0:
                self.errors.append(f"metadata block {lbn} damaged; read from the mirror")
                return mirrored
        return data
