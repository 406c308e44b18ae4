"""D88 images: the PC-98 (and PC-88, X1, FM-7) emulators' floppy format.

Written as an access copy when a disk is not uniform (sizes or encodings mixed on it,
an N88-BASIC disk's FM track 0): a flat image cannot tell an emulator where one
sector ends, a D88 can. The layout (little-endian):

    0x000  name, 17 bytes (NUL-padded)      0x011  reserved, 9 bytes
    0x01A  write protect (0x00 no, 0x10 yes)
    0x01B  media type (0x00 2D, 0x10 2DD, 0x20 2HD)
    0x01C  disk size (uint32: the whole file)
    0x020  164 track offsets (uint32; track = cylinder x 2 + head; 0: no track)
    0x2B0  tracks: per sector a 16-byte header, then its data
           C, H, R, N; sectors in this track (uint16); density (0x00 MFM, 0x40 FM);
           deleted (0x00, 0x10 deleted data mark); status (0x00 good, 0xB0 data CRC
           error); 5 reserved bytes; data size (uint16)

Sectors are written in the order met after the index (an emulator sees the disk's
interleave); bad sectors with status 0xB0 and zeros; sectors whose ID was never found
are left out (the disk does not have them to give).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from workbench.atomic import write_atomic
from workbench.errors import BadInput
from workbench.flux.layout import Layout
from workbench.flux.model import Encoding

HEADER = 0x2B0
TRACKS = 164
MEDIA = {"2D": 0x00, "2DD": 0x10, "2HD": 0x20}
FM_DENSITY, MFM_DENSITY = 0x40, 0x00
DELETED = 0x10
STATUS_OK, STATUS_DATA_CRC = 0x00, 0xB0
_SECTOR = struct.Struct("<4BHBBB5xH")


@dataclass(frozen=True)
class D88Sector:
    c: int
    h: int
    r: int
    n: int
    count: int  # sectors in its track, as the header says
    density: int
    deleted: bool
    status: int
    data: bytes


@dataclass(frozen=True)
class D88Image:
    name: str
    write_protected: bool
    media: int
    size: int
    tracks: dict[int, list[D88Sector]]  # track index (cylinder x 2 + head) -> sectors


def media_type(layout: Layout) -> str:
    """2HD from a high data rate (500 kbit/s and up), else 2DD for more than 42
    cylinders, else 2D."""
    rates = sorted(t.data_rate_kbps for t in layout.tracks if t.in_image and t.data_rate_kbps)
    rate = rates[len(rates) // 2] if rates else 0.0
    if rate >= 400:
        return "2HD"
    return "2DD" if layout.cylinders > 42 else "2D"


def d88_bytes(layout: Layout, name: str = "", media: str = "",
              write_protected: bool = False) -> bytes:
    if layout.heads > 2 or layout.cylinders * 2 > TRACKS:
        raise BadInput("flux.d88_too_many_tracks", cylinders=layout.cylinders,
                       heads=layout.heads)
    by_track: dict[int, list] = {}
    for s in layout.slots:
        if s.found:
            by_track.setdefault(s.cylinder * 2 + s.head, []).append(s)
    offsets = [0] * TRACKS
    body = bytearray()
    for index in range(TRACKS):
        sectors = sorted(by_track.get(index, []), key=lambda s: (s.offset_us, s.id.r))
        if not sectors:
            continue
        offsets[index] = HEADER + len(body)
        for s in sectors:
            data = s.data if s.data is not None else bytes(s.size)
            body += _SECTOR.pack(s.id.c & 0xFF, s.id.h & 0xFF, s.id.r & 0xFF, s.id.n & 0xFF,
                                 len(sectors),
                                 FM_DENSITY if s.encoding is Encoding.FM else MFM_DENSITY,
                                 DELETED if s.deleted else 0,
                                 STATUS_OK if s.data is not None else STATUS_DATA_CRC,
                                 len(data))
            body += data
    head = bytearray(HEADER)
    raw_name = name.encode("ascii", "replace")[:16]
    head[0:len(raw_name)] = raw_name
    head[0x1A] = 0x10 if write_protected else 0x00
    head[0x1B] = MEDIA[media or media_type(layout)]
    struct.pack_into("<I", head, 0x1C, HEADER + len(body))
    struct.pack_into(f"<{TRACKS}I", head, 0x20, *offsets)
    return bytes(head + body)


def write_d88(layout: Layout, path: Path, name: str = "", media: str = "") -> None:
    write_atomic(path, d88_bytes(layout, name, media))


def read_d88(data: bytes) -> D88Image:
    """A D88 image's header and sectors (ValueError when it is not one)."""
    if len(data) < HEADER:
        raise ValueError("shorter than a D88 header")
    size = struct.unpack_from("<I", data, 0x1C)[0]
    if size != len(data):
        raise ValueError(f"header says {size} bytes, the file has {len(data)}")
    offsets = struct.unpack_from(f"<{TRACKS}I", data, 0x20)
    tracks: dict[int, list[D88Sector]] = {}
    for index, off in enumerate(offsets):
        if not off:
            continue
        sectors: list[D88Sector] = []
        pos, count = off, 1
        while len(sectors) < count:
            if pos + 16 > len(data):
                raise ValueError(f"track {index}: sector header past the end")
            c, h, r, n, count, density, deleted, status, length = \
                _SECTOR.unpack_from(data, pos)
            if pos + 16 + length > len(data):
                raise ValueError(f"track {index}: sector data past the end")
            sectors.append(D88Sector(c, h, r, n, count, density, deleted == DELETED, status,
                                     data[pos + 16:pos + 16 + length]))
            pos += 16 + length
        tracks[index] = sectors
    name = data[:17].split(b"\0", 1)[0].decode("ascii", "replace")
    return D88Image(name, data[0x1A] == 0x10, data[0x1B], size, tracks)
