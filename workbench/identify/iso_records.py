"""ISO 9660 structures read straight from the image (ECMA-119): the volume descriptor set
and directory records. Nothing here raises for bad bytes: a bad descriptor or record is
reported as a problem and the reading goes on, so one broken entry never costs a volume."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

DESCRIPTORS_AT = 16  # sectors 0-15 are the system area
SECTOR = 2048
_MAX_DESCRIPTORS = 64
_JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")
MAX_DIRECTORY = 64 << 20  # a directory extent larger than this is not real

# directory record flags
HIDDEN, DIRECTORY, ASSOCIATED, MULTI_EXTENT = 0x01, 0x02, 0x04, 0x80

Read = Callable[[int, int], bytes]  # (byte position in the volume, count) -> bytes


@dataclass(slots=True)
class Record:
    """One directory record: extent (logical block), data length, flags, identifier, the
    7-byte recording date, the System Use area, and the interleave fields."""

    extent: int
    size: int
    flags: int
    name: bytes
    date: bytes
    system_use: bytes
    unit_size: int = 0
    gap: int = 0

    @property
    def is_dir(self) -> bool:
        return bool(self.flags & DIRECTORY)

    @property
    def is_special(self) -> bool:
        """The '.' and '..' records."""
        return self.name in (b"\x00", b"\x01")


@dataclass
class Descriptor:
    """A Primary (joliet False) or Joliet Supplementary volume descriptor."""

    joliet: bool
    block: int
    space: int  # volume space size in blocks
    root: Record
    label: bytes
    path_table: tuple[int, int]  # (L path table block, size in bytes)


@dataclass
class DescriptorSet:
    primary: Descriptor | None = None
    joliet: Descriptor | None = None
    problems: list[str] = field(default_factory=list)


def parse_record(data: bytes | memoryview, pos: int) -> Record | None:
    """The record at pos, or None when its length bytes do not make a record."""
    length = data[pos]
    if length < 34 or pos + length > len(data):
        return None
    name_len = data[pos + 32]
    if 33 + name_len > length:
        return None
    extent, size = struct.unpack_from("<I4xI", data, pos + 2)
    su_at = 33 + name_len + (0 if name_len % 2 else 1)  # a pad byte after an even name
    return Record(extent, size, data[pos + 25], bytes(data[pos + 33:pos + 33 + name_len]),
                  bytes(data[pos + 18:pos + 25]), bytes(data[pos + su_at:pos + length]),
                  data[pos + 26], data[pos + 27])


@lru_cache(maxsize=4096)  # a disc's records share few dates: each is worked out once
def record_date(raw: bytes) -> str | None:
    try:
        tz = timezone(timedelta(minutes=15 * struct.unpack("b", raw[6:7])[0]))
        return datetime(1900 + raw[0], raw[1], raw[2], raw[3], raw[4], raw[5],
                        tzinfo=tz).isoformat()
    except (ValueError, struct.error, IndexError):
        return None


def read_descriptors(read: Read, start: int) -> DescriptorSet:
    """The volume descriptor set of the session starting at block start (0: the disc)."""
    found = DescriptorSet()
    data = read((start + DESCRIPTORS_AT) * SECTOR, _MAX_DESCRIPTORS * SECTOR)
    for pos in range(0, len(data) - SECTOR + 1, SECTOR):
        sec = data[pos:pos + SECTOR]
        if sec[1:6] != b"CD001":
            if sec[1:6] in (b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2", b"CDW02"):
                continue  # a UDF bridge's descriptors follow the ISO set
            break
        if sec[0] == 255:
            break
        joliet = sec[0] == 2 and sec[88:91] in _JOLIET_ESCAPES
        if not (sec[0] == 1 or joliet):
            continue  # boot record, partition descriptor, other supplementary sets
        desc = _descriptor(sec, joliet)
        if desc is None:
            found.problems.append(f"{'Joliet' if joliet else 'primary'} volume descriptor "
                                  "unreadable")
        elif joliet and found.joliet is None:
            found.joliet = desc
        elif not joliet and found.primary is None:
            found.primary = desc
    return found


def _descriptor(sec: bytes, joliet: bool) -> Descriptor | None:
    root = parse_record(sec, 156)
    if root is None:
        return None
    block = struct.unpack_from("<H", sec, 128)[0]
    if block not in (512, 1024, 2048):
        block = SECTOR
    space = struct.unpack_from("<I", sec, 80)[0]
    table_size = struct.unpack_from("<I", sec, 132)[0]
    table_at = struct.unpack_from("<I", sec, 140)[0]
    if table_size != struct.unpack_from(">I", sec, 136)[0]:
        table_size = -1  # the two byte orders disagree
    return Descriptor(joliet, block, space, root, sec[40:72], (table_at, table_size))


def read_directory(read: Read, rec: Record, block: int) -> tuple[list[Record], list[str]]:
    """The records of a directory's extent, and what was wrong with it. Records never
    cross a block; a zero length byte ends the block's records."""
    problems: list[str] = []
    size = rec.size
    if size > MAX_DIRECTORY:
        problems.append(f"directory size {size} implausible; read {MAX_DIRECTORY}")
        size = MAX_DIRECTORY
    data = read(rec.extent * block, size)
    if len(data) < size:
        problems.append("directory lies beyond the end of the volume")
    records: list[Record] = []
    view = memoryview(data)
    for base in range(0, len(data), block):
        end = min(base + block, len(data))
        pos = base
        while pos < end and view[pos]:
            got = parse_record(view[:end], pos)
            if got is None:
                problems.append(f"bad directory record at byte {pos}")
                break
            if got.name:
                records.append(got)
            else:
                problems.append(f"directory record without a name at byte {pos}")
            pos += view[pos]
    if not records or records[0].name != b"\x00":
        problems.append("directory has no '.' record")
    return records, problems
