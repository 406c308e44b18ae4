"""UDF file entries (ECMA-167 4/14.9 and the extended file entry 4/14.17) and their
allocation descriptors: short, long (which may name another partition), extended, and
continuations in allocation extent descriptors. Extents not recorded or not allocated
read as zeros (ZERO extents), as UDF defines them."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from workbench.identify.model import ZERO
from workbench.identify.udf_descriptors import (
    FILE_TYPE_DIR,
    TAG_AED,
    TAG_EFE,
    TAG_FE,
    UdfError,
    descriptor,
    timestamp,
)

Ranges = list[tuple[int, int]]
# (partition reference, logical block, length) -> image byte ranges
MapRanges = Callable[[int, int, int], Ranges]
ReadBlock = Callable[[int, int], bytes]
_MAX_CONTINUATIONS = 4096


@dataclass
class FileInfo:
    file_type: int
    size: int
    modified: str | None
    created: str | None
    accessed: str | None
    alloc: int  # 0 short, 1 long, 2 extended, 3 data in the entry
    ads: bytes
    strategy: int

    @property
    def is_dir(self) -> bool:
        return self.file_type == FILE_TYPE_DIR


def parse_entry(fe: bytes, where: str) -> FileInfo:
    """A file entry or extended file entry whose tag and CRC are right."""
    tag = descriptor(fe, TAG_FE, TAG_EFE)
    times: tuple[bytes, bytes, bytes | None]
    if tag == TAG_FE:
        times, l_ea, l_ad, base = (fe[72:84], fe[84:96], None), *struct.unpack_from(
            "<II", fe, 168), 176
    elif tag == TAG_EFE:
        times, l_ea, l_ad, base = (fe[80:92], fe[92:104], fe[104:116]), *struct.unpack_from(
            "<II", fe, 208), 216
    else:
        raise UdfError(f"no valid file entry at {where}")
    if base + l_ea + l_ad > len(fe):
        raise UdfError(f"file entry at {where} is damaged (descriptor lengths)")
    return FileInfo(file_type=fe[27], size=struct.unpack_from("<Q", fe, 56)[0],
                    accessed=timestamp(times[0]), modified=timestamp(times[1]),
                    created=timestamp(times[2]) if times[2] else None,
                    alloc=struct.unpack_from("<H", fe, 34)[0] & 7,
                    ads=fe[base + l_ea:base + l_ea + l_ad],
                    strategy=struct.unpack_from("<H", fe, 20)[0])


def descriptors(info: FileInfo, ref: int, where: str, read_block: ReadBlock
                ) -> tuple[list[tuple[int, int, int, int]], list[str]]:
    """(extent type, partition reference, logical block, bytes) for the file's first
    `size` bytes, following continuations; and errors."""
    out: list[tuple[int, int, int, int]] = []
    errors: list[str] = []
    left, ads, hops = info.size, info.ads, 0
    step = (8, 16, 20)[info.alloc]
    while left > 0:
        follow = None
        for at in range(0, len(ads) - step + 1, step):
            raw_len = struct.unpack_from("<I", ads, at)[0]
            kind, length = raw_len >> 30, raw_len & 0x3FFFFFFF
            if length == 0:  # the end of the descriptors
                break
            if info.alloc == 0:
                lbn, part = struct.unpack_from("<I", ads, at + 4)[0], ref
            elif info.alloc == 1:
                lbn, part = struct.unpack_from("<IH", ads, at + 4)
            else:
                lbn, part = struct.unpack_from("<IH", ads, at + 12)
            if kind == 3:  # the descriptors go on in an allocation extent descriptor
                follow = (part, lbn)
                break
            n = min(length, left)
            out.append((kind, part, lbn, n))
            left -= n
            if left <= 0:
                break
        if follow is None or left <= 0:
            break
        hops += 1
        block = read_block(*follow)
        if hops > _MAX_CONTINUATIONS or descriptor(block, TAG_AED) != TAG_AED:
            errors.append(f"allocation extent descriptor missing or damaged (file at {where})")
            return out, errors
        ads = block[24:24 + struct.unpack_from("<I", block, 20)[0]]
    if left > 0:
        errors.append(f"allocation descriptors cover {info.size - left} of {info.size} "
                      f"bytes (file at {where})")
    return out, errors


def extents(info: FileInfo, ref: int, where: str, map_ranges: MapRanges,
            read_block: ReadBlock) -> tuple[Ranges | None, bytes, list[str]]:
    """(image extents or None, embedded data, errors) of a file's first `size` bytes."""
    if info.alloc == 3:
        if info.size > len(info.ads):
            return None, info.ads, [f"embedded data shorter than the file size at {where}"]
        return None, info.ads[:info.size], []
    if info.alloc not in (0, 1, 2):
        return [], b"", [f"unknown allocation descriptor type {info.alloc} at {where}"]
    ads, errors = descriptors(info, ref, where, read_block)
    out: Ranges = []
    for kind, part, lbn, n in ads:
        if kind == 0:
            try:
                out += map_ranges(part, lbn, n)
            except UdfError as exc:
                return _merge(out), b"", [*errors, f"{exc} (file at {where})"]
        else:  # allocated but not recorded, or not allocated: zeros
            out.append((ZERO, n))
    return _merge(out), b"", errors


def _merge(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for start, n in ranges:
        if out and start != ZERO and out[-1][0] != ZERO and out[-1][0] + out[-1][1] == start:
            out[-1] = (out[-1][0], out[-1][1] + n)
        elif out and start == ZERO and out[-1][0] == ZERO:
            out[-1] = (ZERO, out[-1][1] + n)
        else:
            out.append((start, n))
    return out
