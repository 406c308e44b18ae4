"""LZH (LHA/LHarc) archives: level 0, 1 and 2 headers (the layout lhasa reads), members
-lh0-/-lz4- (stored) and -lh5-/-lh6-/-lh7- decoded, each checked against its CRC-16.
Other methods (-lh1- to -lh4-, LArc's -lzs-/-lz5-) are listed and flagged, not decoded.
Names are Shift_JIS on Japanese archives: decoded with the station's legacy code page."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from workbench.identify.archive_lzh_decode import METHODS, LzhError, crc16, decode
from workbench.identify.archive_member import Limits, Member, dos_datetime, member_name

STORED = ("-lh0-", "-lz4-")
DIRECTORY = "-lhd-"
DECODE_LIMIT = 64 << 20  # the pure-Python decoder's pace makes larger members too slow


def is_lzh(head: bytes) -> bool:
    return (len(head) >= 22 and head[2:4] == b"-l" and head[6:7] == b"-"
            and head[4:6].isalnum() and head[20] in (0, 1, 2))


@dataclass
class _Header:
    method: str
    packed: int
    size: int
    name: bytes = b""
    folder: bytes = b""
    crc: int | None = None
    mtime: int | None = None  # Unix time (level 2, or an extended header)
    dos: tuple[int, int] | None = None  # DOS date, time (levels 0 and 1)

    @property
    def path(self) -> bytes:
        return self.folder + b"/" + self.name if self.folder else self.name


def _ext_headers(raw: bytes, offset: int, header: _Header) -> None:
    """Level 1/2 extended headers: [size:2][type:1][data], chained by size."""
    while offset + 2 <= len(raw):
        size = struct.unpack_from("<H", raw, offset)[0]
        if size == 0:
            return
        if size < 3 or offset + size > len(raw):
            raise LzhError("bad extended header")
        kind, data = raw[offset + 2], raw[offset + 3:offset + size]
        if kind == 0x01:
            header.name = data
        elif kind == 0x02:
            header.folder = data.rstrip(b"\xff").replace(b"\xff", b"/")
        elif kind == 0x54 and len(data) >= 4:
            header.mtime = struct.unpack_from("<I", data)[0]
        offset += size


def _header(stream: IO[bytes]) -> _Header | None:
    """One member's header (the stream then stands at its data), None at the end."""
    first = stream.read(22)
    if len(first) < 1 or first[0] == 0:
        return None  # the end mark (a 0 byte) or the end of the file
    if len(first) < 22:
        raise LzhError("header cut short")
    level = first[20]
    header = _Header(first[2:7].decode("latin-1"), struct.unpack_from("<I", first, 7)[0],
                     struct.unpack_from("<I", first, 11)[0])
    if level in (0, 1):
        length = first[0] + 2
        raw = first + stream.read(length - 22)
        if len(raw) < length:
            raise LzhError("header cut short")
        if sum(raw[2:length]) & 0xFF != first[1]:
            raise LzhError("header checksum mismatch")
        name_len = raw[21]
        # a NUL ends the name: some (Amiga, MorphOS) put a comment after it
        header.name = raw[22:22 + name_len].split(b"\0")[0].replace(b"\\", b"/")
        if 24 + name_len <= length:
            header.crc = struct.unpack_from("<H", raw, 22 + name_len)[0]
        time, date = struct.unpack_from("<HH", raw, 15)
        header.dos = (date, time)
        if level == 1:  # extended headers follow, counted in the packed size
            ext = bytearray(raw[length - 2:length])
            next_size = struct.unpack_from("<H", ext, 0)[0]
            while next_size:
                chunk = stream.read(next_size)
                if len(chunk) < next_size:
                    raise LzhError("extended header cut short")
                ext += chunk
                header.packed -= next_size
                next_size = struct.unpack_from("<H", chunk, next_size - 2)[0]
            if header.packed < 0:
                raise LzhError("extended headers larger than the member")
            _ext_headers(bytes(ext), 0, header)
    elif level == 2:
        length = struct.unpack_from("<H", first, 0)[0]
        first += stream.read(2)
        if first[23:24] == b"K":  # LHA for OS-9/68k: the size leaves out its own 2 bytes
            length += 2
        raw = first + stream.read(length - 24)
        if length < 26 or len(raw) < length:
            raise LzhError("header cut short")
        header.mtime = struct.unpack_from("<I", raw, 15)[0]
        header.crc = struct.unpack_from("<H", raw, 21)[0]
        _ext_headers(raw, 24, header)
    else:
        raise LzhError(f"header level {level} not supported")
    return header


def members(stream: IO[bytes], codepage: str, limits: Limits) -> Iterator[Member]:
    stream.seek(0)
    count = 0
    while True:
        header = _header(stream)
        if header is None:
            return
        count += 1
        if count > limits.members:
            raise LzhError(f"more than {limits.members} members")
        method, packed, size = header.method, header.packed, header.size
        data_at = stream.tell()
        if method == DIRECTORY:
            stream.seek(data_at + packed)
            continue
        path, name_raw, warnings = member_name(header.path, codepage, utf8=False)
        modified = None
        if header.mtime is not None:
            modified = datetime.fromtimestamp(header.mtime, UTC).replace(
                tzinfo=None).isoformat()
        elif header.dos is not None:
            modified = dos_datetime(*header.dos)
        member = Member(path, size, packed, modified, name_raw, method.strip("-"),
                        warnings=warnings)
        crc = header.crc
        if method not in STORED and method not in METHODS:
            member.errors.append(f"compression method {method} not supported: not read")
        elif method in METHODS and size > DECODE_LIMIT:
            member.errors.append(f"not expanded: {size} bytes is over the {DECODE_LIMIT}-byte "
                                 "limit for LZH decoding (pure Python: slow)")
        elif (reason := limits.refuse(size, packed)) is not None:
            member.errors.append(reason)
        else:
            body = stream.read(packed)
            try:
                if len(body) < packed:
                    raise LzhError("member data cut short")
                data = body if method in STORED else decode(body, method, size)
                if method in STORED and len(data) != size:
                    raise LzhError("stored size differs from the header's")
                member.data = data
                if isinstance(crc, int):
                    member.crc_ok = crc16(data) == crc
                    if not member.crc_ok:  # wrong bytes are never handed on
                        member.errors.append("CRC mismatch: the member's bytes are damaged")
                        member.data = None
            except LzhError as exc:
                member.errors.append(f"not decoded: {exc}")
                member.data = None
        stream.seek(data_at + packed)
        yield member
