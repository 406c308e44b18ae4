"""Boot records of a carrier: what a machine would do with it at power-on.

    boot_records(image, volumes) -> [{"kind": ..., "platform": ..., "bootable": ...}, ...]

Read here (a few sectors each, bounds-checked): the disk's first sector (PC-98 IPL with
"IPL1" at offset 4 and its partition table in sector 1, an MBR, an X68000 SCSI disk
"X68SCSI1" with its "X68K" table, a Human68k floppy boot sector, x86 IPL code on a
PC-98 1.23M 2HD floppy without a DOS BPB), each FAT or NTFS volume's boot
sector (BPB, OEM name, the system files its code loads), each HFS/HFS+ volume's boot
blocks ("LK") and blessed System Folder, and each ISO 9660 volume's El Torito boot
catalog. `bootable` is True, False, or None when boot code is there but whether it finds
a system is decided later from the files (emulation.py).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Protocol

from workbench.identify.model import Image
from workbench.identify.volumes import fat_type

SECTOR = 2048
# Names the boot code of a DOS-family boot sector loads, found as 8.3 directory names
_LOADERS = {b"IO      SYS": "MS-DOS", b"IBMBIO  COM": "PC DOS", b"KERNEL  SYS": "FreeDOS",
            b"WINBOOT SYS": "Windows 95", b"NTLDR": "Windows NT", b"BOOTMGR": "Windows Vista+",
            b"LDLINUX": "SYSLINUX"}
# What a boot sector's code loads -> the root files that must be there for it to boot
NEEDS = {"MS-DOS": ("IO.SYS",), "PC DOS": ("IBMBIO.COM",), "FreeDOS": ("KERNEL.SYS",),
         "Windows 95": ("WINBOOT.SYS", "IO.SYS"), "Windows NT": ("NTLDR",),
         "Windows Vista+": ("BOOTMGR",), "SYSLINUX": ("LDLINUX.SYS", "LDLINUX.C32")}
_NOT_BOOTABLE = (b"This is not a bootable disk", b"Non-system disk")
_HUMAN68K_OEMS = (b"Hudson soft", b"X68IPL", b"SHARP/KG", b"Hero Soft", b"SHARP")
_TORITO_PLATFORM = {0: "pc", 1: "macppc", 2: "mac", 0xEF: "efi"}
_TORITO_MEDIA = {0: "no emulation", 1: "1.2M floppy", 2: "1.44M floppy",
                 3: "2.88M floppy", 4: "hard disk"}
PC98_2HD = 1_261_568  # 77 cylinders x 2 heads x 8 sectors x 1024 bytes


class VolumeLike(Protocol):
    index: int
    offset: int
    size: int
    fs_type: str


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("cp932", errors="replace").strip()


def boot_records(image: Image, volumes: Sequence[VolumeLike]) -> list[dict[str, Any]]:
    first = image.read(0, 4096)
    records = _disk(image, first)
    for v in volumes:
        try:
            if v.fs_type.startswith("fat"):
                records.append(fat_boot(image.read(v.offset, 4096), v.index, v.offset))
            elif v.fs_type == "ntfs":
                records.append(_ntfs(image.read(v.offset, 512), v))
            elif v.fs_type in ("hfs", "hfsplus"):
                records.append(_mac(image.read(v.offset, 2048), v))
            elif v.fs_type.startswith("iso9660"):
                records += _el_torito(image, v)
        except (struct.error, IndexError, ValueError) as exc:  # a broken record, not a crash
            records.append({"kind": "unreadable", "volume": v.index, "offset": v.offset,
                            "platform": "", "bootable": None, "error": str(exc)})
    on_disk = records[0]["platform"] if records and records[0]["kind"] in (
        "pc98-ipl", "x68000-scsi") else ""
    for r in records[1:]:  # a partition's boot sector runs on the disk's machine
        if on_disk and r["kind"] == "fat-boot-sector":
            r["platform"] = on_disk
    return [r for r in records if r]


def _disk(image: Image, first: bytes) -> list[dict[str, Any]]:
    if len(first) < 512:
        return []
    if first[:8] == b"X68SCSI1":
        table = image.read(0x800, 256)
        names = [_text(table[i:i + 8]) for i in range(16, 256, 16)
                 if table[:4] == b"X68K" and table[i:i + 8].strip(b"\0 ")]
        return [{"kind": "x68000-scsi", "volume": None, "offset": 0, "platform": "x68000",
                 "bootable": None, "partitions": names,
                 "evidence": "X68000 SCSI disk mark X68SCSI1 at byte 0"}]
    if first[4:8] == b"IPL1":
        return [_pc98_hdd(image, first)]
    human = _human68k(first, image.size)
    if human:
        return [human]
    if image.size == PC98_2HD and first[0] in (0xEB, 0xE9) and not fat_type(first):
        # x86 code on a 1024-byte-sector 2HD floppy without a DOS BPB: a PC-98 IPL
        return [{"kind": "pc98-floppy-ipl", "volume": None, "offset": 0, "platform": "pc98",
                 "bootable": None, "evidence": "x86 boot code on a 1.23M 2HD floppy "
                 "(1024-byte sectors) without a DOS BPB: a PC-98 IPL"}]
    if first[510:512] == b"\x55\xaa" and not fat_type(first) and \
            first[3:11] not in (b"NTFS    ", b"EXFAT   "):  # a volume boot record
        return [_mbr(first)]
    return []


def _pc98_hdd(image: Image, first: bytes) -> dict[str, Any]:
    parts = []
    for size in (512, 256, 1024):  # the table is sector 1, whatever a sector is here
        table = image.read(size, 16 * 32)
        found = []
        for i in range(0, len(table) - 31, 32):
            mid, sid = table[i], table[i + 1]
            if mid == 0 and sid == 0:
                continue
            found.append({"name": _text(table[i + 16:i + 32]), "bootable": bool(mid & 0x80),
                          "active": bool(sid & 0x80), "system": sid & 0x7F})
        if found and all(p["name"] or p["system"] for p in found):
            parts = found
            break
    return {"kind": "pc98-ipl", "volume": None, "offset": 0, "platform": "pc98",
            "bootable": True if any(p["bootable"] for p in parts) else None,
            "partitions": parts, "evidence": "NEC PC-98 fixed-disk IPL: IPL1 at byte 4"}


def _human68k(first: bytes, size: int) -> dict[str, Any] | None:
    if first[0] != 0x60:  # a 68000 BRA.S over the BPB
        return None
    oem = first[2:18]
    known = any(mark in oem for mark in _HUMAN68K_OEMS)
    bps = struct.unpack_from(">H", first, 0x12)[0]
    if not known and not (size == PC98_2HD and bps == 1024):
        return None
    return {"kind": "human68k-boot-sector", "volume": None, "offset": 0,
            "platform": "x68000", "bootable": None, "oem": _text(oem),
            "bytes_per_sector": bps,
            "evidence": f"68000 branch and Human68k BPB (OEM {_text(oem)!r})"}


def _mbr(first: bytes) -> dict[str, Any]:
    entries = [struct.unpack_from("<B3sB3sII", first, 446 + 16 * i) for i in range(4)]
    parts = [{"type": f"0x{e[2]:02x}", "active": e[0] == 0x80, "start": e[4]}
             for e in entries if e[2]]
    code = first[:440]
    loader = next((name for mark, name in ((b"GRUB", "GRUB"), (b"SYSLINUX", "SYSLINUX"),
                                           (b"ISOLINUX", "ISOLINUX"), (b"LILO", "LILO"),
                                           (b"Invalid partition table", "MS-DOS/Windows MBR"))
                   if mark in code), "")
    has_code = any(code)
    record: dict[str, Any] = {
        "kind": "mbr", "volume": None, "offset": 0, "platform": "pc",
        "partitions": parts, "boot_code": has_code, "loader": loader,
        "bootable": None if has_code and any(p["active"] for p in parts) else False,
        "evidence": "master boot record (0x55AA at byte 510)"}
    if not has_code:
        record["reason"] = "no boot code in the master boot record"
    elif not any(p["active"] for p in parts):
        record["reason"] = "no active partition"
    return record


def fat_boot(boot: bytes, volume: int | None, offset: int) -> dict[str, Any]:
    """A FAT boot sector: BPB, OEM name, what its code would load."""
    bps = struct.unpack_from("<H", boot, 11)[0]
    total = struct.unpack_from("<H", boot, 19)[0] or struct.unpack_from("<I", boot, 32)[0]
    spt, heads = struct.unpack_from("<HH", boot, 24)
    oem = _text(boot[3:11])
    size = bps * total
    record: dict[str, Any] = {
        "kind": "fat-boot-sector", "volume": volume, "offset": offset, "oem": oem,
        "bytes_per_sector": bps, "sectors_per_track": spt, "heads": heads,
        "media": f"0x{boot[21]:02x}", "signature": boot[510:512] == b"\x55\xaa"}
    fat32 = struct.unpack_from("<H", boot, 22)[0] == 0  # its BPB runs on to byte 90
    code = boot[90 if fat32 else 62:min(510, len(boot))]
    loads = [system for mark, system in _LOADERS.items() if mark in code]
    record["loads"] = loads
    pc98 = (bps == 1024 and spt == 8 and heads == 2) or oem.upper().startswith("NEC")
    record["platform"] = "pc98" if pc98 else "pc"
    record["geometry"] = "PC-98 2HD (1024-byte sectors)" if size == PC98_2HD and pc98 else ""
    if any(mark.lower() in code.lower() for mark in _NOT_BOOTABLE) and not loads:
        record.update(bootable=False, reason="the boot code only prints a non-system message")
    elif not record["signature"] and not pc98:
        record.update(bootable=False, reason="no 0x55AA boot signature")
    elif not any(code.strip(b"\0")):
        record.update(bootable=False, reason="no boot code")
    else:
        record["bootable"] = None  # decided by the system files in the root directory
    record["evidence"] = f"FAT boot sector, OEM {oem!r}"
    return record


def root_names(image: Image, offset: int, boot: bytes) -> set[str]:
    """The names in a FAT12/16 root directory ("IO.SYS"), read straight from the BPB: for
    the floppy image inside an El Torito CD, which no reader lists."""
    bps, _, reserved, nfats, entries = struct.unpack_from("<HBHBH", boot, 11)
    fat_sectors = struct.unpack_from("<H", boot, 22)[0]
    if not entries or not fat_sectors or bps not in (512, 1024, 2048):
        return set()
    data = image.read(offset + (reserved + nfats * fat_sectors) * bps, min(entries, 1024) * 32)
    names = set()
    for at in range(0, len(data) - 31, 32):
        entry = data[at:at + 32]
        if entry[0] == 0:
            break
        if entry[0] == 0xE5 or entry[11] & 0x18:  # deleted, a label or a directory
            continue
        base, ext = entry[:8].decode("cp932", "replace").rstrip(), \
            entry[8:11].decode("cp932", "replace").rstrip()
        names.add(f"{base}.{ext}" if ext else base)
    return names


def _ntfs(boot: bytes, v: VolumeLike) -> dict[str, Any]:
    loads = [system for mark, system in _LOADERS.items() if mark in boot[84:510]]
    record: dict[str, Any] = {"kind": "ntfs-boot-sector", "volume": v.index,
                              "offset": v.offset, "platform": "pc", "loads": loads,
                              "oem": _text(boot[3:11]), "bootable": None,
                              "evidence": "NTFS boot sector"}
    if any(mark.lower() in boot.lower() for mark in _NOT_BOOTABLE) and not loads:
        record.update(bootable=False, reason="the boot code only prints a non-system message")
    return record


def _mac(blocks: bytes, v: VolumeLike) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": "mac-boot-blocks", "volume": v.index,
                              "offset": v.offset, "platform": "mac",
                              "boot_blocks": blocks[:2] == b"LK"}
    if record["boot_blocks"]:
        record["system_file"] = _pascal(blocks, 10)
        record["shell"] = _pascal(blocks, 26)
    header = blocks[1024:1024 + 512]
    at = 0x5C if v.fs_type == "hfs" else 0x50  # drFndrInfo / finderInfo
    blessed = struct.unpack_from(">I", header, at)[0] if len(header) >= at + 4 else 0
    record["blessed_folder_id"] = blessed
    record["bootable"] = None if record["boot_blocks"] or blessed else False
    if record["bootable"] is False:
        record["reason"] = "no boot blocks and no blessed System Folder"
    record["evidence"] = ("HFS boot blocks (LK)" if record["boot_blocks"] else
                          "HFS volume without boot blocks") + \
        (f", blessed folder id {blessed}" if blessed else "")
    return record


def _pascal(data: bytes, at: int) -> str:
    n = min(data[at], 15)
    return data[at + 1:at + 1 + n].decode("mac_roman", errors="replace")


def _el_torito(image: Image, v: VolumeLike) -> list[dict[str, Any]]:
    catalog_lba = None
    for n in range(16, 48):
        desc = image.read(v.offset + n * SECTOR, SECTOR)
        if len(desc) < SECTOR or desc[1:6] != b"CD001":
            break
        if desc[0] == 255:
            break
        if desc[0] == 0 and desc[7:30] == b"EL TORITO SPECIFICATION":
            catalog_lba = struct.unpack_from("<I", desc, 0x47)[0]
            break
    if catalog_lba is None:
        return [{"kind": "el-torito", "volume": v.index, "offset": v.offset, "platform": "",
                 "bootable": False, "reason": "no El Torito boot record",
                 "evidence": "ISO 9660 without a boot record volume descriptor"}]
    catalog = image.read(v.offset + catalog_lba * SECTOR, SECTOR)
    words = struct.unpack_from("<16H", catalog, 0) if len(catalog) >= 32 else ()
    if not words or catalog[0] != 1 or catalog[30:32] != b"\x55\xaa" or sum(words) & 0xFFFF:
        return [{"kind": "el-torito", "volume": v.index, "offset": v.offset, "platform": "",
                 "bootable": None, "catalog_lba": catalog_lba,
                 "error": "boot catalog validation entry invalid",
                 "evidence": "El Torito boot record, catalog unreadable"}]
    platform = catalog[1]
    out = [_torito_entry(image, v, catalog[32:64], platform, catalog_lba, "default")]
    pos = 64
    while pos + 32 <= len(catalog) and catalog[pos] in (0x90, 0x91):
        platform, count = catalog[pos + 1], struct.unpack_from("<H", catalog, pos + 2)[0]
        final, pos = catalog[pos] == 0x91, pos + 32
        for _ in range(count):
            if pos + 32 > len(catalog):
                break
            if catalog[pos] in (0x88, 0x00):
                out.append(_torito_entry(image, v, catalog[pos:pos + 32], platform,
                                         catalog_lba, "section"))
            pos += 32
            while pos + 32 <= len(catalog) and catalog[pos] == 0x44:  # extension entries
                pos += 32
        if final:
            break
    return out


def _torito_entry(image: Image, v: VolumeLike, entry: bytes, platform_id: int,
                  catalog_lba: int, role: str) -> dict[str, Any]:
    media = entry[1] & 0x0F
    count, rba = struct.unpack_from("<HI", entry, 6)
    record: dict[str, Any] = {
        "kind": "el-torito", "volume": v.index, "offset": v.offset, "entry": role,
        "catalog_lba": catalog_lba,
        "platform": _TORITO_PLATFORM.get(platform_id, ""),
        "platform_id": f"0x{platform_id:02x}", "bootable": entry[0] == 0x88,
        "emulation": _TORITO_MEDIA.get(media, f"media {media}"), "load_rba": rba,
        "sectors": count, "evidence": "El Torito boot catalog"}
    if media in (1, 2, 3):  # a floppy image: what its own boot sector says
        boot = image.read(v.offset + rba * SECTOR, 4096)
        if fat_type(boot):
            inner = fat_boot(boot, None, v.offset + rba * SECTOR)
            root = root_names(image, v.offset + rba * SECTOR, boot)
            present = [s for s in inner["loads"] if any(f in root for f in NEEDS[s])]
            if inner["bootable"] is None and inner["loads"]:
                inner["bootable"] = bool(present)
            record["image_boot_sector"] = {k: inner[k] for k in ("oem", "loads", "bootable")}
            record["image_boot_sector"]["system_files"] = sorted(
                f for f in root if any(f in names for names in NEEDS.values()))
            record["evidence"] += (f", {record['emulation']} image, OEM {inner['oem']!r}"
                                   + (f", loads {', '.join(inner['loads'])}"
                                      if inner["loads"] else ""))
    elif media == 0 and count:
        code = image.read(v.offset + rba * SECTOR, 2048)
        for mark in (b"ISOLINUX", b"isolinux", b"GRUB", b"BOOTMGR", b"CDBOOT", b"NTLDR"):
            if mark in code:
                record["loader"] = mark.decode()
                record["evidence"] += f", no-emulation loader ({mark.decode()})"
                break
    return record
