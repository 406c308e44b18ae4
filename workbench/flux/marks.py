"""IBM FM and MFM address marks in a cell stream: ID fields and the data fields after them.

The stream holds one byte (0/1) per cell; a data byte is 16 cells, clock first, so its
bits are the odd cells. Marks are found with the regular-expression engine on the byte
string (C speed), fields are read with numpy slicing, CRCs with binascii.crc_hqx.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from workbench.flux.model import Encoding, SectorId


def _cells(word: int) -> bytes:
    return bytes((word >> (15 - i)) & 1 for i in range(16))


def _fm_mark(data: int, clock: int) -> bytes:
    word = 0
    for i in range(7, -1, -1):
        word = (word << 2) | (((clock >> i) & 1) << 1) | ((data >> i) & 1)
    return _cells(word)


_MFM_SYNC = re.compile(re.escape(_cells(0x4489) * 3))
_FM_MARKS = re.compile(b"|".join(re.escape(_fm_mark(m, 0xC7))
                                 for m in (0xFE, 0xFB, 0xFA, 0xF9, 0xF8)))
_AMIGA_SYNC = re.compile(re.escape(b"\x01\x00" * 8 + _cells(0x4489) * 2))
ID_MARK = 0xFE
DATA_MARKS = (0xFB, 0xFA, 0xF9, 0xF8)  # F8/F9: deleted data
_GAP2_MAX_BYTES = 80  # how far after an ID field its data field may start


@dataclass(frozen=True)
class Field:
    """One sector as met in the stream: its ID, where it was, and its data if the CRC
    was right (None: bad CRC, truncated, or no data field)."""

    id: SectorId
    cell: int  # where the ID field's marks begin
    encoding: Encoding
    data: bytes | None
    deleted: bool
    has_data: bool  # a data address mark followed the ID
    raw: bytes | None = None  # the data as read when its CRC was wrong (a fingerprint:
    #                           mostly right where a weak bit spoiled the CRC)


def read_bytes(bits: NDArray[np.uint8], start: int, count: int) -> bytes | None:
    """count bytes whose first cell is start (None when the stream ends first)."""
    if start < 0:
        return None
    seg = bits[start + 1:start + 16 * count:2]
    if seg.size != 8 * count:
        return None
    return np.packbits(seg).tobytes()


def _ok(chunk: bytes) -> bool:
    return binascii.crc_hqx(chunk, 0xFFFF) == 0  # over the field and its own CRC


def find_fields(bits: NDArray[np.uint8], fm: bool) -> list[Field]:
    """Every ID field with a correct CRC, and the data field that follows it."""
    raw = bits.tobytes()
    if fm:
        starts = [m.start() for m in _FM_MARKS.finditer(raw)]
        prefix, head = b"", 0  # the mark itself is the first byte
    else:
        starts = [m.start() for m in _MFM_SYNC.finditer(raw)]
        prefix, head = b"\xa1\xa1\xa1", 48
    enc = Encoding.FM if fm else Encoding.MFM
    marks = []
    for s in starts:
        b = read_bytes(bits, s + head, 1)
        if b is not None:
            marks.append((s, b[0]))
    out = []
    for i, (s, mark) in enumerate(marks):
        if mark != ID_MARK:
            continue
        idf = read_bytes(bits, s + head, 7)
        if idf is None or not _ok(prefix + idf):
            continue
        sid = SectorId(idf[1], idf[2], idf[3], idf[4])
        end = s + head + 16 * 7
        data: bytes | None = None
        spoilt: bytes | None = None  # read, CRC wrong
        deleted = has_data = False
        if i + 1 < len(marks):
            s2, mark2 = marks[i + 1]
            if mark2 in DATA_MARKS and s2 - end <= 16 * _GAP2_MAX_BYTES:
                has_data, deleted = True, mark2 in (0xF8, 0xF9)
                body = read_bytes(bits, s2 + head, 1 + sid.size + 2)
                if body is not None and _ok(prefix + body):
                    data = body[1:1 + sid.size]
                elif body is not None:
                    spoilt = body[1:1 + sid.size]
        out.append(Field(sid, s, enc, data, deleted, has_data, spoilt))
    return out


def amiga_syncs(bits: NDArray[np.uint8]) -> int:
    """How many Amiga-style sector syncs (0x4489 0x4489 after MFM zeros) the stream has."""
    return sum(1 for _ in _AMIGA_SYNC.finditer(bits.tobytes()))
