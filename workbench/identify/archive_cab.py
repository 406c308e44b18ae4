"""Microsoft Cabinet (CAB) archives: folders stored or MSZIP-compressed are decoded, each
data block checked against its checksum; LZX and Quantum folders are listed and flagged,
not decoded; files continued from or into another cabinet are listed and flagged.
Layout: the Microsoft Cabinet Format (CFHEADER, CFFOLDER, CFFILE, CFDATA)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import IO

from workbench.identify.archive_member import Limits, Member, dos_datetime, member_name

NAME_IS_UTF = 0x80
METHODS = {0: "stored", 1: "mszip", 2: "quantum", 3: "lzx"}


class CabError(ValueError):
    """The cabinet's structure is damaged."""


def is_cab(head: bytes) -> bool:
    return head[:4] == b"MSCF" and head[4:8] == b"\0\0\0\0"


def checksum(data: bytes, seed: int = 0) -> int:
    """The cabinet checksum: 32-bit words XORed, the 1-3 trailing bytes as one value."""
    csum = seed
    whole = len(data) // 4 * 4
    for (word,) in struct.iter_unpack("<I", data[:whole]):
        csum ^= word
    tail, last = data[whole:], 0
    for byte in tail:
        last = (last << 8) | byte
    return csum ^ last


def _cstring(stream: IO[bytes]) -> bytes:
    out = bytearray()
    while len(out) < 256:
        ch = stream.read(1)
        if not ch:
            raise CabError("name cut short")
        if ch == b"\0":
            return bytes(out)
        out += ch
    raise CabError("name longer than 255 bytes")


def _folder(stream: IO[bytes], start: int, blocks: int, method: int, data_reserve: int,
            limit: int) -> tuple[bytes, bool]:
    """A folder's decoded bytes (its data blocks in order), and whether every block had
    a checksum (all checked)."""
    out = bytearray()
    checked = True
    stream.seek(start)
    inflater_dict = b""
    for _ in range(blocks):
        head = stream.read(8)
        if len(head) < 8:
            raise CabError("data block cut short")
        stored_sum, packed, size = struct.unpack("<IHH", head)
        stream.read(data_reserve)
        body = stream.read(packed)
        if len(body) < packed:
            raise CabError("data block cut short")
        checked = checked and stored_sum != 0
        if stored_sum and checksum(head[4:8], checksum(body)) != stored_sum:
            raise CabError("data block checksum mismatch: the cabinet is damaged")
        if method == 0:
            block = body
        else:  # MSZIP: "CK" and a deflate stream whose window carries over between blocks
            if body[:2] != b"CK":
                raise CabError("MSZIP block without its CK signature")
            inflater = zlib.decompressobj(-15, zdict=inflater_dict) if inflater_dict \
                else zlib.decompressobj(-15)
            block = inflater.decompress(body[2:], size + 1)
            inflater_dict = (inflater_dict + block)[-32768:]
        if len(block) != size:
            raise CabError(f"data block decodes to {len(block)} bytes, not {size}")
        out += block
        if len(out) > limit:
            raise CabError("folder larger than the limit for one archive")
    return bytes(out), checked


def members(stream: IO[bytes], codepage: str, limits: Limits) -> Iterator[Member]:
    stream.seek(0)
    head = stream.read(36)
    if len(head) < 36 or not is_cab(head):
        raise CabError("not a cabinet")
    files_at, folders, files, flags = struct.unpack_from("<I", head, 16)[0], \
        *struct.unpack_from("<HHH", head, 26)
    folder_reserve = data_reserve = 0
    if flags & 4:
        header_reserve, folder_reserve, data_reserve = struct.unpack("<HBB", stream.read(4))
        stream.read(header_reserve)
    for flag in (1, 2):  # previous and next cabinet: two names each
        if flags & flag:
            _cstring(stream)
            _cstring(stream)
    if files > limits.members:
        raise CabError(f"more than {limits.members} members")
    table = []
    for _ in range(folders):
        raw = stream.read(8)
        if len(raw) < 8:
            raise CabError("folder table cut short")
        table.append(struct.unpack("<IHH", raw))
        stream.read(folder_reserve)
    stream.seek(files_at)
    entries = []
    for _ in range(files):
        raw = stream.read(16)
        if len(raw) < 16:
            raise CabError("file table cut short")
        entries.append((*struct.unpack("<IIHHHH", raw), _cstring(stream)))
    decoded: dict[int, tuple[bytes, bool] | str] = {}
    for size, offset, index, date, time, attributes, name in entries:
        path, name_raw, warnings = member_name(name.replace(b"\\", b"/"), codepage,
                                               bool(attributes & NAME_IS_UTF))
        method = METHODS.get(table[index][2] & 0x0F, "?") if index < len(table) else "?"
        member = Member(path, size, 0, dos_datetime(date, time), name_raw, method,
                        warnings=warnings)
        if index >= 0xFFFD:
            member.errors.append("continued in another cabinet: not read")
        elif index >= len(table):
            member.errors.append("names a folder the cabinet does not have: not read")
        elif method not in ("stored", "mszip"):
            member.errors.append(f"{method.upper()} compression: listed, not decoded")
        else:
            if index not in decoded:
                start, blocks, _ = table[index]
                try:
                    decoded[index] = _folder(stream, start, blocks, table[index][2] & 0x0F,
                                             data_reserve, limits.total - limits.used)
                except (CabError, zlib.error) as exc:
                    decoded[index] = str(exc)
            folder = decoded[index]
            if isinstance(folder, str):
                member.errors.append(f"not read: {folder}")
            elif offset + size > len(folder[0]):
                member.errors.append("lies past the end of its folder: not read")
            elif (reason := limits.refuse(size, 0)) is not None:
                member.errors.append(reason)
            else:
                data, checked = folder
                member.data = data[offset:offset + size]
                member.crc_ok = True if checked else None
        yield member
