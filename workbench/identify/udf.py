"""UDF reader for UDF discs and disks (a bridge disc's ISO side is listed beside it),
every revision 1.02-2.60: physical, sparable (packet-written CD-RW/DVD-RW),
virtual (VAT: CD-R/DVD-R/BD-R written incrementally, UDF 1.50 and 2.00+ VAT) and metadata
(UDF 2.50/2.60, mirror file read when the main one is damaged) partitions.

Data extents become image extents (through the partition maps); data embedded in the
file entry is read from it; unrecorded extents read as zeros. A damaged file entry is
listed with an error and the rest of the volume is walked; a damaged directory entry is
skipped by searching for the next valid one. Every offset is bounds-checked.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from workbench.identify.model import FileEntry, Image, Volume, named, walk_guard
from workbench.identify.udf_descriptors import (
    TAG_FID,
    TAG_FSD,
    TAG_IE,
    UdfError,
    crc_ok,
    cs0_name,
    descriptor,
    long_ad,
    tag_id,
)
from workbench.identify.udf_files import FileInfo, extents, parse_entry
from workbench.identify.udf_volume import UdfLayout

_MAX_DIR = 16 << 20
_MAX_INDIRECT = 64
FID_HIDDEN, FID_DIRECTORY, FID_DELETED, FID_PARENT = 0x01, 0x02, 0x04, 0x08

__all__ = ["UdfError", "UdfReader"]


class UdfReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        self.image, self.volume, self.deadline = image, volume, deadline
        self.kind = "udf"
        self.layout = UdfLayout(image, volume)
        self.errors: list[str] = self.layout.errors
        self.label = self.layout.label
        ref, lbn = self.layout.fsd
        fsd = self.layout.block_at(ref, lbn)
        if descriptor(fsd, TAG_FSD) != TAG_FSD:
            raise UdfError("UDF file set descriptor not found")
        self.root = long_ad(fsd, 400)

    # -- files ------------------------------------------------------------------------
    def _entry(self, ref: int, lbn: int) -> FileInfo:
        """The file entry at (ref, lbn); with strategy 4096 the newest one, found through
        indirect entries."""
        info = parse_entry(self.layout.block_at(ref, lbn), f"block {lbn}")
        hops = 0
        while info.strategy == 4096 and hops < _MAX_INDIRECT:
            nxt = self.layout.block_at(ref, lbn + 1)
            if descriptor(nxt, TAG_IE) != TAG_IE:
                break
            _, lbn, ref = long_ad(nxt, 36)
            info = parse_entry(self.layout.block_at(ref, lbn), f"block {lbn}")
            hops += 1
        return info

    def _data(self, info: FileInfo, ref: int, lbn: int
              ) -> tuple[list[tuple[int, int]] | None, bytes, list[str]]:
        return extents(info, ref, f"block {lbn}", self.layout.ranges, self.layout.block_at)

    def walk(self) -> Iterator[FileEntry]:
        _, lbn, ref = self.root
        yield from self._walk(ref, lbn, "", 0, {(ref, lbn)})

    def _directory(self, ref: int, lbn: int, path: str) -> bytes:
        info = self._entry(ref, lbn)
        ranges, embedded, errors = self._data(info, ref, lbn)
        self.errors += [f"{path or '/'}: {e}" for e in errors]
        if ranges is None:
            return embedded
        parts, total = [], 0
        for start, n in ranges:  # a damaged entry may claim any size: cap as we read
            take = min(n, _MAX_DIR - total)
            if take <= 0:
                break
            parts.append(self.layout.read_ranges([(start, take)]))
            total += take
        return b"".join(parts)

    def _walk(self, ref: int, lbn: int, parent: str, depth: int,
              visited: set[tuple[int, int]]) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        try:
            data = self._directory(ref, lbn, parent)
        except (UdfError, struct.error) as exc:
            self.errors.append(f"{parent or '/'}: directory unreadable: {exc}")
            return
        pos = 0
        while pos + 38 <= len(data):
            if tag_id(data[pos:pos + 16]) != TAG_FID:
                self.errors.append(f"{parent or '/'}: damaged directory entry at byte {pos}")
                pos = self._next_fid(data, pos + 4)
                continue
            chars, l_fi = data[pos + 18], data[pos + 19]
            child = long_ad(data, pos + 20)
            l_iu = struct.unpack_from("<H", data, pos + 36)[0]
            end = pos + 38 + l_iu + l_fi
            # the CRC covers the padding to 4 bytes too
            if end > len(data) or not crc_ok(data[pos:min((end + 3) & ~3, len(data))]):
                self.errors.append(f"{parent or '/'}: damaged directory entry at byte {pos}")
                pos = self._next_fid(data, pos + 4)
                continue
            ident = data[pos + 38 + l_iu:end]
            pos = (end + 3) & ~3
            if chars & FID_PARENT:
                continue
            yield from self._child(child, chars, ident, parent, depth, visited)

    @staticmethod
    def _next_fid(data: bytes, pos: int) -> int:
        """The next place (FIDs are 4-byte aligned) holding a valid FID tag, or the end."""
        while pos + 16 <= len(data):
            if data[pos] == TAG_FID & 0xFF and tag_id(data[pos:pos + 16]) == TAG_FID:
                return pos
            pos += 4
        return len(data)

    def _child(self, icb: tuple[int, int, int], chars: int, ident: bytes, parent: str,
               depth: int, visited: set[tuple[int, int]]) -> Iterator[FileEntry]:
        path, hexraw, warnings = named(parent, *cs0_name(ident))
        if chars & FID_HIDDEN:
            warnings.append("hidden")
        _, lbn, ref = icb
        allocated = not chars & FID_DELETED
        try:
            info = self._entry(ref, lbn)
            ranges, embedded, errors = self._data(info, ref, lbn)
        except (UdfError, struct.error) as exc:
            # listed, marked damaged; the FID says whether it was a directory
            is_dir = bool(chars & FID_DIRECTORY)
            if not allocated:  # a deleted name whose entry was freed: nothing to read
                yield FileEntry(self.volume.index, path, 0, is_dir=is_dir, allocated=False,
                                name_raw=hexraw, extents=[],
                                warnings=[*warnings, "deleted_entry_unreadable"])
                return
            message = f"damaged file entry: {exc}"
            if is_dir:
                self.errors.append(f"{path}: {message}")
            yield FileEntry(self.volume.index, path, 0, is_dir=is_dir, name_raw=hexraw,
                            warnings=warnings, extents=[], errors=[message])
            return
        is_dir = info.is_dir
        yield FileEntry(self.volume.index, path, 0 if is_dir else info.size, is_dir=is_dir,
                        modified=info.modified, created=info.created, accessed=info.accessed,
                        allocated=allocated, name_raw=hexraw, warnings=warnings,
                        extents=ranges, errors=[] if is_dir else errors, key=embedded)
        if is_dir and allocated:
            if (ref, lbn) in visited:
                self.errors.append(f"{path}: directory loop")
                return
            visited.add((ref, lbn))
            yield from self._walk(ref, lbn, path, depth + 1, visited)

    def read(self, entry: FileEntry, chunk: int = 1 << 20) -> Iterator[bytes]:
        data = entry.key if isinstance(entry.key, bytes) else b""  # embedded data, if any
        for pos in range(0, len(data), chunk):
            yield data[pos:pos + chunk]

