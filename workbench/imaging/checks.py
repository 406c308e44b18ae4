"""What the medium says about itself, and whether it is the carrier a job folder holds.

- Sizes from the medium's own word: the size a FAT boot sector declares (floppies), the
  ISO 9660 volume size and the UDF volume recognition sequence (optical discs). These
  catch truncated images even when every read succeeded.
- Same-carrier proof: a fingerprint of the carrier (its size, digests of the boot sector,
  the volume descriptors and a small sample spread over the medium) is taken from what
  the first run read, kept in job.json, and compared with the drive before any later run
  writes a byte. A different carrier is refused (exit 6) naming what differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import Refused
from workbench.i18n import t

PVD_OFFSET = 16 * 2048  # sector 16 of a 2048-byte-sector medium
OPTICAL_SECTOR = 2048

Reader = Callable[[int, int], "bytes | memoryview"]


# -- sizes from the medium's own word ---------------------------------------------------

def iso9660_volume_size(read: Reader) -> int | None:
    """The size in bytes the ISO 9660 primary volume descriptor declares, or None.

    Volume space size is a both-endian u32 at offset 80, the logical block size a
    both-endian u16 at offset 128. Descriptors from sector 16 on are scanned up to the
    terminator, so a disc whose first descriptor is a boot record still yields its PVD.
    """
    for n in range(16):
        try:
            desc = bytes(read(PVD_OFFSET + n * 2048, 2048))
        except Exception:
            return None
        if len(desc) < 2048 or desc[1:6] != b"CD001":
            return None
        if desc[0] == 255:  # set terminator
            return None
        if desc[0] == 1:
            blocks_le = int.from_bytes(desc[80:84], "little")
            blocks_be = int.from_bytes(desc[84:88], "big")
            block_le = int.from_bytes(desc[128:130], "little")
            block_be = int.from_bytes(desc[130:132], "big")
            if blocks_le != blocks_be or block_le != block_be or block_le not in (
                    512, 1024, 2048):
                return None
            return blocks_le * block_le
    return None


def udf_recognised(read: Reader) -> bool:
    """True when the volume recognition sequence from sector 16 holds a UDF NSR
    descriptor (BEA01 ... NSR02/NSR03 ... TEA01, ECMA-167 2/9)."""
    seen_bea = False
    for n in range(32):
        try:
            desc = bytes(read(PVD_OFFSET + n * 2048, 2048))
        except Exception:
            return False
        if len(desc) < 2048:
            return False
        ident = desc[1:6]
        if ident == b"BEA01":
            seen_bea = True
        elif ident in (b"NSR02", b"NSR03"):
            return seen_bea
        elif ident == b"TEA01" or ident not in (b"CD001", b"CDW02", b"BOOT2"):
            return False
    return False


@dataclass(frozen=True)
class FatGeometry:
    """What a FAT boot sector (BIOS parameter block) declares about its medium."""

    bytes_per_sector: int
    total_sectors: int
    media: int

    @property
    def size(self) -> int:
        return self.bytes_per_sector * self.total_sectors


def fat_geometry(boot: bytes | memoryview) -> FatGeometry | None:
    """The geometry a FAT12/16/32 boot sector declares, or None when sector 0 is not
    one (non-DOS disks, unformatted media, a boot sector that did not read).

    Bytes per sector u16 at 11, sectors per cluster u8 at 13, reserved sectors u16 at 14,
    FAT count u8 at 16, total sectors u16 at 19 (0: u32 at 32), media descriptor u8 at 21.
    """
    b = bytes(boot[:512])
    if len(b) < 36 or b[0] not in (0xEB, 0xE9, 0x60):  # x86 jump (0x60: some PC-98 disks)
        return None
    bps = int.from_bytes(b[11:13], "little")
    spc, reserved, fats, media = b[13], int.from_bytes(b[14:16], "little"), b[16], b[21]
    total = int.from_bytes(b[19:21], "little") or int.from_bytes(b[32:36], "little")
    if bps not in (128, 256, 512, 1024, 2048, 4096) or spc == 0 or spc & (spc - 1):
        return None
    if reserved < 1 or fats not in (1, 2) or not (media == 0xF0 or media >= 0xF8):
        return None
    if total <= reserved:
        return None
    return FatGeometry(bps, total, media)


# -- same-carrier proof ----------------------------------------------------------------

SAMPLES = 8  # sample areas spread over the medium
SAMPLE_WINDOW = 64  # sectors searched from a sample's place for one that is not blank


class DifferentCarrier(Refused):
    """The carrier in the drive is not the one this job folder was imaged from.
    Exit 6 (refused, nothing done): nothing was read into the image or the map."""


def _digest(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def area_name(area: dict[str, Any], lang: str | None = None) -> str:
    what = area.get("what", "sample")
    return t(f"carrier.{what}", lang=lang, pos=f"{area['pos']:,}",
             sector=area["pos"] // max(1, area["size"]))


def fingerprint_slots(size: int, sector: int, optical: bool) -> list[tuple[str, int]]:
    """(what, position) of every area a fingerprint holds, for a medium of size bytes:
    the boot sector, the volume descriptors (optical), and SAMPLES places spread over the
    medium. The places depend only on the size at the first read, so they never move."""
    slots = [("boot_sector", 0)]
    if optical and size >= PVD_OFFSET + OPTICAL_SECTOR:
        slots.append(("volume_descriptor", PVD_OFFSET))
    for i in range(1, SAMPLES + 1):
        pos = size * i // (SAMPLES + 1) // sector * sector
        if pos + sector <= size and all(pos != p for _, p in slots):
            slots.append(("sample", pos))
    return slots


def update_fingerprint(fingerprint: dict[str, Any], size: int, sector: int, optical: bool,
                       finished: Callable[[int, int], bool], read_image: Reader,
                       final: bool = False) -> bool:
    """Add to fingerprint the areas that are now finished in the image (read from the
    image file, never from the medium). Recorded areas never change. A sample slot takes
    the first sector within SAMPLE_WINDOW of its place that is not blank, so it tells
    carriers apart; a blank one only when the whole window is read and blank, or at the
    end of a run (final). Returns whether anything was added."""
    fingerprint.setdefault("size", size)
    fingerprint.setdefault("sector_size", sector)
    fingerprint.setdefault("algorithm", "sha256")
    areas: list[dict[str, Any]] = fingerprint.setdefault("areas", [])
    have = {(a["what"], a["slot"]) for a in areas}
    added = False
    for what, slot in fingerprint_slots(fingerprint["size"], sector, optical):
        if (what, slot) in have:
            continue
        length = OPTICAL_SECTOR if what == "volume_descriptor" else sector
        window = SAMPLE_WINDOW if what == "sample" else 1
        blank: int | None = None
        chosen: tuple[int, bytes] | None = None
        whole_window_read = True
        for k in range(window):
            pos = slot + k * length
            if pos + length > size:
                break
            if not finished(pos, length):
                whole_window_read = False
                continue
            data = bytes(read_image(pos, length))
            if len(data) != length:
                whole_window_read = False
                continue
            if any(data):
                chosen = (pos, data)
                break
            if blank is None:
                blank = pos
        if chosen is None and blank is not None and (whole_window_read or final):
            chosen = (blank, bytes(length))
        if chosen is None:
            continue
        pos, data = chosen
        areas.append({"what": what, "slot": slot, "pos": pos, "size": length,
                      "sha256": _digest(data), "blank": not any(data)})
        added = True
    areas.sort(key=lambda a: a["pos"])
    return added


@dataclass
class CarrierCheck:
    """The comparison of a drive's carrier with a fingerprint."""

    compared: int = 0
    matched: list[dict[str, Any]] = field(default_factory=list)
    differs: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    beyond_end: list[dict[str, Any]] = field(default_factory=list)
    bytes_read: int = 0

    def summary(self, result: str, size_before: int, size_now: int) -> dict[str, Any]:
        return {"result": result, "areas": self.compared, "matched": len(self.matched),
                "unreadable": len(self.unreadable), "beyond_end": len(self.beyond_end),
                "size_at_first_read": size_before, "size_now": size_now,
                "bytes_read": self.bytes_read}


def compare_carrier(fingerprint: dict[str, Any], read: Reader, size: int,
                    read_error: type[BaseException] | tuple[type[BaseException], ...]
                    ) -> CarrierCheck:
    """Read each fingerprint area from the drive and compare. Areas past the end of what
    this drive reports, and areas the drive cannot read now, are not compared (a
    truncating drive, a weak sector). Other exceptions (the drive vanished) propagate."""
    check = CarrierCheck()
    for area in fingerprint.get("areas", []):
        pos, length = area["pos"], area["size"]
        check.compared += 1
        if pos + length > size:
            check.beyond_end.append(area)
            continue
        try:
            data = bytes(read(pos, length))
        except read_error:
            check.unreadable.append(area)
            continue
        check.bytes_read += len(data)
        if len(data) != length:
            check.beyond_end.append(area)
        elif _digest(data) == area["sha256"]:
            check.matched.append(area)
        else:
            check.differs.append(area)
    return check


def describe_differences(areas: list[dict[str, Any]], size_before: int, size_now: int,
                         lang: str | None = None) -> str:
    parts = [t("carrier.differs", lang=lang, area=area_name(a, lang)) for a in areas[:4]]
    if len(areas) > 4:
        parts.append(t("carrier.more", lang=lang, count=len(areas) - 4))
    if size_before and size_now != size_before:
        parts.append(t("carrier.size", lang=lang, before=f"{size_before:,}",
                       now=f"{size_now:,}"))
    return "; ".join(parts)
