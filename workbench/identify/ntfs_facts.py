"""What an NTFS file's MFT record says that TSK's Python binding does not: the unnamed
$DATA attribute's initialised size, and reparse points (symbolic links, junctions, and
tags whose data lives elsewhere)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from workbench.identify.ntfs_mft import (
    DATA,
    FLAG_COMPRESSED,
    FLAG_ENCRYPTED,
    REPARSE,
    STANDARD_INFO,
    VOLUME_NAME,
    Mft,
    NtfsError,
    Record,
)

SYMLINK, MOUNT_POINT = 0xA000000C, 0xA0000003
# reparse tags whose file data is not in the unnamed $DATA stream
_ELSEWHERE = {0x80000017: "Windows overlay (WOF) compression",
              0x80000013: "data deduplication", 0x8000001B: "app execution alias"}
INTERIX = b"IntxLNK\x01"  # an Interix (SFU / ntfs-3g) symbolic link's data
SYSTEM_ATTR = 0x0004


@dataclass
class Facts:
    init_size: int | None = None  # of the unnamed $DATA, when non-resident
    link: str | None = None
    system: bool = False  # FILE_ATTRIBUTE_SYSTEM (Interix links carry it)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def reparse_link(value: bytes) -> tuple[int, str | None]:
    """(tag, target) of a reparse point; target None when it is no link."""
    if len(value) < 8:
        return 0, None
    tag, = struct.unpack_from("<I", value, 0)
    if tag not in (SYMLINK, MOUNT_POINT):
        return tag, None
    body = 8 + (12 if tag == SYMLINK else 8)
    if len(value) < body:
        return tag, None
    sub_off, sub_len, pr_off, pr_len = struct.unpack_from("<HHHH", value, 8)

    def text(off: int, n: int) -> str:
        return value[body + off:body + off + n].decode("utf-16-le", errors="replace")

    target = text(pr_off, pr_len) or text(sub_off, sub_len)
    if target.startswith("\\??\\"):
        target = target[4:]
    return tag, target


def facts(mft: Mft, record: Record) -> Facts:
    out = Facts()
    for si in record.find(STANDARD_INFO):
        if len(si.value) >= 0x24:
            out.system = bool(struct.unpack_from("<I", si.value, 0x20)[0] & SYSTEM_ATTR)
    try:
        pieces = mft.attrs(record, DATA)
        rp = mft.attrs(record, REPARSE)
    except NtfsError as exc:
        out.errors.append(f"MFT record {record.number}: {exc}")
        return out
    if pieces and not pieces[0].resident:
        out.init_size = pieces[0].init_size  # sizes live in the piece at VCN 0
    if pieces and pieces[0].flags & FLAG_ENCRYPTED:
        out.errors.append("encrypted (EFS): content not readable")
    if rp:
        try:
            tag, target = reparse_link(mft.read_attr(rp[0], 1 << 16))
        except NtfsError as exc:
            out.errors.append(f"reparse point: {exc}")
            return out
        if target is not None:
            out.link = target
        elif tag in _ELSEWHERE:
            out.errors.append(f"content kept outside the file ({_ELSEWHERE[tag]}): not read")
        else:
            out.warnings.append(f"reparse_point_{tag:08x}")
    return out


def compressed(record: Record) -> bool:
    return any(a.flags & FLAG_COMPRESSED for a in record.find(DATA))


def volume_label(mft: Mft) -> str:
    try:
        names = mft.record(3).find(VOLUME_NAME)
    except NtfsError:
        return ""
    return names[0].value.decode("utf-16-le", errors="replace") if names else ""
