"""PC partition tables: MBR (with extended partitions, on 512-, 1024-, 2048- and
4096-byte sectors), GPT and the Apple Partition Map.

An MBR does not say how large its sectors are: an MO disk of 640 MB or more has
2048-byte sectors and its LBAs count those. Every sector size is tried and the one whose
partitions start on recognised file systems wins (512 when none do), as a person would
check by hand. Every number read is bounds-checked: a corrupt table gives errors, never
an exception.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable

from workbench.identify.model import Image, Volume

_GPT_NAMES = {
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "48465300-0000-11aa-aa11-00306543ecac": "Apple HFS+",
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI system",
}
MAX_PARTITIONS = 128
SECTOR_SIZES = (512, 2048, 1024, 4096)
Sniff = Callable[[Image, int, int], str]


def mbr_entries(sector: bytes) -> list[tuple[int, int, int, int]] | None:
    """(status, type, lba, count) of the four primary entries, or None when sector 0 is
    not an MBR (signature, status bytes, at least one used entry)."""
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return None
    entries = [struct.unpack_from("<B3sB3sII", sector, 446 + 16 * i) for i in range(4)]
    if any(e[0] not in (0, 0x80) for e in entries) or not any(e[2] for e in entries):
        return None
    return [(e[0], e[2], e[4], e[5]) for e in entries]


def _mbr_at(image: Image, entries: list[tuple[int, int, int, int]], ss: int,
            errors: list[str]) -> list[Volume]:
    volumes: list[Volume] = []

    def add(ptype: int, lba: int, count: int) -> None:
        start, size = lba * ss, count * ss
        if start + size > image.size or count == 0:
            errors.append(f"partition {len(volumes) + 1} ({ptype:#04x}) lies outside the image")
            size = max(0, min(size, image.size - start))
        volumes.append(Volume(len(volumes), start, size, "mbr", f"{ptype:#04x}",
                              sector_size=ss))

    for _status, ptype, lba, count in entries:
        if ptype in (0x05, 0x0F, 0x85):  # extended: follow the chain of EBRs
            ebr_lba, seen = lba, set()
            while ebr_lba and ebr_lba not in seen and len(volumes) < MAX_PARTITIONS:
                seen.add(ebr_lba)
                ebr = image.read(ebr_lba * ss, 512)
                if len(ebr) < 512 or ebr[510:512] != b"\x55\xaa":
                    errors.append(f"extended partition table at sector {ebr_lba} is damaged")
                    break
                _, _, t1, _, l1, c1 = struct.unpack_from("<B3sB3sII", ebr, 446)
                _, _, t2, _, l2, _ = struct.unpack_from("<B3sB3sII", ebr, 462)
                if t1:
                    add(t1, ebr_lba + l1, c1)
                ebr_lba = lba + l2 if t2 else 0
        elif ptype:
            add(ptype, lba, count)
    return volumes


def mbr(image: Image, errors: list[str], sniff: Sniff) -> list[Volume] | None:
    entries = mbr_entries(image.read(0, 512))
    if entries is None or any(e[1] == 0xEE for e in entries):
        return None  # not an MBR, or a protective MBR (GPT follows)
    best: tuple[int, list[Volume], list[str]] | None = None
    for ss in SECTOR_SIZES:
        errs: list[str] = []
        volumes = _mbr_at(image, entries, ss, errs)
        for v in volumes:
            v.fs_type = sniff(image, v.offset, v.size)
        found = sum(1 for v in volumes if v.fs_type)
        if best is None or found > best[0]:
            best = (found, volumes, errs)
    assert best is not None
    errors.extend(best[2])
    return best[1]


def gpt(image: Image, errors: list[str]) -> list[Volume] | None:
    for ss in (512, 4096, 2048):
        header = image.read(ss, 512)
        if header[:8] == b"EFI PART":
            break
    else:
        return None
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    if entry_size < 128 or count > 1024:
        errors.append("GPT header is damaged")
        return []
    table = image.read(entries_lba * ss, count * entry_size)
    volumes: list[Volume] = []
    for i in range(min(count, len(table) // entry_size)):
        entry = table[i * entry_size:(i + 1) * entry_size]
        type_guid = str(uuid.UUID(bytes_le=entry[:16]))
        if entry[:16] == bytes(16):
            continue
        first, last = struct.unpack_from("<QQ", entry, 32)
        if last < first or (last + 1) * ss > image.size:
            errors.append(f"GPT partition {i + 1} lies outside the image")
            continue
        name = entry[56:128].decode("utf-16-le", errors="replace").split("\0")[0]
        volumes.append(Volume(len(volumes), first * ss, (last - first + 1) * ss, "gpt",
                              _GPT_NAMES.get(type_guid, type_guid), partition_label=name,
                              sector_size=ss))
    return volumes


def apm(image: Image, errors: list[str], base: int = 0) -> list[Volume] | None:
    """An Apple Partition Map at base (0 on a disk; also found in the system area of
    ISO 9660 / HFS hybrid discs)."""
    block0 = image.read(base, 512)
    if block0[:2] != b"ER":
        return None
    block_size = struct.unpack_from(">H", block0, 2)[0] or 512
    if block_size not in (512, 1024, 2048, 4096):
        block_size = 512
    first = image.read(base + block_size, 512)
    if first[:2] != b"PM" and block_size != 512:
        block_size = 512  # hybrid discs: 2048 in block 0, entries every 512 bytes
        first = image.read(base + block_size, 512)
    if first[:2] != b"PM":
        return None
    count = min(struct.unpack_from(">I", first, 4)[0], MAX_PARTITIONS)
    volumes: list[Volume] = []
    for i in range(count):
        entry = image.read(base + (i + 1) * block_size, 512)
        if entry[:2] != b"PM":
            errors.append(f"Apple partition map entry {i + 1} is damaged")
            break
        start, blocks = struct.unpack_from(">II", entry, 8)
        ptype = entry[48:80].split(b"\0")[0].decode("ascii", "replace")
        if ptype in ("Apple_partition_map", "Apple_Free", "Apple_Driver43", "Apple_Driver",
                     "Apple_Void"):
            continue
        name = entry[16:48].split(b"\0")[0].decode("mac_roman", "replace")
        offset, size = base + start * block_size, blocks * block_size
        if offset + size > image.size:
            errors.append(f"Apple partition {i + 1} lies outside the image")
            size = max(0, image.size - offset)
        volumes.append(Volume(len(volumes), offset, size, "apm", ptype,
                              partition_label=name, sector_size=block_size))
    return volumes
