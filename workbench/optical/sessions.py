"""The ISO 9660 volumes of a multi-session data disc, found in one image addressed by LBA.

Each data session starts with its own volume descriptor set at (session start + 16);
its directory extents are absolute LBAs, so a later session's tree can point at files
written by an earlier one. The volume space size is counted from the session's start
(genisoimage and libisofs write last extent - session start; isoinfo -T reads it so), so
a session's volume ends at start + volume space size.

With the TOC's data session starts, each start is read directly. Without a TOC (a plain
image file), session 1 is at LBA 0 and each later one is found by scanning past the
previous volume's end for a sector that opens with a Primary Volume Descriptor: the gap
between sessions holds nothing, and the sessions' own data is skipped, so an ISO image
stored as a file on the disc is never taken for a session.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SECTOR = 2048
DESCRIPTORS_AT = 16  # ECMA-119: sectors 0-15 are the system area
SCAN_CHUNK = 1 << 20
PVD_SIGNATURE = b"\x01CD001\x01"
_MAX_DESCRIPTORS = 32  # sectors read for one descriptor set: real ones hold 3 to 8
# what counts as a volume descriptor when a session's descriptor set is read (sectors
# until one is not)
_DESCRIPTOR_TYPES = (0, 1, 2, 255)
_DESCRIPTOR_IDS = (b"CD001", b"CDW02", b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2")
_JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")

Reader = Callable[[int, int], bytes]  # (byte position, byte count) -> bytes


@dataclass(frozen=True)
class SessionVolume:
    start_lba: int  # where the session starts; its descriptors are at start_lba + 16
    descriptor_lba: int  # the Primary Volume Descriptor's sector
    volume_end_lba: int  # start_lba + the PVD's volume space size: where the volume ends
    label: str
    has_joliet: bool
    descriptors: int  # sectors of the descriptor set from start_lba + 16
    udf_end_lba: int | None = None  # a UDF bridge's partition end, when the session has one


def descriptor_sectors(data: bytes) -> int:
    """How many whole sectors at the start of data are volume descriptors."""
    count = 0
    for pos in range(0, len(data) - SECTOR + 1, SECTOR):
        if data[pos] not in _DESCRIPTOR_TYPES or data[pos + 1:pos + 6] not in _DESCRIPTOR_IDS:
            break
        count += 1
    return count


def read_volume(read: Reader, start: int) -> SessionVolume | None:
    """The ISO 9660 volume whose descriptor set is at start + 16, or None when there is
    none (or it does not belong to a session starting there)."""
    first = start + DESCRIPTORS_AT
    data = read(first * SECTOR, _MAX_DESCRIPTORS * SECTOR)
    count = descriptor_sectors(data)
    pvd_at, joliet, udf = None, False, False
    for i in range(count):
        sec = data[i * SECTOR:(i + 1) * SECTOR]
        if sec[:7] == PVD_SIGNATURE and pvd_at is None:
            pvd_at = i
        elif sec[0] == 2 and sec[1:6] == b"CD001" and sec[88:91] in _JOLIET_ESCAPES:
            joliet = True
        elif sec[1:6] in (b"NSR02", b"NSR03"):
            udf = True
    if pvd_at is None:
        return None
    pvd = data[pvd_at * SECTOR:(pvd_at + 1) * SECTOR]
    space = struct.unpack_from("<I", pvd, 80)[0]
    block = struct.unpack_from("<H", pvd, 128)[0]
    root = struct.unpack_from("<I", pvd, 156 + 2)[0]
    end = start + space
    # the root directory lies inside this session's volume, past its descriptors: a set
    # whose root points elsewhere was written for another address (a stored image)
    if block != SECTOR or not first + count <= root < end:
        return None
    label = pvd[40:72].decode("latin-1").strip(" \0")
    return SessionVolume(start, first + pvd_at, end, label, joliet, count,
                         _udf_end(read, start) if udf else None)


def _udf_end(read: Reader, start: int) -> int | None:
    """The end of a UDF bridge's partition (its Partition Descriptor's start + length),
    found through the Anchor Volume Descriptor Pointer at session start + 256."""
    anchor = read((start + 256) * SECTOR, SECTOR)
    if len(anchor) < 24 or struct.unpack_from("<H", anchor, 0)[0] != 2:
        return None
    length, location = struct.unpack_from("<II", anchor, 16)
    sequence = read(location * SECTOR, min(length, 64 * SECTOR))
    end = None
    for pos in range(0, len(sequence) - SECTOR + 1, SECTOR):
        tag = struct.unpack_from("<H", sequence, pos)[0]
        if tag == 5:  # Partition Descriptor
            p_start, p_length = struct.unpack_from("<II", sequence, pos + 188)
            end = max(end or 0, p_start + p_length)
        elif tag == 8:  # Terminating Descriptor
            break
    return end


def _pvd_sectors(read: Reader, size: int, from_lba: int) -> Iterator[int]:
    """Sectors at or after from_lba that open with a PVD signature, read a MiB at a time."""
    pos = from_lba * SECTOR
    while pos < size:
        chunk = read(pos, SCAN_CHUNK)
        if not chunk:
            return
        hit = chunk.find(PVD_SIGNATURE)
        while hit >= 0:
            if hit % SECTOR == 0:  # chunks start on a sector, so this is a sector's start
                yield (pos + hit) // SECTOR
            hit = chunk.find(PVD_SIGNATURE, hit + 1)
        pos += len(chunk)


def _session_start(read: Reader, pvd_lba: int, floor: int) -> int:
    """The session start for a PVD found by scanning: 16 sectors before its descriptor set,
    which may open with other descriptors (a boot record) before the PVD."""
    before = max(floor + DESCRIPTORS_AT, pvd_lba - 8)
    data = read(before * SECTOR, (pvd_lba - before) * SECTOR)
    lead = 0
    for pos in range(len(data) - SECTOR, -1, -SECTOR):
        if descriptor_sectors(data[pos:pos + SECTOR]) == 0:
            break
        lead += 1
    return pvd_lba - lead - DESCRIPTORS_AT


def find_sessions(read: Reader, size: int, starts: list[int] | None = None
                  ) -> list[SessionVolume]:
    """The ISO 9660 volumes of an image, oldest session first. starts: the data sessions'
    start LBAs from a TOC; without them session 1 is at LBA 0 (none found there: no
    volumes) and later ones are scanned for."""
    if starts is not None:
        listed = (read_volume(read, s) for s in sorted(set(starts)))
        return [v for v in listed if v is not None]
    first = read_volume(read, 0)
    if first is None:
        return []
    volumes = [first]
    while True:
        floor = volumes[-1].volume_end_lba
        found = next(_later_volumes(read, size, floor), None)
        if found is None:
            return volumes
        volumes.append(found)


def _later_volumes(read: Reader, size: int, floor: int) -> Iterator[SessionVolume]:
    """Volumes whose session starts at or after floor, as the scan meets them."""
    for pvd_lba in _pvd_sectors(read, size, floor + DESCRIPTORS_AT):
        volume = read_volume(read, _session_start(read, pvd_lba, floor))
        if volume is not None and volume.descriptor_lba == pvd_lba:
            yield volume


def declared_end(volumes: list[SessionVolume]) -> int:
    """The byte end of the largest volume any session declares (ISO 9660 and a UDF
    bridge; isolyzer's rule: the largest wins), or 0 when there are none."""
    ends = [max(v.volume_end_lba, v.udf_end_lba or 0) for v in volumes]
    return max(ends, default=0) * SECTOR
