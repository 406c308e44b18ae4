"""The other file systems of a disc besides its ISO 9660 (or UDF) volume: a UDF bridge,
a bare HFS/HFS+ volume or an Apple Partition Map in the ISO's system area
(`genisoimage -hfs`, `xorriso -hfsplus`), MBR/GPT partitions of an isohybrid or EFI
image, and El Torito boot images (floppy and hard-disk emulation) that hold a file
system. Each becomes a Volume of its own; the disc's ISO volume stays the first.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from workbench.identify import partitions
from workbench.identify.model import Image, Volume

SniffAt = Callable[[Image, int, int], str]
DISC_FS = ("iso9660", "udf", "iso9660+udf")
_FLOPPY = {1: ("El Torito 1.2M floppy", 1228800), 2: ("El Torito 1.44M floppy", 1474560),
           3: ("El Torito 2.88M floppy", 2949120)}


def disc_extras(image: Image, errors: list[str], disc: str, sniff_at: SniffAt
                ) -> list[Volume]:
    out: list[Volume] = []
    if disc == "iso9660+udf":
        out.append(Volume(0, 0, image.size, "hybrid", fs_type="udf"))
    head = image.read(1024, 2)
    if head == b"BD":
        out.append(Volume(0, 0, image.size, "hybrid", fs_type="hfs"))
    elif head in (b"H+", b"HX"):
        out.append(Volume(0, 0, image.size, "hybrid", fs_type="hfsplus"))
    tables: list[Volume] = []
    errs: list[str] = []
    tables += partitions.apm(image, errs) or []
    tables += partitions.gpt(image, errs) or []
    entries = partitions.mbr_entries(image.read(0, 512))
    if entries and not any(e[1] == 0xEE for e in entries):
        tables += [Volume(0, lba * 512, min(count * 512, max(0, image.size - lba * 512)),
                          "mbr", f"{ptype:#04x}")
                   for _status, ptype, lba, count in entries if ptype and count]
    for v in tables:
        v.fs_type = sniff_at(image, v.offset, v.size)
        if v.fs_type and v.fs_type not in DISC_FS and v.offset < image.size:
            out.append(v)
    out += el_torito(image, errors, sniff_at)
    seen: set[tuple[int, str]] = set()
    unique = []
    for v in out:
        if (v.offset, v.fs_type) not in seen:
            seen.add((v.offset, v.fs_type))
            unique.append(v)
    return unique


def _boot_entries(catalog: bytes) -> list[tuple[int, int, int]]:
    """(media type, load RBA, sector count) of the initial entry and every section
    entry of an El Torito boot catalog."""
    if len(catalog) < 64 or catalog[0] != 1 or catalog[30:32] != b"\x55\xaa":
        return []
    out: list[tuple[int, int, int]] = []
    pos, left = 32, 1  # the initial/default entry
    while pos + 32 <= len(catalog) and len(out) < 64:
        e = catalog[pos:pos + 32]
        if left:
            if e[0] in (0x88, 0x00) and any(e):
                media = e[1] & 0x0F
                count, rba = struct.unpack_from("<HI", e, 6)
                out.append((media, rba, count))
            left -= 1
            pos += 32
            continue
        if e[0] in (0x90, 0x91):  # a section header: its entries follow
            left = struct.unpack_from("<H", e, 2)[0]
            pos += 32
            continue
        break
    return out


def el_torito(image: Image, errors: list[str], sniff_at: SniffAt) -> list[Volume]:
    record = b""
    for i in range(16, 32):
        desc = image.read(i * 2048, 2048)
        if len(desc) < 2048 or desc[1:6] != b"CD001" or desc[0] == 255:
            break
        if desc[0] == 0 and desc[7:30] == b"EL TORITO SPECIFICATION":
            record = desc
            break
    if not record:
        return []
    catalog = image.read(struct.unpack_from("<I", record, 0x47)[0] * 2048, 2048)
    out: list[Volume] = []
    for media, rba, count in _boot_entries(catalog):
        offset = rba * 2048
        if offset >= image.size:
            errors.append(f"El Torito boot image at sector {rba} lies outside the image")
            continue
        if media in _FLOPPY:
            name, size = _FLOPPY[media]
            found = [Volume(0, offset, min(size, image.size - offset), "eltorito", name)]
        elif media == 4:  # hard-disk emulation: an MBR with one partition
            entries = partitions.mbr_entries(image.read(offset, 512)) or []
            found = [Volume(0, offset + lba * 512, min(n * 512, image.size - offset - lba * 512),
                            "eltorito", f"El Torito hard disk {ptype:#04x}")
                     for _s, ptype, lba, n in entries if ptype and n]
        else:
            found = [Volume(0, offset, min(count * 512, image.size - offset), "eltorito",
                            "El Torito no emulation")]
        for v in found:
            v.fs_type = sniff_at(image, v.offset, v.size)
            if v.fs_type and v.fs_type not in DISC_FS:
                out.append(v)
    return out
