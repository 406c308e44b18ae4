"""Partition tables (MBR, GPT, Apple Partition Map) and file-system recognition.

Only signatures are read here; the readers do the rest. Every number read from the
image is bounds-checked: a corrupt table gives errors, never an exception.
"""

from __future__ import annotations

import struct
import uuid

from workbench.identify.model import Image, Volume

_GPT_NAMES = {
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "48465300-0000-11aa-aa11-00306543ecac": "Apple HFS+",
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI system",
}
_MAX_PARTITIONS = 128


def sniff(image: Image, offset: int) -> str:
    """The file system at offset, or "" when none is recognised."""
    boot = image.read(offset, 4096)
    if len(boot) < 512:
        return ""
    if boot[3:11] == b"NTFS    ":
        return "ntfs"
    if boot[3:11] == b"EXFAT   ":
        return "exfat"
    fat = fat_type(boot)
    if fat:
        return fat
    if len(boot) >= 1082 and boot[1080:1082] == b"\x53\xef":
        return "ext"
    if len(boot) >= 1026:
        if boot[1024:1026] == b"BD":
            return "hfs"
        if boot[1024:1026] in (b"H+", b"HX"):
            return "hfsplus"
    vrs = image.read(offset + 32768, 2048 * 8)
    ids = {vrs[i + 1:i + 6] for i in range(0, len(vrs) - 6, 2048)}
    if b"NSR02" in ids or b"NSR03" in ids:
        return "iso9660+udf" if b"CD001" in ids else "udf"
    if b"CD001" in ids:
        return "iso9660"
    return ""


def fat_type(boot: bytes) -> str:
    """FAT12/16/32 from a boot sector's BPB, decided by the cluster count (as the spec
    says), or "" when the BPB is not plausible."""
    if len(boot) < 512 or boot[0] not in (0xEB, 0xE9):
        return ""
    bps, spc, reserved, nfats, root_entries, total16, _media, fat16 = struct.unpack_from(
        "<HBHBHHBH", boot, 11)
    total32, fat32 = struct.unpack_from("<I", boot, 32)[0], struct.unpack_from("<I", boot, 36)[0]
    if bps not in (512, 1024, 2048, 4096) or spc == 0 or spc & (spc - 1) or reserved == 0 \
            or nfats not in (1, 2):
        return ""
    fat_sectors = fat16 or fat32
    total = total16 or total32
    root_sectors = (root_entries * 32 + bps - 1) // bps
    data = total - reserved - nfats * fat_sectors - root_sectors
    if fat_sectors == 0 or total == 0 or data <= 0:
        return ""
    clusters = data // spc
    return "fat12" if clusters < 4085 else "fat16" if clusters < 65525 else "fat32"


def _mbr(image: Image, errors: list[str]) -> list[Volume] | None:
    sector = image.read(0, 512)
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return None
    entries = [struct.unpack_from("<B3sB3sII", sector, 446 + 16 * i) for i in range(4)]
    if any(e[0] not in (0, 0x80) for e in entries) or not any(e[2] for e in entries):
        return None
    if any(e[2] == 0xEE for e in entries):
        return None  # protective MBR: GPT follows
    volumes: list[Volume] = []

    def add(ptype: int, lba: int, count: int) -> None:
        start, size = lba * 512, count * 512
        if start + size > image.size or count == 0:
            errors.append(f"partition {len(volumes) + 1} ({ptype:#04x}) lies outside the image")
            size = max(0, min(size, image.size - start))
        volumes.append(Volume(len(volumes), start, size, "mbr", f"{ptype:#04x}"))

    for _status, _chs1, ptype, _chs2, lba, count in entries:
        if ptype in (0x05, 0x0F, 0x85):  # extended: follow the chain of EBRs
            ebr_lba, seen = lba, set()
            while ebr_lba and ebr_lba not in seen and len(volumes) < _MAX_PARTITIONS:
                seen.add(ebr_lba)
                ebr = image.read((ebr_lba) * 512, 512)
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


def _gpt(image: Image, errors: list[str]) -> list[Volume] | None:
    header = image.read(512, 512)
    if header[:8] != b"EFI PART":
        return None
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    if entry_size < 128 or count > 1024:
        errors.append("GPT header is damaged")
        return []
    table = image.read(entries_lba * 512, count * entry_size)
    volumes: list[Volume] = []
    for i in range(min(count, len(table) // entry_size)):
        entry = table[i * entry_size:(i + 1) * entry_size]
        type_guid = str(uuid.UUID(bytes_le=entry[:16]))
        if entry[:16] == bytes(16):
            continue
        first, last = struct.unpack_from("<QQ", entry, 32)
        if last < first or (last + 1) * 512 > image.size:
            errors.append(f"GPT partition {i + 1} lies outside the image")
            continue
        name = entry[56:128].decode("utf-16-le", errors="replace").rstrip("\0")
        volumes.append(Volume(len(volumes), first * 512, (last - first + 1) * 512, "gpt",
                              _GPT_NAMES.get(type_guid, type_guid), label=name))
    return volumes


def _apm(image: Image, errors: list[str]) -> list[Volume] | None:
    block0 = image.read(0, 512)
    if block0[:2] != b"ER":
        return None
    block_size = struct.unpack_from(">H", block0, 2)[0] or 512
    first = image.read(block_size, 512)
    if first[:2] != b"PM":
        return None
    count = min(struct.unpack_from(">I", first, 4)[0], _MAX_PARTITIONS)
    volumes: list[Volume] = []
    for i in range(count):
        entry = image.read((i + 1) * block_size, 512)
        if entry[:2] != b"PM":
            errors.append(f"Apple partition map entry {i + 1} is damaged")
            break
        start, blocks = struct.unpack_from(">II", entry, 8)
        ptype = entry[48:80].split(b"\0")[0].decode("ascii", "replace")
        if ptype in ("Apple_partition_map", "Apple_Free", "Apple_Driver43", "Apple_Driver"):
            continue
        name = entry[16:48].split(b"\0")[0].decode("mac_roman", "replace")
        offset, size = start * block_size, blocks * block_size
        if offset + size > image.size:
            errors.append(f"Apple partition {i + 1} lies outside the image")
            size = max(0, image.size - offset)
        volumes.append(Volume(len(volumes), offset, size, "apm", ptype, label=name))
    return volumes


def find_volumes(image: Image, sessions: list[int] | None = None
                 ) -> tuple[list[Volume], list[str]]:
    """The image's volumes, each with the file system recognised (or not), and errors.
    sessions: a disc's data session start LBAs from its TOC; without them a disc image's
    later sessions are scanned for."""
    errors: list[str] = []
    whole = sniff(image, 0)
    iso = _iso_sessions(image, sessions) if whole.startswith("iso9660") or sessions else []
    if iso:
        volume = Volume(0, 0, image.size, "none", fs_type=whole or "iso9660")
        volume.sessions = iso if len(iso) > 1 or iso[0] else []
        return [volume], errors
    volumes = None
    if not whole or whole in ("hfs", "hfsplus"):  # APM disks can look like HFS at 1024
        volumes = _gpt(image, errors) or _apm(image, errors) or _mbr(image, errors)
    if not volumes:
        volumes = [Volume(0, 0, image.size, "none")]
    for v in volumes:
        v.fs_type = whole if v.scheme == "none" else sniff(image, v.offset)
    return volumes, errors


def _iso_sessions(image: Image, starts: list[int] | None) -> list[int]:
    """The start LBAs of the image's ISO 9660 sessions, oldest first."""
    from workbench.optical.sessions import find_sessions

    return [v.start_lba for v in find_sessions(image.read, image.size, starts)]
