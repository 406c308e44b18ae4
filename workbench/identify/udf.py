"""UDF reader for UDF-only discs (pycdlib reads bridge discs through their ISO side).

Reads the anchor, the volume descriptors, the file set descriptor, file entries and file
identifier descriptors (ECMA-167 / OSTA UDF), for physical (type 1) partition maps. Data
extents become image extents; embedded data is read from the file entry. Metadata,
virtual and sparable partitions (UDF 2.50+ metadata, packet-written CD-RW) are reported
as unsupported. Every offset is bounds-checked against the volume.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

from workbench.identify.model import FileEntry, Image, Volume, decode_name, named, walk_guard

TAG_ANCHOR, TAG_PARTITION, TAG_LVD, TAG_TERMINATOR = 2, 5, 6, 8
TAG_FSD, TAG_FID, TAG_FE, TAG_EFE = 256, 257, 261, 266
SECTOR = 2048
_MAX_DIR = 16 << 20


class UdfError(ValueError):
    pass


def _timestamp(raw: bytes) -> str | None:
    if len(raw) < 12:
        return None
    tz_type, year, month, day, hour, minute, second = struct.unpack_from("<HHBBBBB", raw)
    offset = tz_type & 0x0FFF
    offset = offset - 0x1000 if offset & 0x0800 else offset
    tz = timezone(timedelta(minutes=offset)) if -1440 <= offset <= 1440 else UTC
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=tz).isoformat()
    except ValueError:
        return None


def _dstring_name(raw: bytes) -> tuple[str, bytes, bool]:
    """A file identifier: compression id 8 (one byte a character) or 16 (UTF-16BE)."""
    if not raw:
        return "", raw, True
    body = raw[1:]
    if raw[0] == 16:
        text, clean = decode_name(body, "utf-16-be")
    elif raw[0] == 8:
        text, clean = decode_name(body, "latin-1")
    else:
        text, clean = decode_name(body, "latin-1")
        clean = False
    return text, body, clean


class UdfReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        self.image, self.volume, self.deadline = image, volume, deadline
        self.errors: list[str] = []
        self.kind = "udf"
        self.sector = SECTOR
        anchor = self._find_anchor()
        vds_length, vds_location = struct.unpack_from("<II", anchor, 16)
        partitions: dict[int, int] = {}
        lvd = None
        for n in range(min(vds_length // self.sector, 64)):
            desc = self._sector(vds_location + n)
            tag = self._tag(desc)
            if tag == TAG_TERMINATOR:
                break
            if tag == TAG_PARTITION:
                number = struct.unpack_from("<H", desc, 22)[0]
                partitions[number] = struct.unpack_from("<I", desc, 188)[0]
            elif tag == TAG_LVD:
                lvd = desc
        if lvd is None or not partitions:
            raise UdfError("UDF volume descriptors are missing or damaged")
        self.block = struct.unpack_from("<I", lvd, 212)[0]
        if self.block not in (512, 1024, 2048, 4096):
            raise UdfError(f"UDF logical block size {self.block} is not valid")
        label = lvd[84:212]
        length = label[-1] if label else 0
        self.label = _dstring_name(label[:max(0, min(length, 127))])[0].strip()
        map_length, map_count = struct.unpack_from("<II", lvd, 264)
        maps = lvd[440:440 + min(map_length, len(lvd) - 440)]
        self.partition_starts: list[int] = []
        pos = 0
        for _ in range(min(map_count, 8)):
            if pos + 2 > len(maps):
                break
            kind, size = maps[pos], maps[pos + 1]
            if kind == 1 and size == 6:
                number = struct.unpack_from("<H", maps, pos + 4)[0]
                if number not in partitions:
                    raise UdfError(f"UDF partition {number} is not described")
                self.partition_starts.append(partitions[number])
            else:
                raise UdfError("UDF metadata, virtual or sparable partitions are not supported")
            pos += max(size, 2)
        if not self.partition_starts:
            raise UdfError("UDF has no usable partition map")
        fsd_lbn, fsd_ref = struct.unpack_from("<IH", lvd, 252)
        fsd = self._block(fsd_ref, fsd_lbn)
        if self._tag(fsd) != TAG_FSD:
            raise UdfError("UDF file set descriptor not found")
        self.root = self._long_ad(fsd, 400)

    # -- low level --------------------------------------------------------------------
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
                if self._tag(desc) == TAG_ANCHOR:
                    return desc
        raise UdfError("UDF anchor volume descriptor pointer not found")

    @staticmethod
    def _tag(desc: bytes) -> int:
        if len(desc) < 16:
            return -1
        checksum = sum(desc[:4]) + sum(desc[5:16])
        if checksum & 0xFF != desc[4]:
            return -1
        return struct.unpack_from("<H", desc)[0]

    def _offset(self, ref: int, lbn: int) -> int:
        if ref >= len(self.partition_starts):
            raise UdfError(f"partition reference {ref} is not mapped")
        return self.volume.offset + self.partition_starts[ref] * self.sector + lbn * self.block

    def _block(self, ref: int, lbn: int, size: int | None = None) -> bytes:
        off = self._offset(ref, lbn)
        size = size or self.block
        if off + size > self.volume.offset + self.volume.size:
            return b""
        return self.image.read(off, size)

    @staticmethod
    def _long_ad(data: bytes, at: int) -> tuple[int, int, int]:
        length, lbn, ref = struct.unpack_from("<IIH", data, at)
        return length & 0x3FFFFFFF, lbn, ref

    # -- files ------------------------------------------------------------------------
    def _file_entry(self, icb: tuple[int, int, int]
                    ) -> tuple[bool, int, str | None, list[tuple[int, int]] | None, bytes]:
        """(is_dir, size, modified, extents, embedded data) of the entry at icb."""
        _, lbn, ref = icb
        fe = self._block(ref, lbn)
        tag = self._tag(fe)
        if tag == TAG_FE:
            mtime, l_ea, l_ad, base = fe[84:96], *struct.unpack_from("<II", fe, 168), 176
        elif tag == TAG_EFE:
            mtime, l_ea, l_ad, base = fe[92:104], *struct.unpack_from("<II", fe, 208), 216
        else:
            raise UdfError(f"no file entry at block {lbn}")
        file_type = fe[27]
        alloc = struct.unpack_from("<H", fe, 34)[0] & 7
        size = struct.unpack_from("<Q", fe, 56)[0]
        ads = fe[base + l_ea:base + l_ea + l_ad]
        if base + l_ea + l_ad > len(fe):
            raise UdfError(f"file entry at block {lbn} is damaged")
        if alloc == 3:
            return file_type == 4, min(size, len(ads)), _timestamp(mtime), None, ads[:size]
        extents: list[tuple[int, int]] = []
        step = 8 if alloc == 0 else 16
        if alloc not in (0, 1):
            raise UdfError(f"unsupported allocation descriptors at block {lbn}")
        left = size
        for at in range(0, len(ads) - step + 1, step):
            raw_len, pos = struct.unpack_from("<II", ads, at)
            kind, length = raw_len >> 30, raw_len & 0x3FFFFFFF
            part = ref if alloc == 0 else struct.unpack_from("<H", ads, at + 8)[0]
            if length == 0 or left <= 0:
                break
            if kind == 3:
                raise UdfError("continued allocation descriptors are not supported")
            n = min(length, left)
            if kind == 0:
                extents.append((self._offset(part, pos), n))
            left -= n
        return file_type == 4, size, _timestamp(mtime), extents, b""

    def walk(self) -> Iterator[FileEntry]:
        yield from self._walk(self.root, "", 0, {self.root[1:]})

    def _walk(self, icb: tuple[int, int, int], parent: str, depth: int,
              visited: set[tuple[int, int]]) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        _, _, _, extents, embedded = self._file_entry(icb)
        parts, total = [embedded], 0
        for off, n in extents or []:  # a damaged entry may claim any size: cap as we read
            take = min(n, _MAX_DIR - total)
            if take <= 0:
                break
            parts.append(self.image.read(off, take))
            total += take
        data = b"".join(parts)
        pos = 0
        while pos + 38 <= len(data):
            if self._tag(data[pos:pos + 16]) != TAG_FID:
                self.errors.append(f"{parent or '/'}: damaged directory entry")
                break
            chars, l_fi = data[pos + 18], data[pos + 19]
            child = self._long_ad(data, pos + 20)
            l_iu = struct.unpack_from("<H", data, pos + 36)[0]
            ident = data[pos + 38 + l_iu:pos + 38 + l_iu + l_fi]
            pos += (38 + l_iu + l_fi + 3) & ~3
            if chars & 0x08:  # the parent entry
                continue
            yield from self._child(child, chars, ident, parent, depth, visited)

    def _child(self, icb: tuple[int, int, int], chars: int, ident: bytes, parent: str,
               depth: int, visited: set[tuple[int, int]]) -> Iterator[FileEntry]:
        path, hexraw, warnings = named(parent, *_dstring_name(ident))
        try:
            is_dir, size, modified, extents, embedded = self._file_entry(icb)
        except (UdfError, struct.error) as exc:
            self.errors.append(f"{path}: {exc}")
            return
        entry = FileEntry(self.volume.index, path, 0 if is_dir else size, is_dir=is_dir,
                          modified=modified, allocated=not chars & 0x04, name_raw=hexraw,
                          warnings=warnings, extents=extents, key=embedded)
        yield entry
        if is_dir:
            if icb[1:] in visited:
                self.errors.append(f"{path}: directory loop")
                return
            visited.add(icb[1:])
            yield from self._walk(icb, path, depth + 1, visited)

    def read(self, entry: FileEntry, chunk: int = 1 << 20) -> Iterator[bytes]:
        data = entry.key if isinstance(entry.key, bytes) else b""  # embedded data, if any
        for pos in range(0, len(data), chunk):
            yield data[pos:pos + chunk]
