"""Synthetic flux: IBM FM and MFM tracks built from sector data, with the faults real disks
have (weak sectors, damaged ID fields, scratches, foreign encodings, noise).

Reproducible: every random choice comes from a generator seeded with (seed, cylinder,
head). Timing is modelled on the cell grid (half a data bit: FM clock/data positions, MFM
clock/data positions) then turned into transition times with a constant speed error, a
slow sinusoidal speed drift and gaussian jitter per transition, cut into revolutions at
index pulses that wobble a little. Consecutive revolutions are one continuous stream, as a
drive reads them.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from workbench.flux.model import Encoding, FluxCapture, Revolution, SectorId, TrackFlux

MFM_SYNC = 0x4489  # A1 with a missing clock
MFM_INDEX_SYNC = 0x5224  # C2 with a missing clock
FM_MARK_CLOCK = 0xC7  # clock pattern of the ID and data address marks
FM_INDEX_CLOCK = 0xD7



@dataclass(frozen=True)
class _Gaps:
    """Standard gaps (bytes), as the floppy controllers' format commands write them."""

    gap4a: int
    sync: int
    gap1: int
    gap2: int
    fill: int
    gap3: tuple[int, ...]


_MFM = _Gaps(80, 12, 50, 22, 0x4E, (32, 54, 84, 116, 255, 255, 255, 255, 255))
_FM = _Gaps(40, 6, 26, 11, 0xFF, (27, 42, 58, 138, 255, 255, 255, 255, 255))

TrackKind = str  # "ibm", "noise", "blank", "gcr", "amiga"


@dataclass(frozen=True)
class SectorSpec:
    """One sector to write, and what goes wrong with it on which revolution."""

    id: SectorId
    data: bytes  # 128 << n bytes (shorter is zero-padded, longer cut)
    deleted: bool = False  # F8 deleted-data address mark instead of FB
    weak: tuple[int, ...] = ()  # revolutions on which the data reads with a bad CRC
    no_id: tuple[int, ...] = ()  # revolutions on which the ID field is damaged
    variants: tuple[tuple[int, bytes], ...] = ()  # (revolution, other data, correct CRC)
    no_data: bool = False  # an ID field without a data field
    encoding: Encoding | None = None  # another than the track's: FM and MFM on one track


@dataclass(frozen=True)
class TrackSpec:
    """One physical track as written."""

    cylinder: int
    head: int
    sectors: tuple[SectorSpec, ...] = ()  # in physical order
    encoding: Encoding = Encoding.MFM
    rate_kbps: float = 500.0  # data rate as the drive sees it (FM and MFM alike)
    rpm: float = 300.0
    gap3: int | None = None  # None: the standard gap, shrunk to fit
    index_mark: bool = True
    scratch: tuple[float, float] | None = None  # (start, length) µs after the index: noise
    kind: TrackKind = "ibm"


@dataclass(frozen=True)
class Timing:
    """How the flux is read back."""

    revolutions: int = 3
    jitter_ns: float = 0.0  # gaussian sigma on each transition's time
    drift: float = 0.0  # amplitude of a slow sinusoidal speed change (0.03 = +-3 %)
    drift_period_revs: float = 1.0
    speed: float = 1.0  # constant speed error: 1.05 makes every interval 5 % longer
    index_offset_us: float = 0.0  # where the write began after the index (wraps round)
    index_jitter_us: float = 0.0  # per-revolution wobble of the index pulse
    sample_hz: float = 40e6  # SCP / Greaseweazle ticks


def crc16(data: bytes) -> int:
    """CRC-CCITT as IBM floppy controllers compute it (init 0xFFFF)."""
    return binascii.crc_hqx(data, 0xFFFF)


def _word_cells(word: int) -> NDArray[np.uint8]:
    return np.unpackbits(np.array([word >> 8, word & 0xFF], dtype=np.uint8))


def _interleave(clock: NDArray[np.uint8], data: NDArray[np.uint8]) -> NDArray[np.uint8]:
    cells = np.empty(clock.size * 2, dtype=np.uint8)
    cells[0::2] = clock
    cells[1::2] = data
    return cells


class _Writer:
    """Bytes of one track, with the positions of bytes written with a special clock."""

    def __init__(self, fm: bool) -> None:
        self.fm = fm
        self.buf = bytearray()
        self.special: list[tuple[int, int]] = []  # (byte position, clock byte or sync word)

    def put(self, data: bytes) -> None:
        self.buf += data

    def mark(self, data: bytes, special: int) -> None:
        for b in data:
            self.special.append((len(self.buf), special))
            self.buf.append(b)

    def cells(self) -> NDArray[np.uint8]:
        bits = np.unpackbits(np.frombuffer(bytes(self.buf), dtype=np.uint8))
        if self.fm:
            clock = np.ones_like(bits)
            cells = _interleave(clock, bits)
            for pos, clk in self.special:
                cells[16 * pos:16 * pos + 16:2] = np.unpackbits(np.array([clk], np.uint8))
            return cells
        prev = np.concatenate(([0], bits[:-1])).astype(np.uint8)
        clock = ((prev | bits) ^ 1).astype(np.uint8)
        cells = _interleave(clock, bits)
        for pos, word in self.special:
            cells[16 * pos:16 * pos + 16] = _word_cells(word)
        return cells


def _field(w: _Writer, mark: int, body: bytes, crc_bad: bool = False,
           weak: bool = False) -> None:
    """Sync, address mark, body and CRC (the CRC covers the sync bytes in MFM). weak: the
    body is damaged after its CRC was computed, as a fading sector reads."""
    w.put(bytes((_FM if w.fm else _MFM).sync))
    if w.fm:
        head = bytes([mark])
        w.mark(head, FM_MARK_CLOCK)
    else:
        head = b"\xa1\xa1\xa1" + bytes([mark])
        w.mark(head[:3], MFM_SYNC)
        w.put(head[3:])
    crc = crc16(head + body)
    if crc_bad:
        crc ^= 0x5A5A
    if weak:
        mid = len(body) // 2
        body = body[:mid] + bytes(b ^ 0x24 for b in body[mid:mid + 3]) + body[mid + 3:]
    w.put(body + crc.to_bytes(2, "big"))


def _cells_per_rev(spec: TrackSpec) -> int:
    """Cells (half data bits) in one revolution."""
    return round(spec.rate_kbps * 2000.0 * 60.0 / spec.rpm)


def _gap2(spec: TrackSpec) -> int:
    if spec.encoding is Encoding.FM:
        return _FM.gap2
    return 41 if spec.rate_kbps >= 1000 else _MFM.gap2  # ED controllers write a longer GAP2


def _gap3(spec: TrackSpec, length_bytes: int) -> int:
    fm = spec.encoding is Encoding.FM
    g = _FM if fm else _MFM
    mark = 1 if fm else 4
    fixed = g.gap4a + ((g.sync + mark + g.gap1) if spec.index_mark else 0)
    for s in spec.sectors:
        fixed += g.sync + mark + 6 + _gap2(spec)
        if not s.no_data:
            fixed += g.sync + mark + s.id.size + 2
    nsec = max(1, len(spec.sectors))
    if spec.gap3 is not None:
        gap3 = spec.gap3
    else:
        n0 = spec.sectors[0].id.n if spec.sectors else 2
        space = length_bytes - fixed - length_bytes // 100  # keep ~1 % before the index
        gap3 = max(1, min(g.gap3[min(n0, 8)], space // nsec))
    if fixed + gap3 * len(spec.sectors) > length_bytes:
        raise ValueError(f"track {spec.cylinder}.{spec.head}: {fixed + gap3 * nsec} bytes "
                         f"do not fit in {length_bytes}")
    return gap3


def _mixed(spec: TrackSpec) -> bool:
    return any(s.encoding not in (None, spec.encoding) for s in spec.sectors)


def _sector_fm(spec: TrackSpec, s: SectorSpec) -> bool:
    return (s.encoding or spec.encoding) is Encoding.FM


def _data(s: SectorSpec, rev: int) -> bytes:
    return dict(s.variants).get(rev, s.data)[:s.id.size].ljust(s.id.size, b"\0")


def _fm_as_mfm(cells: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """FM cells on the MFM grid of the same controller: each FM cell is two MFM cells."""
    out = np.zeros(cells.size * 2, np.uint8)
    out[0::2] = cells
    return out


def _mixed_cells(spec: TrackSpec, rev: int, length: int) -> NDArray[np.uint8]:
    """A track whose sectors are of both encodings, written by one controller switching
    mode between them (same clock: an FM cell is two MFM cells). `length` counts MFM
    cells; an FM byte takes the room of two MFM bytes. The index gap is in the track's
    encoding, each sector (ID, GAP2, data, GAP3) in its own."""
    weight = {True: 2, False: 1}
    track_fm = spec.encoding is Encoding.FM
    g0 = _FM if track_fm else _MFM
    fixed = weight[track_fm] * (g0.gap4a + ((g0.sync + (1 if track_fm else 4) + g0.gap1)
                                            if spec.index_mark else 0))
    for s in spec.sectors:
        fm = _sector_fm(spec, s)
        g, mark = (_FM, 1) if fm else (_MFM, 4)
        body = g.sync + mark + 6 + (g.gap2 if fm else _MFM.gap2)
        body += 0 if s.no_data else g.sync + mark + s.id.size + 2
        fixed += weight[fm] * body
    space = length // 16 - fixed - length // 1600
    share = max(1, space // max(1, len(spec.sectors)))
    parts: list[NDArray[np.uint8]] = []

    def put(fm: bool, w: _Writer) -> None:
        cells = w.cells()
        parts.append(_fm_as_mfm(cells) if fm else cells)

    w = _Writer(track_fm)
    w.put(bytes([g0.fill]) * g0.gap4a)
    if spec.index_mark:
        w.put(bytes(g0.sync))
        if track_fm:
            w.mark(b"\xfc", FM_INDEX_CLOCK)
        else:
            w.mark(b"\xc2\xc2\xc2", MFM_INDEX_SYNC)
            w.put(b"\xfc")
        w.put(bytes([g0.fill]) * g0.gap1)
    put(track_fm, w)
    for s in spec.sectors:
        fm = _sector_fm(spec, s)
        g = _FM if fm else _MFM
        gap3 = spec.gap3 if spec.gap3 is not None else max(
            1, min(g.gap3[min(s.id.n, 8)], share // weight[fm]))
        w = _Writer(fm)
        sid = s.id
        _field(w, 0xFE, bytes([sid.c & 255, sid.h & 255, sid.r & 255, sid.n & 255]),
               crc_bad=rev in s.no_id)
        w.put(bytes([g.fill]) * g.gap2)
        if not s.no_data:
            _field(w, 0xF8 if s.deleted else 0xFB, _data(s, rev), weak=rev in s.weak)
        w.put(bytes([g.fill]) * gap3)
        put(fm, w)
    room = length - sum(p.size for p in parts)
    if room > 0:  # the fill before the index, in the track's encoding
        w = _Writer(track_fm)
        w.put(bytes([g0.fill]) * (room // (16 * weight[track_fm])))
        put(track_fm, w)
    cells = np.concatenate(parts)
    if cells.size > length:
        raise ValueError(f"track {spec.cylinder}.{spec.head}: {cells.size // 16} bytes "
                         f"do not fit in {length // 16}")
    return np.concatenate((cells, np.zeros(length - cells.size, np.uint8)))


def _ibm_cells(spec: TrackSpec, rev: int, length: int) -> NDArray[np.uint8]:
    if _mixed(spec):
        return _mixed_cells(spec, rev, length)
    fm = spec.encoding is Encoding.FM
    g = _FM if fm else _MFM
    fill = bytes([g.fill])
    gap3 = _gap3(spec, length // 16)
    w = _Writer(fm)
    w.put(fill * g.gap4a)
    if spec.index_mark:
        w.put(bytes(g.sync))
        if fm:
            w.mark(b"\xfc", FM_INDEX_CLOCK)
        else:
            w.mark(b"\xc2\xc2\xc2", MFM_INDEX_SYNC)
            w.put(b"\xfc")
        w.put(fill * g.gap1)
    for s in spec.sectors:
        sid = s.id
        chrn = bytes([sid.c & 255, sid.h & 255, sid.r & 255, sid.n & 255])
        _field(w, 0xFE, chrn, crc_bad=rev in s.no_id)
        w.put(fill * _gap2(spec))
        if not s.no_data:
            data = dict(s.variants).get(rev, s.data)[:sid.size].ljust(sid.size, b"\0")
            _field(w, 0xF8 if s.deleted else 0xFB, data, weak=rev in s.weak)
        w.put(fill * gap3)
    w.put(fill * max(0, length // 16 - len(w.buf)))
    cells = w.cells()[:length]
    return np.concatenate((cells, np.zeros(length - cells.size, np.uint8)))


def _amiga_cells(length: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    """Amiga-style MFM: 0x4489 0x4489 syncs before each sector, no IBM address marks."""
    w = _Writer(False)
    while len(w.buf) * 16 + 1100 * 16 < length:
        w.put(b"\0\0")
        w.mark(b"\xa1\xa1", MFM_SYNC)
        w.put(rng.integers(0, 256, 540, dtype=np.uint8).tobytes())
    w.put(bytes(max(0, length // 16 - len(w.buf))))
    cells = w.cells()[:length]
    return np.concatenate((cells, np.zeros(length - cells.size, np.uint8)))


def _gcr_cells(length: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    """A GCR-like stream: transitions 2, 3 or 4 cells apart (4/6/8 µs at 250 kbps), with
    nothing an IBM controller would recognise."""
    gaps = rng.choice(np.array([2, 3, 4]), size=length // 2)
    pos = np.cumsum(gaps)
    cells = np.zeros(length, np.uint8)
    cells[pos[pos < length]] = 1
    return cells


def _rev_cells(spec: TrackSpec, rev: int, length: int,
               rng: np.random.Generator) -> NDArray[np.uint8]:
    if spec.kind == "ibm":
        return _ibm_cells(spec, rev, length)
    if spec.kind == "amiga":
        return _amiga_cells(length, rng)
    if spec.kind == "gcr":
        return _gcr_cells(length, rng)
    return np.zeros(length, np.uint8)  # noise and blank tracks get their flux later


def _noise_times(start: float, end: float, mean_s: float,
                 rng: np.random.Generator) -> NDArray[np.float64]:
    """Random transitions between start and end (s), intervals 0.3..1.7 x mean."""
    count = int((end - start) / (mean_s * 0.3)) + 2
    t = start + np.cumsum(rng.uniform(0.3 * mean_s, 1.7 * mean_s, count))
    return t[t < end]


def encode_track(spec: TrackSpec, timing: Timing = Timing(), seed: int = 0) -> TrackFlux:
    """The flux of one track, every revolution, as a drive would read it."""
    rng = np.random.default_rng([seed, spec.cylinder, spec.head])
    if _mixed(spec) and spec.encoding is Encoding.FM:  # the cells are the MFM grid's
        spec = replace(spec, rate_kbps=spec.rate_kbps * 2)
    revs = max(1, timing.revolutions)
    length = _cells_per_rev(spec)
    cell_s = 1.0 / (spec.rate_kbps * 2000.0) * timing.speed
    faulty = {r for s in spec.sectors for r in (*s.weak, *s.no_id, *(v[0] for v in s.variants))}
    base = _rev_cells(spec, -1, length, rng)
    shift = round(timing.index_offset_us * 1e-6 / cell_s) % length
    stream = np.concatenate([
        np.roll(_rev_cells(spec, r, length, rng) if r in faulty else base, shift)
        for r in [*range(revs), revs - 1]])  # one more turn so a late index still has flux
    k = np.flatnonzero(stream).astype(np.float64)
    period = length * max(timing.drift_period_revs, 1e-3)

    def clock(cells: NDArray[np.float64]) -> NDArray[np.float64]:
        # integral of a speed 1 + drift * sin(2 pi k / period) over the cells
        w = 2 * np.pi / period
        return cell_s * (cells - timing.drift / w * (np.cos(w * cells) - 1.0))

    t = clock(k)
    if timing.jitter_ns > 0:
        t = t + rng.normal(0.0, timing.jitter_ns * 1e-9, t.size)
    index = clock(np.arange(revs + 1, dtype=np.float64) * length)
    if timing.index_jitter_us > 0:
        index[1:] += rng.normal(0.0, timing.index_jitter_us * 1e-6, revs)
    mean = 5.0 * cell_s
    if spec.kind == "noise":
        t = _noise_times(0.0, float(index[-1]) + mean, mean, rng)
    elif spec.kind == "blank":
        t = np.zeros(0)
    if spec.scratch is not None:
        a, span = spec.scratch[0] * 1e-6, spec.scratch[1] * 1e-6
        for r in range(revs):
            lo, hi = index[r] + a, index[r] + a + span
            t = np.concatenate((t[(t < lo) | (t >= hi)], _noise_times(lo, hi, mean, rng)))
    ticks = np.sort(np.rint(t * timing.sample_hz).astype(np.int64))
    marks = np.rint(index * timing.sample_hz).astype(np.int64)
    out = []
    for r in range(revs):
        seg = ticks[np.searchsorted(ticks, marks[r]):np.searchsorted(ticks, marks[r + 1])]
        last = int(seg[-1]) if seg.size else int(marks[r])
        intervals = np.diff(np.concatenate(([marks[r]], seg))).astype(np.uint32)
        out.append(Revolution(intervals, int(marks[r + 1]) - last))
    return TrackFlux(spec.cylinder, spec.head, timing.sample_hz, tuple(out))


def encode_capture(specs: list[TrackSpec], timing: Timing = Timing(),
                   seed: int = 0) -> FluxCapture:
    """A whole synthetic capture."""
    tracks = {(s.cylinder, s.head): encode_track(s, timing, seed) for s in specs}
    return FluxCapture(tracks, "synthetic")


@dataclass(frozen=True)
class DiskFormat:
    """A uniform disk layout (track 0 side 0 may differ: N88-BASIC)."""

    cylinders: int
    heads: int
    sectors: int
    n: int
    rate_kbps: float
    rpm: float
    encoding: Encoding = Encoding.MFM
    gap3: int | None = None
    interleave: int = 1
    first_id: int = 1
    track0: DiskFormat | None = None  # the layout of cylinder 0, head 0 when it differs

    def at(self, cylinder: int, head: int) -> DiskFormat:
        return self.track0 if (cylinder, head) == (0, 0) and self.track0 else self

    @property
    def track_bytes(self) -> int:
        return self.sectors * (128 << self.n)

    def image_size(self) -> int:
        return sum(self.at(c, h).track_bytes
                   for c in range(self.cylinders) for h in range(self.heads))


FORMATS: dict[str, DiskFormat] = {
    "ibm.360": DiskFormat(40, 2, 9, 2, 250, 300),  # 5.25" 2D
    "ibm.720": DiskFormat(80, 2, 9, 2, 250, 300),  # 3.5" 2DD
    "ibm.1200": DiskFormat(80, 2, 15, 2, 500, 360),  # 5.25" 2HD
    "ibm.1440": DiskFormat(80, 2, 18, 2, 500, 300),  # 3.5" 2HD
    "ibm.dmf": DiskFormat(80, 2, 21, 2, 500, 300, gap3=12, interleave=2),  # 1680 KB
    "ibm.2880": DiskFormat(80, 2, 36, 2, 1000, 300),  # 3.5" 2ED
    "pc98.2hd": DiskFormat(77, 2, 8, 3, 500, 360, gap3=116),  # 1232 KB
    "pc98.2dd": DiskFormat(80, 2, 8, 2, 250, 300),  # 640 KB
    "pc98.n88": DiskFormat(77, 2, 26, 1, 500, 360, gap3=51,  # N88-BASIC: FM track 0
                           track0=DiskFormat(1, 1, 26, 0, 250, 360, Encoding.FM, gap3=27)),
    "x68k.2hd": DiskFormat(77, 2, 8, 3, 500, 360, gap3=116),
}


def sector_order(nsec: int, interleave: int) -> list[int]:
    """Logical sector indexes in physical order for an interleave."""
    order = [-1] * nsec
    pos = 0
    for i in range(nsec):
        while order[pos] != -1:
            pos = (pos + 1) % nsec
        order[pos] = i
        pos = (pos + max(1, interleave)) % nsec
    return order


def image_tracks(image: bytes, fmt: DiskFormat) -> list[TrackSpec]:
    """TrackSpecs for a sector image laid out cylinder by cylinder, head by head, sectors in
    ID order (written in the format's interleave). A short image is zero-padded."""
    specs = []
    pos = 0
    for c in range(fmt.cylinders):
        for h in range(fmt.heads):
            f = fmt.at(c, h)
            size = 128 << f.n
            sectors = []
            for i in sector_order(f.sectors, f.interleave):
                start = pos + i * size
                sectors.append(SectorSpec(SectorId(c, h, f.first_id + i, f.n),
                                          image[start:start + size].ljust(size, b"\0")))
            pos += f.track_bytes
            specs.append(TrackSpec(c, h, tuple(sectors), f.encoding, f.rate_kbps, f.rpm,
                                   f.gap3))
    return specs


def with_fault(specs: list[TrackSpec], cylinder: int, head: int, r: int,
               **changes: Any) -> list[TrackSpec]:
    """specs with one sector changed: weak=(0, 2), no_id=(1,), variants=((1, data),),
    deleted=True, no_data=True."""
    out = []
    for t in specs:
        if (t.cylinder, t.head) == (cylinder, head):
            secs = tuple(replace(s, **changes) if s.id.r == r else s
                         for s in t.sectors)
            t = replace(t, sectors=secs)
        out.append(t)
    return out
