"""HxC HFE images (version 1, "HXCPICFE"), read as flux: one revolution per track.

HFE is not flux but the cell stream a floppy emulator replays: per track one turn of
cells at twice the data bit rate, a 1 where a transition falls. Layout (little-endian):
  0x000 "HXCPICFE", revision, cylinders, sides, encoding, bit rate (kbit/s), rpm,
        interface mode, unused, track-list block (in 512-byte blocks)
  list  per cylinder: first block (u16), bytes of both sides (u16)
  track 512-byte blocks, the first 256 bytes side 0, the next 256 side 1; the bits of
        each byte least significant first.
A tick of the capture is one cell, so the intervals are exact cell counts.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from workbench.errors import BadInput
from workbench.flux.bounds import checked_revolution, read_bytes, track_label
from workbench.flux.model import FluxCapture, Revolution, TrackFlux

MAGIC = b"HXCPICFE"
MAGIC_V3 = b"HXCHFEV3"
HEADER = struct.Struct("<8s4B2H2BH")


def read_hfe(path: Path | str) -> FluxCapture:
    path = Path(path)
    return parse_hfe(read_bytes(path), path)


def parse_hfe(data: bytes, path: Path) -> FluxCapture:
    size = len(data)
    if data[:8] == MAGIC_V3:
        raise BadInput("flux_formats.hfe.v3", path=str(path))
    if size < HEADER.size or data[:8] != MAGIC:
        raise BadInput("flux_formats.hfe.bad_header", path=str(path), cylinders="?",
                       sides="?", bitrate="?")
    _, _, cylinders, sides, _, bitrate, _, _, _, list_block = HEADER.unpack_from(data)
    if not (cylinders > 0 and 0 < sides < 3 and 50 <= bitrate <= 2000):
        raise BadInput("flux_formats.hfe.bad_header", path=str(path), cylinders=cylinders,
                       sides=sides, bitrate=bitrate)
    at = list_block * 512
    if at + 4 * cylinders > size:
        raise BadInput("flux_formats.hfe.truncated", path=str(path), track="-",
                       needed=at + 4 * cylinders, size=size)
    buf = np.frombuffer(data, np.uint8)
    sample_hz = 2000.0 * bitrate  # two cells per data bit
    tracks = {}
    for cyl in range(cylinders):
        block, length = struct.unpack_from("<2H", data, at + 4 * cyl)
        per_side = length // 2
        for head in range(sides):
            # byte k of the side is in block k // 256, at k % 256 past the side's half
            k = np.arange(per_side, dtype=np.int64)
            where = block * 512 + head * 256 + (k // 256) * 512 + k % 256
            if per_side and int(where[-1]) >= size:
                raise BadInput("flux_formats.hfe.truncated", path=str(path),
                               track=track_label(cyl, head), needed=int(where[-1]) + 1,
                               size=size)
            bits = np.unpackbits(buf[where], bitorder="little")
            ones = np.flatnonzero(bits).astype(np.int64)
            if ones.size:
                values = np.diff(ones, prepend=-1)  # the first cell ends one cell in
                tail = int(bits.size - 1 - ones[-1])
                rev = checked_revolution(path, track_label(cyl, head), 0, values, tail,
                                         sample_hz)
            else:
                rev = Revolution(np.zeros(0, np.uint32), tail=int(bits.size))
            tracks[(cyl, head)] = TrackFlux(cyl, head, sample_hz, (rev,))
    notes = ["hfe: a cell stream, one revolution per track (not a flux capture)"]
    return FluxCapture(tracks=tracks, source_format="hfe", notes=notes)
