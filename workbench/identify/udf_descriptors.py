"""ECMA-167 / OSTA UDF building blocks: descriptor tags (checksum and CRC), timestamps,
OSTA CS0 names and entity identifiers."""

from __future__ import annotations

import binascii
import struct
from datetime import UTC, datetime, timedelta, timezone

from workbench.identify.model import decode_name

TAG_SPARING, TAG_ANCHOR, TAG_PARTITION, TAG_LVD, TAG_TERMINATOR = 0, 2, 5, 6, 8
TAG_FSD, TAG_FID, TAG_AED, TAG_IE, TAG_FE, TAG_EFE = 256, 257, 258, 259, 261, 266
FILE_TYPE_DIR, FILE_TYPE_VAT20 = 4, 248
FILE_TYPE_METADATA, FILE_TYPE_MIRROR = 250, 251


class UdfError(ValueError):
    pass


def tag_id(desc: bytes) -> int:
    """The descriptor's tag identifier, or -1 when the tag checksum or version (2 or 3)
    is wrong (so a zeroed block is no descriptor)."""
    if len(desc) < 16 or desc[2] not in (2, 3) or desc[3]:
        return -1
    if (sum(desc[:4]) + sum(desc[5:16])) & 0xFF != desc[4]:
        return -1
    return int(struct.unpack_from("<H", desc)[0])


def crc_ok(desc: bytes) -> bool:
    """The descriptor CRC (CRC-16-CCITT over the bytes after the tag) matches."""
    crc, length = struct.unpack_from("<HH", desc, 8)
    if 16 + length > len(desc):
        return False
    return length == 0 or binascii.crc_hqx(desc[16:16 + length], 0) == crc


def descriptor(desc: bytes, *wanted: int) -> int:
    """The tag identifier of a whole descriptor (checksum and CRC right) when it is one
    of wanted, else -1."""
    tag = tag_id(desc)
    return tag if tag in wanted and crc_ok(desc) else -1


def timestamp(raw: bytes) -> str | None:
    if len(raw) < 12:
        return None
    tz_type, year, month, day, hour, minute, second = struct.unpack_from("<HHBBBBB", raw)
    offset = tz_type & 0x0FFF
    offset = offset - 0x1000 if offset & 0x0800 else offset
    tz = timezone(timedelta(minutes=offset)) if -1440 <= offset <= 1440 else UTC
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=tz).isoformat()
    except ValueError:
        return None


def cs0_name(raw: bytes) -> tuple[str, bytes, bool]:
    """An OSTA CS0 (compressed unicode) name: compression id 8 (each byte a code point
    U+0000-U+00FF) or 16 (UTF-16BE); 254 and 255 (UDF 2.50+, deleted names) likewise.
    Returns (text, raw bytes with the id, clean); any other id or an odd 16-bit length is
    flagged, the raw bytes kept."""
    if not raw:
        return "", raw, True
    comp, body = raw[0], raw[1:]
    if comp in (16, 255):
        text, clean = decode_name(body, "utf-16-be")
    elif comp in (8, 254):
        text, clean = decode_name(body, "latin-1")
    else:
        text, clean = decode_name(body, "latin-1")
        clean = False
    return text, raw, clean


def dstring(field: bytes) -> str:
    """A fixed-length dstring (its used length in the last byte), e.g. a volume label."""
    if not field:
        return ""
    used = field[-1]
    return cs0_name(field[:max(0, min(used, len(field) - 1))])[0].strip("\0 ")


def regid(raw: bytes) -> bytes:
    """The identifier of an entity identifier (flags byte, 23 bytes of id, suffix)."""
    return raw[1:24].rstrip(b"\0")


def long_ad(data: bytes, at: int) -> tuple[int, int, int]:
    """(length, logical block, partition reference) of a long allocation descriptor."""
    length, lbn, ref = struct.unpack_from("<IIH", data, at)
    return length & 0x3FFFFFFF, lbn, ref
