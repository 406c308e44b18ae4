"""Flux captures and files built byte by byte for the format tests: synthetic captures for
round trips, and tiny SCP images and KryoFlux streams assembled with struct straight from
the format descriptions (so the readers are not only checked against their own writers)."""

from __future__ import annotations

import struct

import numpy as np

from workbench.flux.model import FluxCapture, Revolution, TrackFlux


def synthetic(seed: int = 1, cylinders: int = 2, revs: int = 3, n: int = 400,
              hz: float = 40e6) -> FluxCapture:
    """MFM-like flux with jitter, some intervals past 16 bits, random tails, and on one
    track a revolution without any transition (an erased stretch the length of a turn)."""
    rng = np.random.default_rng(seed)
    tracks = {}
    for cyl in range(cylinders):
        for head in (0, 1):
            turns = []
            for r in range(revs):
                ticks = rng.choice([2, 3, 4], n) * hz / 500_000 + rng.normal(0, hz * 4e-8, n)
                values = np.maximum(np.round(ticks), 10).astype(np.int64)
                if (cyl + head + r) % 2:
                    values[rng.integers(0, n, 3)] = rng.integers(65_536, 400_000, 3)
                    values[7] = 2 * 65_536  # a multiple of 0x10000: all-zero cells in SCP
                    values[8] = 65_535
                turns.append(Revolution(values.astype(np.uint32), tail=int(rng.integers(0, 90))))
            if cyl == 1 and head == 0:
                turns[1] = Revolution(np.zeros(0, np.uint32), tail=int(hz * 0.2))
            tracks[(cyl, head)] = TrackFlux(cyl, head, hz, tuple(turns))
    return FluxCapture(tracks, "scp")


def scp_image(tracks: dict[int, list[tuple[int, list[int]]]], *, nr_revs: int,
              heads: int = 0, flags: int = 0x01, width: int = 0, resolution: int = 0,
              good_checksum: bool = True) -> bytes:
    """An SCP image from the specification: tracks maps a track-table entry to its
    revolutions, each (index time, 16-bit cell values as stored, 0 = +65536)."""
    table = [0] * 168
    body = bytearray()
    for entry, revs in sorted(tracks.items()):
        table[entry] = 0x2B0 + len(body)
        header = bytearray(b"TRK" + bytes([entry]))
        at = 4 + 12 * nr_revs
        cells = bytearray()
        for index_time, words in revs:
            header += struct.pack("<3I", index_time, len(words), at + len(cells))
            cells += struct.pack(f">{len(words)}H", *words)
        header += bytes(12 * (nr_revs - len(revs)))
        body += header + cells
    rest = struct.pack("<168I", *table) + bytes(body)
    checksum = sum(rest) & 0xFFFFFFFF if good_checksum else 0xDEADBEEF
    head = struct.pack("<3s9BI", b"SCP", 0x24, 0x80, nr_revs, min(tracks), max(tracks),
                       flags, width, heads, resolution, checksum)
    return head + rest


def oob(kind: int, payload: bytes) -> bytes:
    return struct.pack("<BBH", 0x0D, kind, len(payload)) + payload


def kryoflux_stream(clock: bool = True) -> bytes:
    """A stream with every block type, and the values a reader must find in it:
    see KF_EXPECTED (clock=False: no sck= in KFInfo, the default clock applies)."""
    clocks = b", sck=24000000.0, ick=3000000.0" if clock else b""
    return b"".join([
        oob(4, b"host_date=2026.11.26, host_time=04:00:00\0"),
        oob(4, b"name=KryoFlux DiskSystem, version=3.00s" + clocks + b"\0"),
        oob(1, struct.pack("<2I", 0, 0)),  # StreamInfo at stream position 0
        b"\x50",  # pos 0: Flux1 80, before the first pulse (not a whole revolution)
        oob(2, struct.pack("<3I", 1, 30, 1000)),  # pulse 30 ticks into the flux at pos 1
        b"\x01\x23",  # pos 1: Flux2 0x123 = 291
        b"\x08",  # pos 3: Nop1
        b"\x0c\x0d\x0e",  # pos 4: Flux3 0x0D0E = 3342 (a 0x0D inside: data, not OOB)
        b"\x09\xaa",  # pos 7: Nop2
        b"\x0b\x20",  # pos 9, 10: Ovl16, Flux1 0x20: 65536 + 32
        b"\x0a\x01\x02",  # pos 11: Nop3
        oob(1, struct.pack("<2I", 14, 5)),  # StreamInfo: 14 stream bytes so far
        b"\xff",  # pos 14: Flux1 255
        b"\x0b",  # pos 15: Ovl16 before the pulse (the counter wrapped once)
        oob(2, struct.pack("<3I", 16, 100, 9000)),  # pulse 65536 + 100 after the 255
        b"\x0b\x00\x05",  # pos 16-18: Ovl16, Flux2 5: this flux is 2*65536 + 5 = 131077
        b"\x40",  # pos 19: Flux1 64
        oob(2, struct.pack("<3I", 20, 7, 17000)),  # pulse 7 ticks after the 64
        b"\x30",  # pos 20: Flux1 48, after the last pulse (dropped)
        oob(3, struct.pack("<2I", 21, 0)),  # StreamEnd: 21 stream bytes, result OK
        bytes([0x0D, 0x0D, 0x0D, 0x0D]),  # EOF
    ])


# Revolution 0: the 291 began 30 ticks before its pulse; revolution 1: the 131077 began
# 65636 ticks before its pulse.
KF_EXPECTED = [([291 - 30, 3342, 65568, 255], 65536 + 100), ([131077 - 65636, 64], 7)]


def hfe_image(side0: dict[int, int], per_side: int = 300) -> bytes:
    """An HFE v1 image from the HxC layout: 1 cylinder, 2 sides, 250 kbit/s, the track
    list in block 1, the track from block 2; side 0 gets the given bytes (by index)."""
    header = struct.pack("<8s4B2H2BH", b"HXCPICFE", 0, 1, 2, 0, 250, 300, 0, 0, 1)
    image = bytearray(header.ljust(512, b"\xff"))
    image += struct.pack("<2H", 2, 2 * per_side).ljust(512, b"\xff")
    blocks = (per_side + 255) // 256
    track = bytearray(512 * blocks)
    for k, value in side0.items():  # side 0: the first half of each 512-byte block
        track[(k // 256) * 512 + k % 256] = value
    return bytes(image + track)
