"""ZIP archives through the standard library's zipfile: stored, deflate, bzip2 and LZMA
members read and checked against their CRC-32; encrypted members and other methods
(shrink, implode of old PKZIP) listed and flagged. Names: UTF-8 when the archive says so
(flag bit 11 or an Info-ZIP Unicode Path field), else the station's legacy code page
(cp932 on Japanese archives), else cp437."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

from workbench.identify.archive_member import Limits, Member, dos_datetime, member_name

UNICODE_PATH = 0x7075


def is_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _raw_name(info: zipfile.ZipInfo) -> tuple[bytes, bool]:
    """The name's bytes as stored, and whether they are UTF-8."""
    utf8 = bool(info.flag_bits & 0x800)
    raw = info.orig_filename.encode("utf-8" if utf8 else "cp437")
    extra, at = info.extra, 0
    while at + 4 <= len(extra):  # Info-ZIP Unicode Path: UTF-8, valid while its CRC holds
        kind, size = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4:at + 4 + size]
        if kind == UNICODE_PATH and len(body) > 5 and body[0] == 1 \
                and struct.unpack_from("<I", body, 1)[0] == zlib.crc32(raw):
            return body[5:], True
        at += 4 + size
    return raw, utf8


def is_package(names: list[str]) -> bool:
    """A document that is a ZIP inside (Office Open XML, OpenDocument, EPUB): a format of
    its own that fido identifies by its container signature, not an archive to list."""
    return "[Content_Types].xml" in names or (names[:1] == ["mimetype"])


def members(stream: IO[bytes], codepage: str, limits: Limits) -> Iterator[Member]:
    with zipfile.ZipFile(stream) as archive:
        infos = archive.infolist()
        if is_package([i.filename for i in infos]):
            return
        if len(infos) > limits.members:
            raise zipfile.BadZipFile(f"more than {limits.members} members")
        for info in infos:
            if info.is_dir():
                continue
            raw, utf8 = _raw_name(info)
            path, name_raw, warnings = member_name(raw, codepage, utf8)
            date = ((info.date_time[0] - 1980) << 9) | (info.date_time[1] << 5) \
                | info.date_time[2]
            time = (info.date_time[3] << 11) | (info.date_time[4] << 5) \
                | (info.date_time[5] // 2)
            member = Member(path, info.file_size, info.compress_size,
                            dos_datetime(date, time), name_raw,
                            _METHODS.get(info.compress_type, str(info.compress_type)),
                            warnings=warnings)
            if info.flag_bits & 0x1:
                member.errors.append("encrypted: not read")
            elif info.compress_type not in _METHODS:
                member.errors.append(f"compression method {info.compress_type} not "
                                     "supported: not read")
            elif (reason := limits.refuse(info.file_size, info.compress_size)) is not None:
                member.errors.append(reason)
            else:
                try:
                    with archive.open(info) as handle:
                        data = handle.read(info.file_size + 1)
                    if len(data) != info.file_size:
                        raise zipfile.BadZipFile(f"{len(data)} bytes, the directory says "
                                                 f"{info.file_size}")
                    member.data, member.crc_ok = data, True  # zipfile checked the CRC
                except zipfile.BadZipFile as exc:
                    member.crc_ok = False if "CRC" in str(exc) else None
                    member.errors.append(f"not read: {exc}")
                except (zlib.error, EOFError, OSError, ValueError, NotImplementedError,
                        RuntimeError) as exc:
                    member.errors.append(f"not read: {type(exc).__name__}: {exc}")
            yield member


_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
            zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
