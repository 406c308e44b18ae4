"""Local signatures: Japanese formats found on legacy media that PRONOM cannot identify.

Each rule is tried only when fido found nothing, only an extension, or only the generic
OLE2 compound file (fmt/111). Local formats have ids "wb-fmt/N" (never PRONOM's); a
result from a rule carries the warning "local_signature". Where a rule leans on a source,
the source is named; nothing here is a guess from one sample.

- wb-fmt/1 Ichitaro document (MS-DOS versions): "DOC" at 0 and the version byte at 43
  (0x14, 0x15, 0x16 for versions 4, 5, 6), as file(1)'s magic (Magdir/wordprocessors,
  "ichitaro456") has it; or "DOC\\0" with "JXW.JEX" at 0x80 (Paper Plane xUI's type
  checker, VFS_FCHK.C).
- wb-fmt/2 Hanako drawing (MS-DOS / early Windows): "DOC\\0" with "HANA.JEX" at 0x80
  (VFS_FCHK.C).
- wb-fmt/3 Ichitaro 7 document, wb-fmt/4 Hanako 9 drawing: OLE2 compound files whose root
  storage has the CLSIDs VFS_FCHK.C lists. Ichitaro 8 and later (root CLSID
  {78597001-1D84-11CF-9713-0020AFD806F4}) is PRONOM's fmt/1400, whose container signature
  the container file fido ships (2020) predates: the same rule gives fmt/1400.
- wb-fmt/5 OASYS document (Fujitsu, .OA2): 0xF1 0x10 at 0 (VFS_FCHK.C, "OASYS2(A)"). Two
  bytes are too few alone: the extension must be .oa2 as well.
- wb-fmt/6 D88 floppy disk image (PC-88/PC-98/FM/X1 emulators): 0x2B0-byte header, write
  protect byte at 0x1A (0x00 or 0x10), media type at 0x1B (0x00 2D, 0x10 2DD, 0x20 2HD,
  0x30 1D, 0x40 1DD), image size at 0x1C equal to the file size, 164 track offsets from
  0x20 that are 0 or inside the image after the header (the layout MAME's d88_dsk and
  the D88 documentation describe).
- wb-fmt/7 PC-98 FDI floppy image (Anex86): 32-byte little-endian header (reserved 0, FDD
  type, header size, data size, sector size, sectors, surfaces, cylinders); MAME's
  pc98fdi_dsk accepts it when header size + data size is the file size and data size is
  sector size x sectors x surfaces x cylinders.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

from workbench.identify.formats import FormatMatch

LOCAL_PREFIX = "wb-fmt/"
LOCAL_WARNING = "local_signature"
GENERIC = frozenset({"fmt/111"})  # fido's answer for any OLE2 file it cannot name

FORMATS = {
    "wb-fmt/1": FormatMatch("wb-fmt/1", "Ichitaro Document (MS-DOS versions)"),
    "wb-fmt/2": FormatMatch("wb-fmt/2", "Hanako Drawing (MS-DOS versions)"),
    "wb-fmt/3": FormatMatch("wb-fmt/3", "Ichitaro Document", "7"),
    "wb-fmt/4": FormatMatch("wb-fmt/4", "Hanako Drawing", "9"),
    "wb-fmt/5": FormatMatch("wb-fmt/5", "OASYS Document"),
    "wb-fmt/6": FormatMatch("wb-fmt/6", "D88 Floppy Disk Image"),
    "wb-fmt/7": FormatMatch("wb-fmt/7", "PC-98 FDI Floppy Disk Image"),
}
ICHITARO_8 = FormatMatch("fmt/1400", "Ichitaro Document", "8", "application/x-js-taro")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CLSIDS = {
    "78597000-1d84-11cf-9713-0020afd806f4": FORMATS["wb-fmt/3"],
    "78597001-1d84-11cf-9713-0020afd806f4": ICHITARO_8,
    "06ce2760-93a4-11d1-9079-00805f1d7456": FORMATS["wb-fmt/4"],
}
D88_MEDIA = {0x00: "2D", 0x10: "2DD", 0x20: "2HD", 0x30: "1D", 0x40: "1DD"}
D88_HEADER = 0x2B0


def _just(bof: bytes) -> FormatMatch | None:
    if not bof.startswith(b"DOC"):
        return None
    tag = bof[0x80:0x88].split(b"\0")[0].upper()
    if bof[:4] == b"DOC\0" and tag == b"HANA.JEX":
        return FORMATS["wb-fmt/2"]
    if len(bof) > 43 and bof[43] in (0x14, 0x15, 0x16):
        base = FORMATS["wb-fmt/1"]
        return FormatMatch(base.puid, base.name, str(bof[43] - 0x10))
    if bof[:4] == b"DOC\0" and tag == b"JXW.JEX":
        return FORMATS["wb-fmt/1"]
    return None


def _oasys(name: str, bof: bytes) -> FormatMatch | None:
    if bof[:2] == b"\xf1\x10" and name.lower().endswith(".oa2"):
        return FORMATS["wb-fmt/5"]
    return None


def d88(bof: bytes, size: int) -> FormatMatch | None:
    if len(bof) < D88_HEADER or size < D88_HEADER:
        return None
    protect, media, disk_size = bof[0x1A], bof[0x1B], struct.unpack_from("<I", bof, 0x1C)[0]
    if protect not in (0x00, 0x10) or media not in D88_MEDIA or disk_size != size:
        return None
    tracks = struct.unpack_from("<164I", bof, 0x20)
    used = [t for t in tracks if t]
    if not used or any(t < 0x2A0 or t >= size for t in used):  # 0x2A0: 160-track tables
        return None
    base = FORMATS["wb-fmt/6"]
    return FormatMatch(base.puid, base.name, D88_MEDIA[media])


def fdi(bof: bytes, size: int) -> FormatMatch | None:
    if len(bof) < 32:
        return None
    zero, _, header, data, sector, sectors, surfaces, cylinders = struct.unpack_from(
        "<8I", bof, 0)
    if zero != 0 or header < 32 or not data or sector not in (128, 256, 512, 1024, 2048):
        return None
    if header + data != size or data != sector * sectors * surfaces * cylinders:
        return None
    return FORMATS["wb-fmt/7"]


def ole_root_clsid(head: bytes, open_stream: Callable[[], BinaryIO] | None) -> str | None:
    """The root storage's CLSID of an OLE2 compound file, as lower-case GUID text."""
    if not head.startswith(OLE_MAGIC) or len(head) < 0x4C:
        return None
    shift = struct.unpack_from("<H", head, 0x1E)[0]
    if shift not in (9, 12):
        return None
    first_dir = struct.unpack_from("<I", head, 0x30)[0]
    if first_dir >= 0xFFFFFFFA:
        return None
    at = (first_dir + 1) << shift
    entry = head[at:at + 128]
    if len(entry) < 128 and open_stream is not None:
        with open_stream() as stream:
            stream.seek(at)
            entry = stream.read(128)
    if len(entry) < 0x60 or entry[0x42] != 5:  # object type 5: the root storage
        return None
    a, b, c = struct.unpack_from("<IHH", entry, 0x50)
    rest = entry[0x58:0x60].hex()
    return f"{a:08x}-{b:04x}-{c:04x}-{rest[:4]}-{rest[4:]}"


def local_match(name: str, size: int, bof: bytes,
                open_stream: Callable[[], BinaryIO] | None) -> tuple[FormatMatch, str] | None:
    """(format, basis) from the local rules, or None."""
    if not size:
        return None
    clsid = ole_root_clsid(bof, open_stream)
    if clsid is not None:
        found = CLSIDS.get(clsid)
        return (found, "container") if found else None
    for rule in (_just(bof), _oasys(name, bof), d88(bof, size), fdi(bof, size)):
        if rule is not None:
            return rule, "signature"
    return None
