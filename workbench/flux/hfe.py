"""HxC HFE images (version 1, "HXCPICFE"), read as flux: one revolution per track.

HFE is not flux but the cell stream a floppy emulator replays: per track one turn of
cells at twice the data bit rate, a 1 where a transition falls. Layout (little-endian):
  0x000 "HXCPICFE", revision, cylinders, sides, encoding, bit rate (kbit/s), rpm,
        interface mode, unused, track-list block (in 512-byte blocks)
  list  per cylinder: first block (u16), bytes of both sides (u16)
  track 512-byte blocks, the first 256 bytes side 0, the next 256 side 1; the bits of
        each byte least significant first.
A tick of the capture is one cell, so the intervals are exact cell counts. The writer
(write_hfe) samples one revolution of each track on that cell grid.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from workbench.atomic import write_atomic
from workbench.errors import BadInput
from workbench.flux.bounds import checked_revolution, read_bytes, track_label
from workbench.flux.model import FluxCapture, Revolution, TrackDamage, TrackFlux

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
    damaged: dict[tuple[int, int], BadInput] = {}
    for cyl in range(cylinders):
        block, length = struct.unpack_from("<2H", data, at + 4 * cyl)
        per_side = length // 2
        for head in range(sides):
            # byte k of the side is in block k // 256, at k % 256 past the side's half
            k = np.arange(per_side, dtype=np.int64)
            where = block * 512 + head * 256 + (k // 256) * 512 + k % 256
            if per_side and int(where[-1]) >= size:  # this track only
                damaged[(cyl, head)] = BadInput(
                    "flux_formats.hfe.truncated", path=str(path),
                    track=track_label(cyl, head), needed=int(where[-1]) + 1, size=size)
                continue
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
    if not tracks and damaged:
        raise next(iter(damaged.values()))
    notes = ["hfe: a cell stream, one revolution per track (not a flux capture)"]
    notes += [f"hfe: track {track_label(*key)} damaged, not read: {exc.message('en')}"
              for key, exc in damaged.items()]
    return FluxCapture(tracks=tracks, source_format="hfe", notes=notes,
                       damaged={k: TrackDamage.of(e) for k, e in damaged.items()})


ENCODING_ISOIBM_MFM = 0x00
INTERFACE = {250: 0x00, 300: 0x00, 500: 0x01, 1000: 0x08}  # IBMPC_DD / _HD / _ED
_FILL = 0x88  # what HxC and Greaseweazle put in unused cells (a flux pattern, not zeros)


def hfe_cells(track: TrackFlux, bitrate_kbps: int, revolution: int = 0) -> NDArray[np.uint8]:
    """One revolution of a track as HFE cells (two a data bit), as an emulator replays
    them: the flux clocked by the software PLL at the HFE cell, so speed drift and
    jitter become whole cells (sampling the times on a fixed grid would slip a cell
    wherever the disk turned faster or slower than nominal)."""
    from workbench.flux.pll import Clock, recover
    rev = track.revolutions[min(revolution, len(track.revolutions) - 1)]
    cell_us = 500.0 / bitrate_kbps
    nominal = max(8, round(rev.ticks / track.sample_hz * 1e6 / cell_us))
    if not rev.intervals.size:
        return np.zeros(nominal, np.uint8)
    x = rev.intervals.astype(np.float64) * (1e6 / track.sample_hz)
    cells = recover(x, Clock(cell_us, False, 1.0))
    # the PLL puts a first transition at least one cell in; one at the index itself
    # (time 0) has no cell of its own in HFE: it is dropped, and nothing moves
    index = cells.index - (1 if round(x[0] / cell_us) < 1 else 0)
    tail = round(rev.tail / track.sample_hz * 1e6 / max(cells.cell_us, 1e-9))
    length = min(int(index[-1]) + max(tail, 0), 4 * nominal)
    out = np.zeros(max(length, 8), np.uint8)
    out[index[(index >= 1) & (index <= out.size)] - 1] = 1  # cell k: the transition k+1
    return out


def hfe_bytes(capture: FluxCapture, bitrate_kbps: int, rpm: int = 300,
              revolution: int = 0) -> bytes:
    """An HFE v1 image of the capture (one revolution a track: HFE holds no more), as
    HxC and Greaseweazle lay it out: header, track list in block 1, the tracks from
    block 2, each 512-byte block 256 bytes of side 0 then 256 of side 1."""
    if not capture.tracks:
        raise ValueError("a capture without tracks")
    cylinders = max(c for c, _ in capture.tracks) + 1
    if cylinders > 128 or not 50 <= bitrate_kbps <= 2000:
        raise ValueError(f"HFE v1 holds up to 128 cylinders at 50-2000 kbit/s, not "
                         f"{cylinders} at {bitrate_kbps}")
    sides = 2 if any(h == 1 for _, h in capture.tracks) else 1
    table = bytearray()
    body = bytearray()
    for cyl in range(cylinders):
        data = []
        for head in range(sides):
            track = capture.tracks.get((cyl, head))
            cells = hfe_cells(track, bitrate_kbps, revolution) if track and \
                track.revolutions else np.zeros(0, np.uint8)
            data.append(np.packbits(cells, bitorder="little").tobytes())
        per_side = max(len(d) for d in data) or 100 * bitrate_kbps  # an empty cylinder
        blocks = (per_side + 255) // 256
        table += struct.pack("<2H", len(body) // 512 + 2, 2 * per_side)
        for b in range(blocks):
            for side in range(2):
                chunk = data[side][b * 256:(b + 1) * 256] if side < sides else b""
                body += chunk + bytes([_FILL]) * (256 - len(chunk))
    header = HEADER.pack(MAGIC, 0, cylinders, sides, ENCODING_ISOIBM_MFM, bitrate_kbps,
                         rpm, INTERFACE.get(bitrate_kbps, 0x07), 1, 1)
    header += bytes([0xFF, 0xFF])  # write allowed; single step
    return header.ljust(512, b"\xff") + bytes(table).ljust(512, b"\xff") + bytes(body)


def write_hfe(capture: FluxCapture, path: Path | str, bitrate_kbps: int, rpm: int = 300,
              revolution: int = 0) -> None:
    """Write the capture as an HFE v1 image (atomically)."""
    write_atomic(Path(path), hfe_bytes(capture, bitrate_kbps, rpm, revolution))
